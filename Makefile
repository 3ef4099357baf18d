# Two commands from a fresh clone: `make repro` (the pipeline) and `make test` (the tests).
# Both create .venv on first use and install the exact pins from requirements.txt.
VENV   := .venv
STAMP  := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: repro test bench seed clean-venv

$(STAMP): requirements.txt
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

repro: $(STAMP)
	dvc repro

test: $(STAMP)
	python -m pytest

bench: $(STAMP)
	python -m benchmarks.train_speed

clean-venv:
	rm -rf $(VENV)
