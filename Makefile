# Two commands from a fresh clone: `make repro` (the pipeline) and `make test` (the tests).
# Both create .venv on first use and install the exact pins from requirements.txt.
VENV   := .venv
STAMP  := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
PYTHON ?= python3
CHROMIUM ?= chromium
PYTEST_ARGS ?=
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: repro test e2e bench concurrency course sweep publish check-python browser

# The pinned torch==2.13.0 resolves to its CPU build only on CPython 3.11 (the wheel this
# machine's pip finds); on any other Python pip would silently fetch a multi-GB CUDA build.
check-python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { \
	  echo "error: $(PYTHON) is $$(command -v $(PYTHON) >/dev/null 2>&1 && $(PYTHON) -V 2>&1 || echo missing); the pinned torch==2.13.0 CPU build needs Python 3.11: run make PYTHON=python3.11 …" >&2; exit 1; }

$(STAMP): requirements.txt
	@test -x $(VENV)/bin/python || $(MAKE) --no-print-directory check-python
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

repro: $(STAMP)
	dvc repro
	dvc plots show --quiet
	@python -m stages.report --summary

# Every test but the end-to-end DVC runs (marker e2e): a few minutes. CI runs both targets.
test: $(STAMP) browser
	python -m pytest -m "not e2e" $(PYTEST_ARGS)

# The end-to-end tests: DVC itself in temporary git clones, and two machines through a local S3 server.
# Two worker processes (pytest-xdist): a DVC case is mostly one process starting Python and torch,
# so one of two cores sat idle. One `dvc repro` makes the session clone, each worker a copy of it
# (tests/conftest.py); each test file stays in one worker (loadfile: its module fixtures, such as
# the S3 server, are made once). `PYTEST_ARGS="-n 0 -s"` runs them here, printing every command.
E2E_WORKERS ?= 2
e2e: $(STAMP)
	python -m pytest -m e2e -n $(E2E_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The browser test (tests/test_plots_offline.py) renders `dvc plots show`'s page in Debian's
# chromium. Installed here when missing and we are root with apt-get (as on a fresh CI machine);
# otherwise one line naming the command.
browser:
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing Debian's chromium for the browser test (apt-get install chromium)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "error: the browser test needs Debian's chromium: run 'sudo apt-get install -y chromium', then make test" >&2; \
	    exit 1; \
	  fi; }

# Training throughput of every cell against the sgemm limit on its shapes and nn.LSTM / nn.RNN peers; a quiet machine.
bench: $(STAMP)
	python -m benchmarks.train_speed

# One training stage alone vs two at once (and the course loop, thread/wait-policy variants); quiet machine.
concurrency: $(STAMP)
	python -m benchmarks.concurrency

# The course protocol as one experiment, on fold 0: one name per step, 100 000 steps,
# validation every 1 000, Adam. The RNN gets lr 0.001: at the course report's 0.01 it blows up.
course: $(STAMP)
	dvc exp run -n course-protocol \
	  -S train_rnn.batch_size=1 -S train_rnn.iterations=100000 -S train_rnn.eval_every=1000 \
	  -S train_rnn.lr=0.001 -S train_rnn.grad_clip=0 -S train_rnn.threads=1 \
	  -S train_lstm.batch_size=1 -S train_lstm.iterations=100000 -S train_lstm.eval_every=1000 \
	  -S train_lstm.lr=0.01 -S train_lstm.grad_clip=0 -S train_lstm.threads=1 \
	  -S 'train_rnn.folds=[0]' -S 'train_lstm.folds=[0]'

# A queued DVC grid of training options per course cell on fold 0, chosen by val names, then the
# chosen cells on all folds against the n-gram baseline. Run after make repro (about 25 min at 53da6fb).
sweep: $(STAMP)
	python -m tools.sweep

# Release a cell: checks, dvc push, then the tag <cell>@v<version> and its branch to git's origin.
# make publish CELL=lstm VERSION=1.0.0 (docs/experiments.md, Publishing a cell)
publish: $(STAMP)
	python -m tools.publish $(CELL) $(VERSION)
