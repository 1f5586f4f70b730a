# Doorstep. `make run` and `make test` are all a new machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
WORKERS ?= 2
# Every server here runs one gunicorn command line, written once in Python
# (backend.serving.gunicorn_command; threaded workers, client idle timeout:
# docs/operations.md). `doorstep serve` becomes that gunicorn.
SERVE = $(BIN)/doorstep serve --bind $(HOST):$(PORT) --workers $(WORKERS) --access-log
# What `make run` and `make demo` serve: the shipped app kept on the demo's today.
DEMO_APP := 'demo.app:create_app()'
export PYTHONDONTWRITEBYTECODE := 1

CORE_STAMP := $(VENV)/.core-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: help run test lint format migrate seed serve-prod bench bench-deps clean ui-deps browser-deps proxy-deps zbar-deps driver driver-deps apk demo fuzz

# `make` alone lists the targets from their `## target: what it does` lines, in the
# order they appear (run first); a `##` line right after one continues it.
.DEFAULT_GOAL := help
help:
	@awk -v host=$(HOST) -v port=$(PORT) ' \
	  { gsub(/\$$\(HOST\)/, host); gsub(/\$$\(PORT\)/, port) } \
	  /^## [a-z-]+:/ { sub(/^## /, ""); t = $$0; sub(/:.*/, "", t); sub(/^[^:]*: */, ""); \
	    printf "  make %-11s %s\n", t, $$0; next } \
	  /^## / { sub(/^## */, ""); printf "  %-16s %s\n", "", $$0 }' $(firstword $(MAKEFILE_LIST))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(CORE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(CORE_STAMP)

## run: set up everything, seed the demo if the database is empty, serve on $(HOST):$(PORT)
run: $(CORE_STAMP)
	$(BIN)/python -m demo setup --host $(HOST) --port $(PORT)
	exec $(SERVE) --app $(DEMO_APP)

UI_PACKAGES := xvfb xauth libgl1 libgl1-mesa-dri libegl1 libegl-mesa0 libmtdev1

## test: the whole suite, on SQLite and (when reachable) PostgreSQL
test: $(DEV_STAMP) ui-deps browser-deps proxy-deps zbar-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# $(call apt_or_skip,<check>,<packages>,<tests that need them>): as root, install the
# Debian packages when <check> fails; otherwise say loudly which tests will be skipped.
define apt_or_skip
	@$(1) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $(2); \
	  else \
	    echo "!! not root and $(2) are missing: $(3) will be SKIPPED"; \
	    echo "!! install with: sudo apt-get install --no-install-recommends $(2)"; \
	  fi; }
endef

# The driver app's tests run the real Kivy window under Xvfb with Mesa's software GL.
ui-deps:
	$(call apt_or_skip,command -v xvfb-run >/dev/null,$(UI_PACKAGES),the driver app UI tests)

# Barcode scanning decodes with zbar (pyzbar loads the shared library).
zbar-deps:
	$(call apt_or_skip,test -n "$$(ldconfig -p | grep libzbar.so)",libzbar0,the barcode scanning tests)

# The console's browser tests drive Debian's Chromium through Playwright; Playwright's own
# browser download is never used (`playwright install` cannot reach its host from CI).
BROWSER_PACKAGES := chromium fonts-dejavu-core
browser-deps:
	$(call apt_or_skip,test -x /usr/bin/chromium,$(BROWSER_PACKAGES),the console browser tests)

# The documented reverse proxy (deploy/nginx-doorstep.conf) is tested in front of gunicorn.
PROXY_PACKAGES := nginx
proxy-deps:
	$(call apt_or_skip,command -v nginx >/dev/null || test -x /usr/sbin/nginx,$(PROXY_PACKAGES),the nginx proxy test)

## demo: simulate a whole day (5 drivers, offline stretches, kills, dispatch changes) into
## var/demo, then serve it: console on http://$(HOST):$(PORT)/console (dispatch/support/admin),
## driver1 still driving live, tracking links printed, e-mail caught in var/demo/mailbox/
# `python -m demo serve` runs the server, a local SMTP mailbox, `doorstep notify` and the
# live driver, and stops each by its pid on Ctrl-C (demo/serve.py).
# The day replaces the previous one in var/demo; `make run`'s var/doorstep.db is untouched.
# If the day's report fails, the first line exits 1 and nothing is served.
demo: $(DEV_STAMP)
	$(BIN)/python -m demo day --folder var/demo
	exec $(BIN)/python -m demo serve --folder var/demo --bind $(HOST):$(PORT) --workers $(WORKERS)

