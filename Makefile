# The commands of the README and CONTRIBUTING.md, on a fresh Debian machine as root:
#   make image  build one target of docker-bake.hcl (TARGET, default py313-trixie), tagged local/python-reaper:TAG-ARCH
#   make demo   build the image on the best base available and show it at work
#   make check  lint (ruff, hadolint, shellcheck, actionlint, zizmor), then every test that needs
#               no Docker (the tests marked `engine` by the fixtures they use are left out)
#   make test   lint, then every test, with a Docker engine it starts if needed
#   make bench  the reaper against tini, dumb-init and catatonit, side by side
PYTHON ?= python3
TARGET ?= py313-trixie
VENV := .venv
BIN := $(VENV)/bin
# Debian package:command pairs the host needs: the engine, the offline base
# builder, qemu for the arm64 image under emulation, the peers and timer
# of the benchmarks (smoke-run in the tests), Podman (rootless too), the
# registry and the image tools of the tests of other engines and the release
# path, and compose for the recipe of docs/platforms.md.
HOST := docker.io:dockerd debootstrap:debootstrap qemu-user-static:qemu-aarch64-static binfmt-support:update-binfmts \
	tini:tini dumb-init:dumb-init catatonit:catatonit hyperfine:hyperfine \
	podman:podman runc:runc uidmap:newuidmap slirp4netns:slirp4netns fuse-overlayfs:fuse-overlayfs \
	skopeo:skopeo buildah:buildah docker-registry:docker-registry docker-compose:docker-compose

.PHONY: check test demo bench lint engine image build clean

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
	$(BIN)/hadolint Dockerfile examples/*/Dockerfile tests/helpers/shell-less.Dockerfile
	$(BIN)/shellcheck image/ensure-host.sh image/ensure-podman.sh image/keepalive/tail .ci/run examples/shell-wrapper/run.sh
	$(BIN)/actionlint
	$(BIN)/zizmor --offline --quiet .github/workflows

# A file's tests in one process (--dist loadfile): some look for their own processes host-wide.
# The engine-free tier on every core (a file's tests in one process: some look for their own
# processes host-wide); the engine tier in one process, since its tests share one engine.
ENGINE_FREE := $(BIN)/python -m pytest -n auto --dist loadfile -m "not engine"

check: lint
	$(ENGINE_FREE)

test: lint engine
	$(ENGINE_FREE)
	$(BIN)/python -m pytest -m engine

demo: $(BIN)/.installed engine
	$(BIN)/python image/demo.py

bench: $(BIN)/.installed engine
	$(BIN)/python bench/run.py --readme docs/benchmarks.md

image: $(BIN)/.installed engine
	$(BIN)/python image/build.py $(TARGET)

build: $(BIN)/.installed engine
	$(BIN)/python image/build.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
