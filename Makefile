# probgates: set-up and everyday commands.
#   make demo    install into .venv (CPU PyTorch unless one is there) and run the demo
#   make test    install and run the test suite
#   make lint    ruff
#   make bench   the speed benchmarks (run nothing else meanwhile)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The PyTorch to install when the environment has none. torch==2.13.0 is the CPU build here;
# elsewhere choose yours, e.g. make TORCH="torch" demo, or install probgates into an environment
# that already has PyTorch with: pip install -e ".[dev]"
TORCH ?= torch==2.13.0

.PHONY: install demo test lint bench clean

$(BIN)/probgates: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

install: $(BIN)/probgates

demo: install
	$(BIN)/probgates demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check probgates tests benchmarks analysis
	$(BIN)/ruff format --check probgates tests benchmarks analysis

bench: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) runs .pytest_cache
