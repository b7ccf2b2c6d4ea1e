# Cove's tasks: `make lint typecheck test`, `make bench`. .ci/run uses the same targets.
# Tools come from the checkout's virtual environment (`pip install -e '.[test,bench]'`);
# PY=... points them at another interpreter.
PY ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
BENCH_ARGS ?= all --quick --out bench-report

.PHONY: lint format typecheck test unit bench

lint:  ## ruff's rules (pyproject.toml) and the formatter, checking only
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format:  ## apply the formatter and ruff's safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

typecheck:  ## mypy on engine/ and context/ (the packages in [tool.mypy])
	$(PY) -m mypy

test:  ## the README's test command: every tier
	$(PY) -m pytest

unit:  ## tier 1 only: pure units, seconds, no model
	$(PY) -m pytest -q tests/unit

bench:  ## benchmarks against the naive baseline; BENCH_ARGS="latency --out r" for one
	$(PY) -m bench $(BENCH_ARGS)
