# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint bench chromium clean screenshots

# The Dockerfile installs with the same script. It rebuilds a half-made .venv (a `make demo`
# stopped while `python3 -m venv` ran left one without pip) and writes the stamp only after
# the install succeeded, so `make` goes on where an interrupted one stopped.
$(STAMP): pyproject.toml requirements.lock scripts/install.sh
	scripts/install.sh --dev --venv $(VENV) --stamp $(STAMP)

# A stamp whose python is gone (the interpreter it was made from removed or upgraded) does not
# count: checked here because it costs no python start, so `make test` stays quick.
ifneq ($(wildcard $(STAMP)),)
ifeq ($(shell [ -x $(PY) ] && echo ok),)
$(shell rm -f $(STAMP))
endif
endif

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

# The README's pictures, from the demo (LOUPE_DATA_DIR, else ./indexes): docs/development.md.
screenshots: $(STAMP) chromium
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache
