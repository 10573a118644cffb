# The two commands: `make run` (the whole system, locally) and `make test`.
# Both set up everything they need: a venv with the package, the control
# plane's binaries (built from Go once, cached in ~/.cache/tawa) and PostgreSQL.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
UV     := uv==0.9.5
# dockerd, debootstrap and runc live in sbin, which a non-login shell's PATH may lack.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: help install lock controlplane postgres docker-engine browser screenshots image docker-stop run stop lint typecheck test test-unit test-wallet crds manifests check-manifests helm-lint test-install \
        bench-wallet bench-janus bench-operator soak clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# The locked set (hashes checked), then tawa itself with no dependency of its own choosing:
# a new release of anything cannot change what a clean clone installs.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)  ## the venv with tawa and its test tools, as requirements.lock pins them

lock: install  ## upgrade requirements.lock to the newest releases pyproject.toml allows (with hashes)
	test -x $(BIN)/uv || $(BIN)/pip install -q '$(UV)'
	printf 'setuptools>=77\n' | $(BIN)/uv pip compile pyproject.toml - --extra test --upgrade --generate-hashes \
	  --universal --python-version 3.11 --custom-compile-command 'make lock' -q -o $(LOCK)

controlplane: install  ## build (first time, ~9 min) or find etcd, kube-apiserver, controllers, kwok
	$(BIN)/python -m tawa.devcluster.build

postgres:  ## PostgreSQL's server binaries, for the wallet's PostgreSQL tests
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

docker-engine:  ## the Docker engine and debootstrap (Debian's docker.io), for the image and its tests
	@command -v dockerd >/dev/null && command -v debootstrap >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null) || \
	  echo "docker-engine: could not install docker.io and debootstrap (apt-get, as root): no image here"

browser:  ## Debian's chromium and chromedriver, for the console's browser tests
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	  echo "browser: could not install chromium and chromium-driver (apt-get, as root): the browser tests will fail"

screenshots: install browser  ## regenerate docs/console/*.png: the console's pages, from its browser test
	TAWA_CONSOLE_SCREENSHOTS=docs/console $(BIN)/pytest -q tests/console/test_console_browser.py

image: install docker-engine  ## build the image, no registry needed; last lines: DOCKER_HOST=... and IMAGE=...
	$(BIN)/python -m tawa.devcluster.image

docker-stop: install  ## stop the Docker daemon that `make image` or the tests started
	$(BIN)/python -m tawa.devcluster.docker stop

run: controlplane  ## start the local stack, deploy examples/ and tell the story
	$(BIN)/tawa dev up --detach
	$(BIN)/tawa dev demo

stop: install  ## stop everything `make run` started and delete its cluster and wallet together (logs stay)
	$(BIN)/tawa dev down

lint: install  ## ruff over the code, tests and benchmarks, then lint-imports: the import rules of docs/architecture.md (pyproject.toml)
	$(BIN)/ruff check operator tests benchmarks scripts
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: install  ## mypy --strict over the package (settings in pyproject.toml)
	$(BIN)/mypy

test: lint typecheck controlplane postgres docker-engine browser  ## ruff and mypy, then every test: unit, the real control plane, wallet, Janus, PostgreSQL, the image, the console in a browser
	$(BIN)/pytest -q

test-unit: install  ## the fast tests, no servers
	$(BIN)/pytest -q tests/unit

test-wallet: postgres install  ## the wallet's tests only (SQLite and PostgreSQL)
	$(BIN)/pytest -q tests/unit/test_wallet_*.py tests/integration/test_wallet_*.py

crds: install  ## regenerate crds/ from the pydantic models, then the chart's copy and manifests/
	$(BIN)/python -m tawa.catalog.crd > crds/components.tawa.insureco.io.yaml
	$(BIN)/python scripts/render_manifests.py

manifests: install  ## re-render manifests/ from the chart (and copy the CRD into it)
	$(BIN)/python scripts/render_manifests.py

check-manifests: install  ## fail if manifests/ or the chart's CRD drifted
	$(BIN)/python scripts/render_manifests.py --check

helm-lint: install  ## helm lint --strict (helm is built from its Go module once, cached)
	$$($(BIN)/python -m tawa.devcluster.build helm) lint --strict helm/tawa --set 'operator.watchNamespaces={example-prod}'

test-install: controlplane  ## the chart, manifests/ and RBAC against the real control plane
	$(BIN)/pytest -q tests/unit/test_chart.py tests/integration/test_install.py tests/integration/test_install_alerts.py

bench-wallet: install postgres  ## settlements/s on SQLite and PostgreSQL
	$(BIN)/python benchmarks/wallet_bench.py

bench-janus: install  ## Janus vs direct vs nginx
	$(BIN)/python benchmarks/janus_bench.py

bench-operator: controlplane  ## 1,000 Components across 50 orgs: time to Deployments, RSS, hosting tick
	$(BIN)/python benchmarks/operator_bench.py

soak: controlplane postgres  ## kill -9 operator, Janus and wallet under load, then check every charge
	$(BIN)/python benchmarks/soak.py

clean:  ## remove the venv (the control-plane cache in ~/.cache/tawa stays)
	rm -rf $(VENV)
