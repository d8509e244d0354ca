# The two set-up commands of README.md live here, so a fresh machine needs nothing installed by hand.
#   make demo   create .venv, install stepcache[local] (builds llama.cpp once), run the main job
#   make test   create .venv, install every extra the tests use, run ruff, mypy and the whole test suite
#   (make test-fast: the same without the tests marked slow, for the inner loop)
PYTHON ?= python3
VENV := .venv
EXTRAS_DEMO := local,server
EXTRAS_TEST := local,server,onnx,faiss,bench,postgres,dev

.PHONY: demo test test-fast lint venv-demo venv-test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip setuptools wheel

venv-demo: $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e ".[$(EXTRAS_DEMO)]"

venv-test: $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e ".[$(EXTRAS_TEST)]"

demo: venv-demo
	$(VENV)/bin/stepcache demo $(DEMO_ARGS)

test: venv-test lint
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The inner loop: lint, types and the tests not marked slow (no corpora, processes or local model).
test-fast: venv-test lint
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache
