# churn-service: one definition of every gate, run the same way locally and in CI.
# `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
VENV_PY := $(VENV)/bin/python

# The tests start their `python -m` processes from one pre-imported launcher (src/launcher.py + src/fork_server.py,
# docs/ci.md); LAUNCHER=0 turns it off for any target (make test LAUNCHER=0): every process a plain fresh interpreter.
ifeq ($(LAUNCHER),0)
export CHURN_LAUNCHER := 0
endif
# Under `make test` (CHURN_LAUNCHER names the suite's launcher) a target's `python -m` forks from it
# (src/fork_client.py); anywhere else $(PY) is the venv's interpreter, and the commands are the same.
ifneq ($(filter-out 0,$(CHURN_LAUNCHER)),)
PY := $(VENV_PY) -m src.fork_client $(CHURN_LAUNCHER)
else
PY := $(VENV_PY)
endif
PYTEST := $(PY) -m pytest -p no:cacheprovider

.DEFAULT_GOAL := help
.PHONY: help venv run serve test lint unit data model service surfaces docs report bench dataset train clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(VENV_PY) || $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "make venv: $(PYTHON)" \
	  "is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'), this project needs 3.11" \
	  "(requires-python in pyproject.toml): install python3.11, then make venv PYTHON=python3.11" >&2; exit 1; }
	@test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed ## create .venv from the pinned requirements (only when they change)

# The optional MLflow registry client (docs/gate.md "Same gate, different provenance"); never in the image.
$(VENV)/.registry-installed: $(VENV)/.installed requirements-registry.txt
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r requirements-registry.txt
	@touch $@

.PHONY: registry-venv register registry
registry-venv: $(VENV)/.registry-installed ## add the optional registry extra (requirements-registry.txt) to .venv

HOST ?= 127.0.0.1
PORT ?= 8000
# The curl `make serve` prints, with the contract's example customer (src/schema.py EXAMPLE_CUSTOMER).
TRY_CURL = import json; from src.schema import EXAMPLE_CUSTOMER; q = chr(39); \
  print(f"  curl -s http://$(HOST):$(PORT)/predict -H {q}Content-Type: application/json{q} -d {q}{json.dumps(EXAMPLE_CUSTOMER)}{q}")

.PHONY: example
example: venv ## print the contract's example customer as a /predict body (src/schema.py EXAMPLE_CUSTOMER)
	@$(PY) -c 'import json; from src.schema import EXAMPLE_CUSTOMER; print(json.dumps(EXAMPLE_CUSTOMER))'

run: venv ## the gated pipeline: data tests -> train -> quality gate -> metrics table, then serve it
	$(PYTEST) -q tests/data
	$(PYTEST) -q tests/model
	@$(PY) -m src.report
	@$(MAKE) --no-print-directory serve

# ARTIFACT_DIR (where `make model` wrote the pair) or MODEL_PATH picks the model; the repository root by default.
SERVE_DIR = $(or $(ARTIFACT_DIR),.)
SERVE_MODEL = $(or $(MODEL_PATH),$(SERVE_DIR)/model_candidate.skops)
NO_MODEL = no gated model at $(SERVE_MODEL): run `make model` (or `make run`) to train and gate one
GATE_FAILED = no gated model at $(SERVE_MODEL): the last gate run failed (its record is \
  $(SERVE_DIR)/rejected/metrics.json); `make report` shows which check; fix it, then `make model`

.PHONY: serve-check
serve-check: # the model check runs before serve's recipe is expanded, so no "serving" line precedes a refusal
	@test -f $(SERVE_MODEL) || { \
	  if test -f $(SERVE_DIR)/rejected/metrics.json; then echo '$(GATE_FAILED)' >&2; else echo '$(NO_MODEL)' >&2; fi; exit 1; }

serve: venv serve-check ## serve the gated model_candidate.skops (of ARTIFACT_DIR, default the root) on HOST:PORT
	@echo "serving the gated model $(SERVE_MODEL) on http://$(HOST):$(PORT)  (Ctrl-C stops it). Try:"
	@$(PY) -c '$(TRY_CURL)'
	MODEL_PATH=$(abspath $(SERVE_MODEL)) $(PY) -m uvicorn app.main:app --host $(HOST) --port $(PORT) --no-access-log \
	  --http app.server:BoundedHttpToolsProtocol

SURFACES := lint unit data model service surfaces registry deploy pages labs docs
# The surfaces after the gate (model) wait on real processes more than they compute: LANES of them run at once
# (on 2 cores three lanes keep both cores busy; docs/ci.md has the figures), and once lint is green one lane
# already runs them, shortest first, beside unit, data and model (one process, one core), printed after the gate;
# after the gate that lane goes on from the short end while the LANES start from the long end.
LANES ?= 3

