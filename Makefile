# The two set-up commands of README.md live here, so a fresh machine needs nothing installed by hand.
#   make demo   create .venv, install stepcache[local] (builds llama.cpp once), run the main job
#   make test   create .venv, install every extra the tests use, run mypy and the whole test suite
PYTHON ?= python3
VENV := .venv
EXTRAS_DEMO := local,server
EXTRAS_TEST := local,server,onnx,faiss,bench,postgres,dev

.PHONY: demo test venv-demo venv-test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip setuptools wheel

venv-demo: $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e ".[$(EXTRAS_DEMO)]"

venv-test: $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e ".[$(EXTRAS_TEST)]"

demo: venv-demo
	$(VENV)/bin/stepcache demo $(DEMO_ARGS)

test: venv-test
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache
