# iot-backup. The two commands: `make demo` runs the job locally, `make test` runs the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test test-oldest-ha test-newest-ha demo bench broker-setup deps clean

## test: the whole suite on the oldest supported HA (.venv) and on the newest (forky chroot)
test: test-oldest-ha test-newest-ha

test-oldest-ha: deps
	$(PY) -m pytest $(PYTEST_ARGS)

test-newest-ha: deps
	@if [ "$$(id -u)" -eq 0 ]; then scripts/newest-ha $(PYTEST_ARGS); \
	else echo "test-newest-ha needs root (debootstrap + chroot): run 'sudo make test-newest-ha'." >&2; exit 1; fi

## demo: certificates, the TLS broker, and one press of each click type through the Lambda handler
demo: deps
	$(PY) -m scripts.demo

## bench: latency and import-time tables (timings are printed, never asserted; the burst checks exactly-once)
bench: deps
	$(PY) -m scripts.bench
	$(PY) -m pytest benchmarks -s -q

## broker-setup: CA, server and client certificates, passwords for broker/ (idempotent)
broker-setup: deps
	$(PY) -m broker.setup_broker $(if $(HOSTS),$(foreach h,$(HOSTS),--host $(h)))

deps: $(INSTALLED)
	@scripts/ensure-mosquitto

# Reinstalls only when requirements-test.txt changes.
$(INSTALLED): requirements-test.txt
	@[ -x $(PY) ] || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements-test.txt
	@touch $@

clean:
	rm -rf $(VENV)
