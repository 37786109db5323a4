# The two commands of the README's quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# pytest-xdist processes for `make test`, each taking whole test files (module fixtures built once); 0 = one process.
PYTEST_WORKERS ?= 2

.PHONY: venv demo lint test test-fast test-jax jax-extra browser bench clean assets

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip >/dev/null
	$(BIN)/python -m pip install -e ".[test,serve,beam]"
	touch $(STAMP)

demo: venv
	@mkdir -p demo_out
	$(BIN)/suite backbones
	$(BIN)/suite features assets/photos/astronaut.jpg --backbone vgg16 --layer block1_conv2 -o demo_out/features_block1_conv2.png --overwrite
	$(BIN)/suite features assets/photos/astronaut.jpg --backbone vgg16 --layer block4_conv3 -o demo_out/features_block4_conv3.png --overwrite
	$(BIN)/suite stylize assets/photos/chelsea.jpg --style assets/styles/mosaic.jpg --size 256 --compare \
		-o demo_out/stylized/chelsea_mosaic.png --overwrite
	$(BIN)/suite train --images assets/segdata/train/images --masks assets/segdata/train/masks --num-classes 5 \
		--time-budget 45 -o demo_out/train/model.keras --overwrite
	$(BIN)/suite stylize assets/photos --style assets/styles/mosaic.jpg --method fast -o demo_out/stylized_fast --overwrite
	$(BIN)/suite segment assets/photos assets/segdata/val/images --model assets/demo_unet.keras \
		-o demo_out/segment --overlay --overwrite
	$(BIN)/suite segment assets/photos --model person -o demo_out/person --overlay --overwrite
	$(BIN)/suite evaluate --model assets/demo_unet.keras --images assets/segdata/val/images \
		--masks assets/segdata/val/masks -o demo_out/evaluate/report.json --overwrite
	@echo "Demo outputs are in demo_out/: features grids, stylized/ (result, side-by-side, JSON sidecar),"
	@echo "stylized_fast/ (every photo at full size by the fast network), train/ (a U-Net trained for 45 s,"
	@echo "its logs and curves), segment/ (masks, overlays, report.json) and evaluate/ (report.json, confusion matrix)."

# ruff (settings in pyproject.toml) and the import layers (import-linter's contracts there, [tool.importlinter]).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The jax extra is installed before the TensorFlow pass too: tests/test_backend_extras.py checks the JAX setup.
test: venv lint browser jax-extra
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	$(MAKE) test-jax

# The `suite serve` browser tests (slow) drive Debian's headless Chromium and its driver, at the paths
# tests/test_serve_browser.py reads; installed through apt-get when missing (sudo unless root).
# SUITE_SKIP_BROWSER=1 skips those tests and this step.
CHROMIUM ?= $(or $(SUITE_CHROMIUM),/usr/bin/chromium)
CHROMEDRIVER ?= $(or $(SUITE_CHROMEDRIVER),/usr/bin/chromedriver)
browser:
	@if [ "$(SUITE_SKIP_BROWSER)" != 1 ] && { [ ! -x "$(CHROMIUM)" ] || [ ! -x "$(CHROMEDRIVER)" ]; }; then \
	  if ! command -v apt-get >/dev/null; then \
	    echo "make test: the browser tests need $(CHROMIUM) and $(CHROMEDRIVER): install Chromium and its driver" \
	      "(Debian: apt-get install chromium chromium-driver), or set SUITE_SKIP_BROWSER=1" >&2; exit 1; \
	  fi; \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  echo "installing chromium and chromium-driver (apt-get) for the browser tests"; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

test-fast: venv
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The backend-agnostic core (models, losses, metrics, the style objective and optimizers) on Keras' JAX backend;
# their slow end-to-end checks run on TensorFlow only (the jax.jit paths they take are in the fast tests).
JAX_TESTS := tests/test_unet_model.py tests/test_unet_losses_metrics.py tests/test_style_losses.py tests/test_style.py tests/test_style_options.py \
	tests/test_fast_style.py tests/test_selfie.py tests/test_backbones.py tests/test_keras_natives.py tests/test_shape_buckets.py
jax-extra: venv
	$(BIN)/python -c "import jax" 2>/dev/null || $(BIN)/python -m pip install -e ".[jax]"

test-jax: jax-extra
	KERAS_BACKEND=jax $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not slow" $(JAX_TESTS) $(PYTEST_ARGS)

# Regenerates the bundled photos, artworks and segmentation data set (needs the `assets` extra).
assets: venv
	$(BIN)/python -m pip install -e ".[assets]"
	$(BIN)/python assets/make_photos.py
	$(BIN)/python assets/make_styles.py
	$(BIN)/python assets/make_segdata.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
