# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint bench chromium clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# Debian's chromium is the only browser the tests use; Playwright never downloads its own.
chromium:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

demo: $(STAMP)
	$(VENV)/bin/loupe demo
	$(VENV)/bin/loupe serve

test: $(STAMP) chromium
	$(VENV)/bin/ruff check app tests bench
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check app tests bench
	$(VENV)/bin/ruff format --check app tests bench

bench: $(STAMP)
	$(PY) bench/browse.py

clean:
	rm -rf $(VENV) .pytest_cache
