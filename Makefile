# The set-up commands of the README, on a fresh Debian machine as root:
#   make demo   build the image on the best base available and show it at work
#   make check  lint (ruff, hadolint, shellcheck, actionlint, zizmor), then every test that needs
#               no Docker (the tests marked `engine` by the fixtures they use are left out)
#   make test   lint, then every test, with a Docker engine it starts if needed
#   make bench  the reaper against tini, dumb-init and catatonit, side by side
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian package:command pairs the host needs: the engine, the offline base
# builder, qemu for the arm64 image under emulation, compose for the README's
# recipe, and the peers and timer of the benchmarks (smoke-run in the tests).
HOST := docker.io:dockerd debootstrap:debootstrap qemu-user-static:qemu-aarch64-static binfmt-support:update-binfmts \
	docker-compose:docker-compose tini:tini dumb-init:dumb-init catatonit:catatonit hyperfine:hyperfine

.PHONY: check test demo bench lint engine build clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

engine:
	sh image/ensure-host.sh $(HOST)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile examples/*/Dockerfile
	$(BIN)/shellcheck image/ensure-host.sh image/keepalive/tail .ci/run examples/shell-wrapper/run.sh
	$(BIN)/actionlint
	$(BIN)/zizmor --offline --quiet .github/workflows

check: lint
	$(BIN)/python -m pytest -m "not engine"

test: lint engine
	$(BIN)/python -m pytest

demo: $(BIN)/.installed engine
	$(BIN)/python image/demo.py

bench: $(BIN)/.installed engine
	$(BIN)/python bench/run.py --readme README.md

build: $(BIN)/.installed engine
	$(BIN)/python image/build.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