test: venv ## every surface, cheapest first (after lint one beside the gate, after it LANES=3 at once), stopping at the first red one; wall times to .bench/
	@$(PY) -m tools.suite --lanes $(LANES) $(SURFACES)

lint: venv ## ruff lint + format; hadolint (Dockerfile); compose spec (compose.yaml); actionlint + zizmor (workflows)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(VENV)/bin/actionlint $(wildcard .github/workflows/*.yml .github/workflows/*.yaml)
	$(VENV)/bin/zizmor --offline --quiet .github/workflows/

unit: venv ## tests/unit: the code, in-process (features, metrics, training, artifacts, the API); seconds
	$(PYTEST) tests/unit

data: venv ## tests/data: is the snapshot (CHURN_DATA) fit to train on? (short tracebacks: the hint, not the stack)
	$(PYTEST) --tb=short tests/data

model: venv $(if $(findstring models:/,$(MODEL)),registry-venv) ## tests/model: train once and judge; MODEL=path|models:/churn@candidate judges that model instead
	$(if $(MODEL),$(PY) -m src.gate --model "$(MODEL)",$(PYTEST) tests/model)

service: venv ## tests/service: the code as real processes (uvicorn serving the API, the CLIs as make and workflows run them)
	$(PYTEST) tests/service

surfaces: venv ## tests/surfaces: the gates tested: a broken snapshot or model turns exactly its named test red
	$(PYTEST) tests/surfaces

docs: venv system-deps ## tests/docs: every shell block README and docs/ mark runnable, run as written on a fresh copy
	$(PYTEST) tests/docs

register: registry-venv ## log + register the gated pair in the MLflow registry (.mlflow/), alias candidate (MODEL=, ALIAS=)
	@$(PY) -m src.registry register $(if $(MODEL),--model "$(MODEL)") $(if $(ALIAS),--alias "$(ALIAS)")

registry: registry-venv ## tests/registry: register -> pull by alias -> gate, on a real local MLflow registry
	$(PYTEST) tests/registry

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps: ## install the system packages the tests need (nginx; prometheus with promtool; chromium), if missing
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx; }
	@command -v promtool >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends prometheus; }
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

# pytest-xdist's options for N workers (forked from the launcher under make test, tools/xdist_worker.py); none for 1.
xdist = $(if $(filter-out 1,$(1)),-n $(1) --dist load)
# tests/deploy waits on real processes (traffic windows, Prometheus scrapes, nginx timeouts) more than it computes:
# DEPLOY_WORKERS pytest workers (pytest-xdist) share its tests; DEPLOY_WORKERS=1 runs them in one process, in order.
DEPLOY_WORKERS ?= 2
deploy: venv system-deps ## tests/deploy: nginx stages, shadow, canary, rollout as real processes; the k8s export
	$(PYTEST) $(call xdist,$(DEPLOY_WORKERS)) tests/deploy

.PHONY: pages
pages: venv system-deps ## tests/pages: the model card and drift page drawn by their CLIs in a real headless Chromium
	$(PYTEST) tests/pages

# The local stack (docs/deployment.md "The local stack"): make stack-up MODE=canary CANARY_PERCENT=5 ...
STACK_VARS := MODE CANARY_PERCENT CANARY_STICKY STABLE_MODEL CANDIDATE_MODEL STACK_PORT STABLE_PORT CANDIDATE_PORT \
	SHADOW_TIMEOUT STACK_DIR PROMETHEUS_PORT
export $(STACK_VARS)

ROLLOUT_VARS := ROLLOUT_STEPS ROLLOUT_WINDOW_REQUESTS ROLLOUT_MAX_REQUESTS ROLLOUT_MIN_REQUESTS \
	ROLLOUT_INCONCLUSIVE_RETRIES ROLLOUT_INCONCLUSIVE_WAIT_S ROLLOUT_TRAFFIC ROLLOUT_ANALYSIS PROD_METRICS CHURN_DATA
export $(ROLLOUT_VARS)

.PHONY: system-deps deploy stack-up stack-set stack-status stack-down rollout
stack-up: venv ## start stable + candidate + nginx (+ Prometheus) on 127.0.0.1:STACK_PORT (MODE, CANARY_PERCENT, STABLE_MODEL, ...)
	@$(PY) -m deploy.stack up

stack-set: venv ## switch the running stack's stage (no nginx reload): make stack-set MODE=canary CANARY_PERCENT=25
	@$(PY) -m deploy.stack set $(if $(MODE),--mode $(MODE)) $(if $(CANARY_PERCENT),--percent $(CANARY_PERCENT))

stack-status: venv ## what the running stack's nginx serves now
	@$(PY) -m deploy.stack status

stack-down: venv ## stop everything stack-up started
	@$(PY) -m deploy.stack down

