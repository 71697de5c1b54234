"""The collection declares only what `make test` runs (README "Support matrix")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from ansible.release import __version__ as ANSIBLE_CORE
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
TARGET_PYTHON_FLOOR = (3, 9)  # README "Support matrix": targets need Python 3.9 or newer


def _yaml(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text(encoding="utf-8"))


def test_requires_ansible_is_the_tested_ansible_core_series():
    spec = SpecifierSet(_yaml("meta/runtime.yml")["requires_ansible"])
    assert spec.contains(ANSIBLE_CORE), f"the ansible-core running the tests ({ANSIBLE_CORE}) is outside {spec}"
    for untested in ("2.16.0", "2.17.14", "2.18.9", "2.20.0"):
        assert not spec.contains(untested), f"requires_ansible {spec} admits the untested ansible-core {untested}"


def test_role_meta_declares_the_tested_platform_only():
    info = _yaml("roles/bot_service/meta/main.yml")["galaxy_info"]
    assert str(info["min_ansible_version"]) == ".".join(ANSIBLE_CORE.split(".")[:2])
    assert info["platforms"] == [{"name": "Debian", "versions": ["bookworm"]}]


@pytest.mark.parametrize(
    "path",
    sorted(str(p.relative_to(REPO)) for p in (REPO / "plugins").glob("module*/*.py")),
)
def test_target_code_parses_with_the_declared_python_floor(path):
    """Modules and module_utils run on the bot hosts: no syntax newer than the declared floor (match, except*, ...)."""
    ast.parse((REPO / path).read_text(encoding="utf-8"), filename=path, feature_version=TARGET_PYTHON_FLOOR)
