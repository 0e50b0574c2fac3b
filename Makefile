# Two commands from a fresh clone: `make run` and `make test`. Both create .venv on first use.
VENV   := .venv
PY     := $(VENV)/bin/python
RUN_STAMP  := $(VENV)/.run-stamp
TEST_STAMP := $(VENV)/.test-stamp

.PHONY: run test lint bench clean chromium

# `make run` installs what running needs; `make test` installs it with the test extras (pytest, Playwright,
# TensorBoard, ...). pip installs uv into the venv, and uv installs the rest: the same packages, several times
# faster. uv takes the extra package indexes pip is configured with (pip's global.extra-index-url) and picks
# versions as pip does (the best match over all indexes). The venv is made without a pip of its own when the system's
# pip can install into it (`pip --python`, pip 22.3 or later), which saves installing pip; else ensurepip gives it one.
#
# `make run` has uv write every package's bytecode at install. `make test` does not: its processes write the bytecode
# of the modules they import, when they first import them (PYTHONDONTWRITEBYTECODE emptied for the suite), which
# takes less time than compiling every file of the test extras first. Without bytecode, a machine that sets
# PYTHONDONTWRITEBYTECODE would compile each imported module again in every process.
VPIP = $(if $(wildcard $(VENV)/lib/python3*/site-packages/pip),$(PY) -m pip,python3 -m pip --python $(PY))
UV   = UV_INDEX_STRATEGY=unsafe-best-match \
	UV_EXTRA_INDEX_URL="$$($(VPIP) config get global.extra-index-url 2>/dev/null)" \
	$(VENV)/bin/uv pip install -q --python $(PY)

$(VENV)/bin/uv:
	test -x $(PY) || python3 -m venv --without-pip $(VENV)
	python3 -m pip --python $(PY) install -q uv 2>/dev/null || { $(PY) -m ensurepip >/dev/null && $(PY) -m pip install -q uv; }

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/uv
	$(UV) --compile-bytecode -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/uv
	$(UV) -e '.[test]'
	touch $(RUN_STAMP) $(TEST_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/distgan train --compare seed $(ARGS)

# --dist loadfile: each test file runs on one worker, so a file's module fixtures (trained runs) are made once
test: $(TEST_STAMP)
	@command -v chromium >/dev/null || $(MAKE) --no-print-directory chromium
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n auto --dist loadfile $(ARGS)

# The browser tests of report.html drive Debian's Chromium (Playwright's own browser download needs a network).
chromium:
	@if [ "$$(id -u)" = 0 ]; then echo "installing chromium for the browser tests"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "no chromium, and installing it needs root (sudo apt-get install chromium): the browser tests will skip"; fi

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

# The speed benchmark against the seed script needs PyTorch CPU 2.13.0, installed for it alone.
bench: $(RUN_STAMP)
	$(VPIP) install -q 'torch==2.13.0'
	$(PY) benchmarks/speed.py $(ARGS)

clean:
	rm -rf $(VENV) runs
