# Two entry points: `make run` (dashboard on the built-in demo) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench install chromium

$(STAMP): requirements.txt constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, then everything else constrained to it, so nothing drags in a CUDA build.
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	# uv installs the rest, byte-compiled as pip does (with PYTHONDONTWRITEBYTECODE set, every
	# process would otherwise compile the libraries' sources at each import), in about 24 s
	# where pip takes about 42 s, to the same versions; pip stays the fallback. Torch stays
	# pip's: uv does not look at the local CPU wheel.
	$(BIN)/python -m pip install -q uv && \
		$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt -r requirements.txt || \
		$(BIN)/python -m pip install -q -c constraints.txt -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run app.py --server.address 127.0.0.1

# Two worker processes of one thread each (tests/conftest.py), a test file per worker at a time.
WORKERS ?= 2
test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile --durations=25 tests

# The browser test drives Debian's chromium (never a downloaded browser); without it, it skips.
chromium:
	@command -v chromium >/dev/null || (command -v apt-get >/dev/null && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: the browser test will be skipped")

bench: $(STAMP)
	$(BIN)/python bench/bench_generation.py