## driver: the Kivy driver app against the server from `make run`
driver: $(DEV_STAMP)
	$(BIN)/python -m driver_client.ui --server http://$(HOST):$(PORT) --data var/driver

## driver-deps: the driver app alone in .venv-driver: the `driver` group, no server library
# `--no-deps` keeps the server's dependencies out; the driver group (pyproject.toml) is the
# whole list of what the app loads. Run it there: .venv-driver/bin/python -m driver_client.ui
DRIVER_VENV := .venv-driver
DRIVER_GROUP = $$($(DRIVER_VENV)/bin/python -c 'import tomllib; \
  print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["driver"]))')
driver-deps: $(DRIVER_VENV)/.installed zbar-deps
$(DRIVER_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DRIVER_VENV)
	$(DRIVER_VENV)/bin/pip install --quiet --disable-pip-version-check $(DRIVER_GROUP)
	$(DRIVER_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

## apk: the driver app's Android package into bin/ (buildozer.spec); needs a JDK 17 and the
## Android SDK and NDK (docs/driver-client.md, "Building the APK")
# buildozer would otherwise try to download the SDK and NDK itself, which these machines
# cannot: say what is missing and stop. SERVER=https://... sets the app's server.
apk: $(DEV_STAMP)
	@missing=""; \
	  [ -d "$$ANDROID_SDK_ROOT" ] || missing="$$missing\n  ANDROID_SDK_ROOT: the Android SDK (platforms;android-34, build-tools;34.0.0, platform-tools)"; \
	  [ -d "$$ANDROID_NDK_HOME" ] || missing="$$missing\n  ANDROID_NDK_HOME: the Android NDK, r28c (python-for-android's recommended version)"; \
	  command -v javac >/dev/null || missing="$$missing\n  javac: a JDK 17"; \
	  if [ -n "$$missing" ]; then \
	    printf "make apk cannot build here; missing:$$missing\nSee docs/driver-client.md, \"Building the APK\".\n" >&2; \
	    exit 1; fi
	$(if $(SERVER),printf '%s\n' '$(SERVER)' > driver_client/android/server.txt)
	APP_ANDROID_SDK_PATH="$$ANDROID_SDK_ROOT" APP_ANDROID_NDK_PATH="$$ANDROID_NDK_HOME" \
	  $(BIN)/buildozer android debug

## lint: ruff, mypy and the dead-code scan (vulture; its settings are in pyproject.toml)
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/vulture

## format: ruff format and autofix
format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## migrate: apply Alembic migrations to DATABASE_URL
migrate: $(CORE_STAMP)
	$(BIN)/doorstep migrate

## seed: seed the demo into DATABASE_URL if it holds nothing yet (migrating first)
seed: $(CORE_STAMP)
	$(BIN)/python -m demo seed

## serve-prod: gunicorn against PostgreSQL; needs DOORSTEP_ENV=production and real secrets
serve-prod: $(CORE_STAMP)
	DOORSTEP_ENV=production $(BIN)/doorstep migrate
	DOORSTEP_ENV=production exec $(SERVE)

## fuzz: schemathesis against the OpenAPI document as driver, dispatcher, support and admin
## (a seeded throwaway server; about 4 minutes); fails on any 5xx or undocumented answer
fuzz: $(DEV_STAMP)
	$(BIN)/python -m tools.fuzz $(FUZZ_ARGS)

## bench: throughput ratios against a floor measured in the same run
bench: $(DEV_STAMP) bench-deps
	$(BIN)/python -m bench

# bench loads the server with wrk when it is installed, else with its own Python client.
bench-deps:
	$(call apt_or_skip,command -v wrk >/dev/null,wrk,the wrk load generator (bench uses its Python one instead))

## clean: delete the virtualenv, var/ and the tools' caches
clean:
	rm -rf $(VENV) $(DRIVER_VENV) .buildozer bin var .pytest_cache .mypy_cache .ruff_cache
