# wabot.wasender: every target sets itself up (virtualenv in .venv, pip installs, collection path).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLL_ROOT := $(CURDIR)/build/collections
COLL_LINK := $(COLL_ROOT)/ansible_collections/wabot/wasender
SANITY_ROOT ?= $(CURDIR)/build/sanity/ansible_collections/wabot/wasender
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(COLL_ROOT)
export PYTHONDONTWRITEBYTECODE := 1
# ansible-rulebook (extensions/eda, make demo-eda, tests/integration/test_eda_rulebook.py) runs its rule engine on Java 17+:
# JAVA_HOME from the environment, else from the java on PATH. Without Java the end-to-end EDA tests skip and say why.
JAVA_HOME ?= $(shell j=$$(command -v java 2>/dev/null) && dirname "$$(dirname "$$(readlink -f "$$j")")")
export JAVA_HOME

.PHONY: help setup ssh-tools test pytest sanity lint changelog-lint demo demo-eda bench clean

help:
	@echo "make demo   - start a simulated fleet in an incident state, detect, repair, verify"
	@echo "make demo-eda - Event-Driven Ansible: ansible-rulebook notices a stale session in a bot's log and repairs it"
	@echo "make test   - the whole gate: pytest (unit, simulator contract, integration), ansible-test sanity, ansible-lint, changelog"
	@echo "make bench  - benchmarks; figures go to build/bench/"
	@echo "make clean  - remove .venv and build/"

$(STAMP): pyproject.toml tools/pydeps.py
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $$($(BIN)/python tools/pydeps.py pyproject.toml dev)
	touch $@

$(COLL_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

setup: $(STAMP) $(COLL_LINK)
	@$(BIN)/python tools/install_ansible_test_bootstrap.py

# The SSH fleet tests (tests/integration/test_ssh_fleet.py) need sshd and sudo on this machine: installed here when
# missing and we are root (CI); otherwise those tests skip with the reason.
ssh-tools:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && { [ ! -x /usr/sbin/sshd ] || ! command -v sudo >/dev/null; }; then \
		echo "installing openssh-server and sudo for the SSH fleet tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq openssh-server sudo >/dev/null || { apt-get update -qq && apt-get install -y -qq openssh-server sudo >/dev/null; }; \
	fi

# --dist loadgroup: the SSH fleet tests share one set of machines per worker (xdist_group "ssh_fleet").
pytest: setup ssh-tools
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup tests

# ansible-test wants the collection at .../ansible_collections/wabot/wasender: give it a copy
# of the tracked and untracked-but-not-ignored files, in a git repository of its own (ansible-test
# lists its targets with git; inside this checkout it would see only ignored build/ files).
sanity: setup
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C $(SANITY_ROOT)
	cd $(SANITY_ROOT) && git init -q && git add -A
	cd $(SANITY_ROOT) && $(BIN)/ansible-test sanity --venv --python 3.11 --color no $(SANITY_ARGS)

lint: setup
	$(BIN)/ansible-lint --profile production --offline

# antsibull-changelog: fragments, config and changelogs/changelog.yaml are valid, and CHANGELOG.md is exactly
# what `antsibull-changelog generate` makes of them (generated into build/changelog and compared).
changelog-lint: setup
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	rm -rf build/changelog && mkdir -p build/changelog
	$(BIN)/antsibull-changelog generate --output build/changelog/CHANGELOG.md
	@diff -u CHANGELOG.md build/changelog/CHANGELOG.md || { echo "CHANGELOG.md is not generated from changelogs/: run $(BIN)/antsibull-changelog generate" >&2; exit 1; }

test: pytest sanity lint changelog-lint
	@echo "make test: all gates passed"

demo: setup
	$(BIN)/python tools/demo.py

demo-eda: setup
	$(BIN)/python tools/demo_eda.py

bench: setup ssh-tools
	$(BIN)/python tools/bench.py --out build/bench

clean:
	rm -rf $(VENV) build .pytest_cache
