# The targets here are exactly what CI runs (.ci/run calls `make test`).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run demo test lint format tree typecheck imports pytest bench clean

# torch 2.13.0 first: it resolves to the local CPU build, so sentence-transformers then pulls
# no CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	# The fast embedding backend's ONNX export, made once here so serving needs no torch.
	$(VENV)/bin/semcached export-model
	touch $(STAMP)

install: $(STAMP)

# The sidecar on embedded defaults: http://127.0.0.1:8080 (API docs at /docs). Misses go to a
# built-in echo model unless UPSTREAM=https://api.openai.com/v1 names a real provider.
run: install
	$(VENV)/bin/semcached serve $(if $(UPSTREAM),--upstream-url $(UPSTREAM),--echo-upstream)

demo: install
	$(VENV)/bin/semcached demo

test: install lint typecheck imports pytest

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The package is spread over top-level folders mapped into `semcached` by pyproject; mypy and
# import-linter read it through a symlinked tree in that installed shape.
tree: install
	rm -rf build/typecheck && mkdir -p build/typecheck/semcached
	for f in semcached/*; do case "$$f" in */__pycache__|*/data) ;; *) ln -s "$(CURDIR)/$$f" build/typecheck/semcached/;; esac; done
	for p in embeddings index service clients; do ln -s "$(CURDIR)/$$p" build/typecheck/semcached/$$p; done

typecheck: tree
	cd build/typecheck && $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/pyproject.toml -p semcached

# The layering contracts of pyproject's [tool.importlinter]: a broken one fails the build.
imports: tree
	cd build/typecheck && $(CURDIR)/$(VENV)/bin/lint-imports --no-cache $(CURDIR)/pyproject.toml

pytest: install
	$(PY) -m pytest -q

# The benchmark suite, quick form (about 3 minutes): one JSON file. The full one (~15 minutes):
# .venv/bin/python benchmarks/suite.py --out /tmp/semcached-bench.json --data ../shared/data
bench: install
	$(PY) benchmarks/suite.py --quick --out build/bench.json

clean:
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache .hypothesis
