# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export JAX_PLATFORMS ?= cpu
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test bench clean

$(VENV)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[tpu]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-base
	$(PY) -m pip install -q -e '.[tpu,test]'
	touch $@

demo: $(VENV)/.installed-base
	XLA_FLAGS=--xla_force_host_platform_device_count=8 $(VENV)/bin/xstilts-jax demo

# Two pytest-xdist workers fit two cores and 24 GiB (each keeps its 8 host devices); more cores, more workers.
TEST_WORKERS ?= 2

# tests/analysis/test_report_browser.py opens report.html in Debian's chromium. Installed only when
# missing, and only as root with apt-get; otherwise make says how and stops.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
		echo "make test: $(CHROMIUM) is missing; install Debian's chromium (sudo apt-get install -y chromium), then rerun."; exit 1; \
	fi

test: $(VENV)/.installed-test $(CHROMIUM)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal tests

bench: $(VENV)/.installed-test
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs .cache
