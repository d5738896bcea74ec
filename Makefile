# Zalo Tipline: every command a developer, CI or ops needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.8
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
TEST_ARGS ?=
# samconfig.toml environment of `make deploy-edge` and `make console-publish` (`make deploy` asks)
ENV ?= dev
# The SAM CLI would otherwise send usage metrics to AWS; builds and checks here stay offline.
export SAM_CLI_TELEMETRY := 0

# sam build needs a python3.12 on PATH to match the Lambda runtime. A pyenv machine may have one
# that is installed but not active: then PYENV_VERSION makes it visible beside the current Python.
PY312_RUNS := $(shell python3.12 -c 'print(1)' 2>/dev/null)
PYENV_312 := $(if $(PY312_RUNS),,$(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null | grep -E '^3\.12' | tail -n1))
PYENV_NOW := $(if $(PYENV_312),$(shell pyenv version-name 2>/dev/null | cut -d: -f1),)
SAM_ENV := $(if $(PYENV_312),PYENV_VERSION=$(if $(PYENV_NOW),$(PYENV_NOW):)$(PYENV_312),)

.PHONY: help dev test lint format validate build deploy deploy-to deployed-tag release deploy-edge console-publish bench lock events clean demo mutate loadtest rehearse redrive \
	console console-api console-test console-screenshots chromium

# The officer console (console/): Node.js 20.19+ and npm build it; Debian's Chromium runs its browser tests.
NPM ?= npm
CHROMIUM ?= /usr/bin/chromium
CONSOLE_SOURCES := $(shell find console/src console/public -type f 2>/dev/null) console/index.html \
	console/vite.config.ts console/tsconfig.json console/package.json console/package-lock.json

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(VENV)/.ready: requirements/dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync -q --python $(BIN)/python requirements/dev.lock
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@

$(SAM_VENV)/.ready: requirements/sam.lock | $(VENV)/.ready
	$(UV) venv -q --python $(PYTHON) $(SAM_VENV)
	$(UV) pip sync -q --python $(SAM_VENV)/bin/python requirements/sam.lock
	@touch $@

$(CHECKOV_VENV)/.ready: requirements/checkov.lock | $(VENV)/.ready
	$(UV) venv -q --python $(PYTHON) $(CHECKOV_VENV)
	$(UV) pip sync -q --python $(CHECKOV_VENV)/bin/python requirements/checkov.lock
	@touch $@

setup: $(VENV)/.ready ## install the development environment (.venv)

dev: $(VENV)/.ready console/dist/index.html ## run the whole system locally; the console at http://127.0.0.1:3000/
	$(BIN)/tipline-local serve

test: $(VENV)/.ready console/dist/index.html chromium ## run the whole test suite (pytest, then the console's unit and browser tests)
	$(BIN)/pytest -n 2 --dist loadfile -q $(TEST_ARGS)
	$(MAKE) --no-print-directory console-test

console-test: $(VENV)/.ready console/dist/index.html chromium ## the console's unit tests (Vitest) and browser tests (Chromium, local stack)
	cd console && $(NPM) test
	cd console && CHROMIUM=$(CHROMIUM) $(NPM) run test:browser

console-screenshots: $(VENV)/.ready console/dist/index.html chromium ## the browser tests, saving every screen to docs/console/
	cd console && CHROMIUM=$(CHROMIUM) CONSOLE_SHOTS=docs/console $(NPM) run test:browser

console/node_modules/.ready: console/package.json console/package-lock.json
	@command -v $(NPM) >/dev/null 2>&1 || { echo "make: the console needs Node.js 20.19+ and npm: apt-get install nodejs npm (or nodejs.org)"; exit 1; }
	cd console && $(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

console/dist/index.html: console/node_modules/.ready $(CONSOLE_SOURCES)
	cd console && $(NPM) run build

console: console/dist/index.html ## build the officer console into console/dist when its sources changed

console-api: $(VENV)/.ready console/node_modules/.ready ## after an officer API change: its OpenAPI document and the console's types
	$(BIN)/python -m tipline_local.openapi > console/src/api/openapi.json
	cd console && $(NPM) run gen:api

chromium: ## Debian's Chromium for the browser tests (installed with apt-get when missing)
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian's chromium for the browser tests"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	fi; \
	if [ ! -x "$(CHROMIUM)" ]; then \
		echo "make: the browser tests need Chromium at $(CHROMIUM), and it could not be installed."; \
		echo "      As root: apt-get update && apt-get install -y chromium"; \
		echo "      (or CHROMIUM=/path/to/chromium make test). Playwright's own browser download cannot work here."; \
		exit 1; \
	fi

lint: $(VENV)/.ready ## ruff check, ruff format --check, mypy, the import layers (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(VENV)/.ready ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

validate: $(VENV)/.ready $(SAM_VENV)/.ready $(CHECKOV_VENV)/.ready ## sam validate --lint, cfn-lint, checkov, bandit, dependency audit, IAM policy tests, rehearsal
	$(SAM_VENV)/bin/sam validate --lint --region ap-southeast-1
	$(BIN)/cfn-lint template.yaml edge/waf.yaml
	$(BIN)/python -m tipline_local.transform > .aws-sam-transformed.json
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f .aws-sam-transformed.json --framework cloudformation
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f edge/waf.yaml
	$(BIN)/bandit -q -r functions
	$(BIN)/python -m tipline_local.dep_audit
	$(BIN)/pytest -q -p no:cacheprovider tests/template
	$(BIN)/python -m tipline_local.rehearse

build: $(SAM_VENV)/.ready ## sam build (no container): python3.12 on arm64
	$(SAM_ENV) $(SAM_VENV)/bin/sam build --parallel --cached

# `make deploy` asks which samconfig.toml environment (dev or prod) unless ENV=... is given.
DEPLOY_ENVS := dev prod
deploy: ## asks dev/prod (or ENV=...): sam build, sam deploy --guided --config-env ENV, a deployed-ENV-* tag, the console
	@env="$(if $(filter command line environment,$(origin ENV)),$(ENV))"; \
	if [ -z "$$env" ]; then read -r -p "Environment to deploy ($(DEPLOY_ENVS)): " env; fi; \
	case " $(DEPLOY_ENVS) " in *" $$env "*) ;; *) \
	  echo "make deploy: the environment must be one of: $(DEPLOY_ENVS) (samconfig.toml), not '$$env'"; exit 2;; esac; \
	$(MAKE) --no-print-directory deploy-to ENV=$$env