rollout: venv ## shadow -> canary 5/25/50/100 -> promote, or roll back: make rollout STABLE_MODEL=... CANDIDATE_MODEL=...
	@$(PY) -m deploy.rollout

report: venv ## print the metrics and gate table of the last gated model (CHARTS=mermaid: and the card's charts)
	@$(PY) -m src.report $(if $(filter mermaid,$(CHARTS)),--mermaid)

REPORT_HTML ?= reports/model-card.html
.PHONY: report-html
report-html: venv ## the last gate run's model card as one self-contained HTML page (REPORT_HTML, default reports/model-card.html)
	@$(PY) -m src.report --html "$(REPORT_HTML)"

train: venv ## train once without the gate, into artifacts/ungated (python -m src.train)
	$(PY) -m src.train

dataset: venv ## regenerate data/churn.csv from its seed (identical bytes)
	$(PY) -m src.make_dataset

BASELINE_REF ?= 93c4c24
bench: venv ## print timing and quality figures beside BASELINE_REF's (never runs the tests; HTTP needs wrk)
	$(PY) -m benchmarks.pipeline
	$(PY) -m benchmarks.service --baseline $(BASELINE_REF)
	$(PY) -m benchmarks.hot_frames --baseline $(BASELINE_REF)
	$(PY) -m benchmarks.stack
	$(PY) -m benchmarks.drift
	$(PY) -m benchmarks.hostile
	$(PY) -m benchmarks.suite
	$(PY) -m benchmarks.launch

clean: ## remove the venv, caches and local artifacts
	rm -rf $(VENV) .pytest_cache .ruff_cache .bench .stack model_candidate.skops metrics.json model.sig rejected reports
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: ci
ci: venv ## run CI's gates job here, in ci.yml's order, and print its summary table
	@$(PY) -m tools.ci_local

.PHONY: config-doc
config-doc: venv ## regenerate docs/configuration.md from the settings classes
	@$(PY) -m tools.config_doc

# docker compose (docs/deployment.md "docker compose"): the same topology in containers. `make container` needs a Docker engine.
COMPOSE_VARS := STABLE_DIR CANDIDATE_DIR NGINX_MODE COMPOSE_PROJECT_NAME CHURN_IMAGE
export $(COMPOSE_VARS)

.PHONY: compose-up compose-set compose-down container
compose-up: venv ## check the artifact folders, build the image once (commit + AUC labels), start compose (MODE, BUILD=no, ...)
	@NGINX_MODE=$(or $(MODE),$(NGINX_MODE)) $(PY) -m deploy.compose up $(if $(filter no,$(BUILD)),--no-build)

compose-set: venv ## switch compose's stage in place (no reload, no request dropped): make compose-set MODE=canary CANARY_PERCENT=25
	@$(PY) -m deploy.compose set $(if $(MODE),--mode $(MODE)) $(if $(CANARY_PERCENT),--percent $(CANARY_PERCENT))

compose-down: venv ## stop and remove what compose-up started
	@$(PY) -m deploy.compose down

container: venv ## tests/container: the image and compose on a real Docker engine (not part of make test)
	$(PYTEST) tests/container

.PHONY: drift
drift: venv ## recent predictions vs the training snapshot (PSI per input): make drift LOG=path
	@test -n "$(LOG)" || { echo "usage: make drift LOG=path/to/prediction.log" >&2; exit 2; }
	$(PY) -m src.drift --log "$(LOG)"

# Course labs (docs/lab.md): seeded faults, each caught by its own surface, graded offline.
.PHONY: labs lab-matrix lab-list lab-start lab-check lab-reset
# tests/labs clones the course for each lab and waits on git and pytest in the clones: LABS_WORKERS pytest workers
# share its tests (each with its own course copy and verdict cache); LABS_WORKERS=1 runs them in one process, in order.
LABS_WORKERS ?= 2
labs: venv ## tests/labs: every lab seeded and solved; code, data and model labs graded end to end; the CLI; the export
	$(PYTEST) $(call xdist,$(LABS_WORKERS)) tests/labs

lab-matrix: venv system-deps ## tests/lab_matrix: every lab caught by its own surface in the full and quick check, then solved (minutes)
	$(PYTEST) -v -s --durations=0 tests/lab_matrix

lab-list: venv ## the labs: id, the surface that catches it, difficulty, minutes
	@$(PY) -m labs list

lab-start: venv ## seed a lab on a new branch lab/LAB: make lab-start LAB=imputation-removed
	@test -n "$(LAB)" || { echo "usage: make lab-start LAB=id (make lab-list)" >&2; exit 2; }
	@$(PY) -m labs start "$(LAB)"

lab-check: venv ## grade the running lab (Points X/100; exit 0 only when solved)
	@$(PY) -m labs check

lab-reset: venv ## leave the lab: back to the branch it started from, lab branch deleted
	@$(PY) -m labs reset
