# tomoprune: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-run
BENCH_OUT ?= benchmarks/results

.PHONY: venv lock demo test test-fast bench bench-full lint format reproduce-table1 reproduce-l0 verify-results clean

LOCK := requirements-dev.lock

# the dev environment: every package at the version in the lock file, then tomoprune itself
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r $(LOCK)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## lock: re-resolve the dev environment from pyproject's ranges and pin it in the lock file
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	.venv-lock/bin/pip freeze --exclude-editable --disable-pip-version-check > $(LOCK)
	rm -rf .venv-lock

## demo: DTC against magnitude and random pruning on the bundled digits dataset (offline)
demo: $(STAMP)
	$(BIN)/tomoprune compare --methods dtc,magnitude,random --dataset digits --out $(DEMO_OUT)

## test: the whole suite (unit, integration on ../shared/data/mnist when present, CLI)
test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
		$(BIN)/python -m pytest -n 2 --durations=15 -q

## bench: the quick speed benchmarks (a few minutes); results in benchmarks/results/
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --out $(BENCH_OUT)

## docs: the documentation site into site/ (strict: a broken link or reference fails). Its log
## is printed only on failure, so pytest's summary stays the last line CI prints; not --quiet,
## which would hide the warnings that strict mode counts.
.PHONY: docs
docs: $(STAMP)
	@log=$$(NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site 2>&1) \
		|| { echo "$$log"; exit 1; }

## bench-full: every benchmark (long: training runs, sweeps, greedy compression)
bench-full: $(STAMP)
	$(BIN)/python -m benchmarks.run --full --out $(BENCH_OUT)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

## reproduce-table1: the DTC paper's Table 1 on real MNIST (about 15 minutes on 2 cores)
reproduce-table1: $(STAMP)
	$(BIN)/tomoprune reproduce table1 --data-dir ../shared/data/mnist --out out/table1

## reproduce-l0: DRR, PMMP, R-L1 and the dense baseline on LeNet-300-100 (a few minutes)
reproduce-l0: $(STAMP)
	$(BIN)/tomoprune reproduce l0 --data-dir ../shared/data/mnist --out out/l0

## verify-results: recompute every published sweep number from the committed raw records
verify-results: $(STAMP)
	$(BIN)/tomoprune verify-results docs/results/sweeps --note docs/results/statistics/README.md \
		--rederived docs/results/statistics/earlier-sweeps.md

clean:
	rm -rf $(VENV) $(DEMO_OUT) site .pytest_cache .ruff_cache