deploy-to: build
	$(SAM_VENV)/bin/sam deploy --guided --config-env $(ENV)
	@$(MAKE) --no-print-directory deployed-tag ENV=$(ENV)
	@$(MAKE) --no-print-directory console-publish ENV=$(ENV)

# Rollback points (docs/operations.md section 8): `make release` tags what is about to ship, and every
# successful deploy tags the commit it deployed (deployed-ENV-UTCtime). Both refuse uncommitted work.
STAMP = $(shell date -u +%Y%m%dT%H%MZ)
release: ## tag HEAD as release-<UTC time> (refuses uncommitted changes); push it with git push --tags
	@git diff --quiet HEAD || { echo "make release: commit or discard your changes first"; exit 2; }
	git tag -a release-$(STAMP) -m "release $(STAMP)"
	@echo "tagged release-$(STAMP) at $$(git rev-parse --short HEAD)"

deployed-tag:
	@if git diff --quiet HEAD; then git tag -a deployed-$(ENV)-$(STAMP) -m "deployed to $(ENV)" && \
	  echo "tagged deployed-$(ENV)-$(STAMP): roll back to the one before it (git tag -l 'deployed-$(ENV)-*')"; \
	else echo "make deploy: uncommitted changes were deployed, so no deployed-$(ENV)-* tag (commit first)"; fi

deploy-edge: $(SAM_VENV)/.ready ## the console's WAF web ACL, in us-east-1 (before the first deploy of ENV)
	$(SAM_VENV)/bin/sam deploy --template-file edge/waf.yaml --stack-name tipline-$(ENV)-edge \
	  --region us-east-1 --parameter-overrides Stage=$(ENV) --no-fail-on-empty-changeset
	@echo "Put the WebAclArn output above into samconfig.toml [$(ENV).deploy.parameters] as ConsoleWebAclArn."

console-publish: $(VENV)/.ready ## build console/ and publish it to the deployed ENV stack (make deploy runs it)
	@if [ ! -f console/package.json ]; then \
	  echo "console-publish: console/ is missing (no console/package.json), so the console was not built or"; \
	  echo "published; the stack itself is deployed. From a checkout with console/: make console-publish ENV=$(ENV)"; \
	  exit 1; fi
	@command -v npm >/dev/null || { echo "console-publish: npm is missing; install Node.js 20+ (apt-get install nodejs npm)"; exit 1; }
	cd console && npm ci && npm run build
	$(BIN)/python -m tipline_ops.console_publish --config-env $(ENV)

rehearse: $(VENV)/.ready ## deploy rehearsal: the SAM-transformed template and edge/waf.yaml as stacks in moto's CloudFormation, every resource checked
	$(BIN)/python -m tipline_local.rehearse

QUEUE ?= replies
redrive: $(VENV)/.ready ## move a queue's dead-letter messages back (QUEUE=replies|intake-spill|fetch; --stack via OPS_ARGS)
	$(BIN)/tipline-ops $(OPS_ARGS) redrive --queue $(QUEUE)

MODULES ?=
mutate: $(VENV)/.ready ## mutation testing of the core (mutmut; long): the score per module (MODULES="signature gate ..." for some)
	$(BIN)/python -m tipline_local.mutate $(MODULES)

bench: $(VENV)/.ready console/dist/index.html chromium ## run the benchmarks in bench/ (ratios against a floor measured in the same run)
	@for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

demo: $(VENV)/.ready ## with `make dev` running: a scripted scenario and what the citizens saw
	$(BIN)/python -m tipline_local.demo

loadtest: $(VENV)/.ready ## 20,000 webhooks through the local stack (loopback, bounded), then check the invariants
	$(BIN)/python -m tipline_local.loadtest --count 20000 --clients 8 --time-limit 1500

events: $(VENV)/.ready ## regenerate the signed sample events in events/
	$(BIN)/python -m tipline_local.samples

lock: $(VENV)/.ready ## re-pin every dependency (layer for python3.12/arm64, dev for 3.11)
	cd requirements && ../$(UV) pip compile -q runtime.in -o ../layers/requirements.txt -p 3.12 --python-platform aarch64-manylinux2014 --no-header
	cd requirements && ../$(UV) pip compile -q dev.in -c ../layers/requirements.txt -o dev.lock -p 3.11
	cd requirements && ../$(UV) pip compile -q sam.in -o sam.lock -p 3.11
	cd requirements && ../$(UV) pip compile -q checkov.in -o checkov.lock -p 3.11

clean: ## remove virtual environments and build output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .aws-sam-transformed.json .pytest_cache .mypy_cache .ruff_cache \
		console/node_modules console/dist
