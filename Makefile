# The two commands of the README's quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast bench clean assets

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip >/dev/null
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

demo: venv
	@mkdir -p demo_out
	$(BIN)/suite backbones
	$(BIN)/suite features assets/photos/astronaut.jpg --backbone vgg16 --layer block1_conv2 -o demo_out/features_block1_conv2.png --overwrite
	$(BIN)/suite features assets/photos/astronaut.jpg --backbone vgg16 --layer block4_conv3 -o demo_out/features_block4_conv3.png --overwrite
	@echo "Demo outputs are in demo_out/"

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) demo_out .pytest_cache
