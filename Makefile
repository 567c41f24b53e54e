# The two set-up commands of the README, on a fresh Debian machine as root:
#   make demo   build the image on the best base available and show it at work
#   make test   lint, then every test, with a Docker engine it starts if needed
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test demo lint engine build clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

engine:
	sh image/ensure-docker.sh

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint engine
	$(BIN)/python -m pytest

demo: $(BIN)/.installed engine
	$(BIN)/python image/demo.py

build: $(BIN)/.installed engine
	$(BIN)/python image/build.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
