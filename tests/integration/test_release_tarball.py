"""The release tarball and the execution environment built from it.

* ``ansible-galaxy collection build`` in a working checkout full of an operator's files (inventories,
  ``.ansible/``, reports, vault password files, dotenv files, earlier tarballs, ...) ships none of them
  and every file of the collection (galaxy.yml ``build_ignore``);
* that tarball, installed offline into an empty collections path, runs ``wabot.wasender.health`` and
  ``wabot.wasender.reset`` on the simulated fleet, resolved from the installed copy only;
* ``ansible-builder create`` turns ``execution-environment.yml`` into a complete build context (the image
  itself needs podman or docker, which the test machines lack).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from playbook_helpers import BIN, REPO, parse_recap, read_json
from tests.integration.ansible_runner import ansible_env

pytestmark = [pytest.mark.integration]

GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"

# Files an operator or a build leaves in a working checkout: none may reach the tarball.
OPERATOR_FILES = {
    "inventory.yml": "all:\n  hosts:\n    prod-bot-1:\n      wabot_wasender_api_token: real-token\n",
    "inventory-prod.yml": "all: {}\n",
    "inventory.yaml": "all: {}\n",
    "group_vars/all.yml": "wabot_jwt_secret: real-secret\n",
    "host_vars/prod-bot-1.yml": "wabot_db_path: /opt/bot/db.sqlite\n",
    ".ansible/collections/ansible_collections/.keep": "",
    ".ansible/tmp/ansible-local-1/x": "",
    "reports/x.json": "{}\n",
    "reports/qr/prod-bot-1/dr@example.com.png": "png",
    ".vault_pass": "vault-password\n",
    ".vault_pass.txt": "vault-password\n",
    ".vault-password": "vault-password\n",
    "vault_password.txt": "vault-password\n",
    "vault-pass": "vault-password\n",
    "playbooks/vault_pass.txt": "vault-password\n",
    ".env": "WASENDER_API_TOKEN=real-token\n",
    "backend.env": "JWT_SECRET=real-secret\n",
    "whatsapp_bot.db": "SQLite format 3\x00",
    "reset.retry": "prod-bot-1\n",
    "ansible.log": "log\n",
    "collections/ansible_collections/wabot/wasender/galaxy.yml": "namespace: wabot\n",
    "context/Containerfile": "FROM scratch\n",
    "artifacts/job/stdout": "",
    "build/collections/x": "",
    ".venv/bin/python": "",
    ".pytest_cache/v/cache/lastfailed": "{}\n",
    "plugins/modules/__pycache__/session.cpython-311.pyc": "",
    "tests/output/junit.xml": "",
    "wabot-wasender-1.0.0.tar.gz": "",
    "site-backup.tar.gz": "",
    "changelogs/.plugin-cache.yaml": "{}\n",
    ".github/workflows/ci.yml": "on: push\n",
    # The same below the top level (build_ignore patterns are fnmatch'ed against the relative path: "reports"
    # alone matches only ./reports): ansible-playbook run from playbooks/ writes its reports and QR codes there,
    # inventories and secrets kept next to the playbooks or a role, the session module's qr_path anywhere.
    "playbooks/reports/health.json": "{}\n",
    "playbooks/reports/qr/prod-bot-1/dr@example.com.png": "png",
    "playbooks/wabot-qr.png": "png",
    "wabot-qr.png": "png",
    "playbooks/inventory.yml": "all:\n  hosts:\n    prod-bot-1:\n      wabot_wasender_api_token: real-token\n",
    "playbooks/inventory-prod.ini": "prod-bot-1\n",
    "playbooks/hosts": "prod-bot-1\n",
    "playbooks/group_vars/all.yml": "wabot_jwt_secret: real-secret\n",
    "playbooks/host_vars/prod-bot-1.yml": "wabot_db_path: /opt/bot/db.sqlite\n",
    "playbooks/.ansible/tmp/x": "",
    "playbooks/collections/ansible_collections/.keep": "",
    "playbooks/artifacts/job/stdout": "",
    "playbooks/reset.retry": "prod-bot-1\n",
    "playbooks/.vault_pass": "vault-password\n",
    "playbooks/.env": "WASENDER_API_TOKEN=real-token\n",
    "roles/bot_service/.env.production": "JWT_SECRET=real-secret\n",
    "playbooks/id_ed25519": "key\n",
}
# Files of the checkout that only serve development and CI, not an installed collection.
DEV_ONLY_PREFIXES = (".ci/", "tools/", ".git")
# ansible-galaxy replaces galaxy.yml with MANIFEST.json and FILES.json.
REPLACED = {"galaxy.yml"}


def _run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}: rc={proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _source_files() -> list[str]:
    """The checkout's files as a fresh clone has them (tracked, plus new files not ignored by .gitignore)."""
    if not (REPO / ".git").exists():
        pytest.skip("needs a git checkout of the collection")
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    return sorted({name for name in out.split("\0") if name and (REPO / name).is_file()})


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> dict:
    """A copy of the checkout with operator files in it, and the tarball ansible-galaxy builds from it."""
    root = tmp_path_factory.mktemp("release")
    checkout = root / "ansible_collections" / "wabot" / "wasender"
    files = _source_files()
    for name in files:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    for name, text in OPERATOR_FILES.items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(text, encoding="utf-8")
    dist = root / "dist"
    _run([str(BIN / "ansible-galaxy"), "collection", "build", str(checkout), "--output-path", str(dist)], env=ansible_env())
    tarball = dist / TARBALL
    assert tarball.is_file(), sorted(p.name for p in dist.iterdir())
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
    return {"checkout": checkout, "tarball": tarball, "files": files, "members": members}


def test_the_tarball_holds_the_collection_and_no_operator_or_build_file(release):
    members = release["members"]
    # A planted file, or a directory that only holds planted files (.ansible/, reports/, ...).
    leaked = sorted(name for name in members if any(name == p or p.startswith(name.rstrip("/") + "/") for p in OPERATOR_FILES))
    leaked = [name for name in leaked if not any(f.startswith(name.rstrip("/") + "/") for f in release["files"])]
    assert not leaked, f"operator or build files in {TARBALL}: {leaked}"
    for name in members:
        assert not any(part in {".ansible", "__pycache__", ".pytest_cache", ".venv"} for part in name.split("/")), name
        assert not name.endswith((".tar.gz", ".retry", ".pyc", ".log", ".db", ".png")), name
    # Nested operator files: the reports directory the playbooks write when run from playbooks/, and QR codes.
    for name in ("playbooks/reports", "playbooks/reports/qr/prod-bot-1/dr@example.com.png", "playbooks/wabot-qr.png", "playbooks/inventory.yml"):
        assert name not in members, name

    expected = {name for name in release["files"] if not name.startswith(DEV_ONLY_PREFIXES) and name not in REPLACED}
    missing = sorted(expected - set(members))
    assert not missing, f"files of the collection missing from {TARBALL}: {missing}"
    for name in ("MANIFEST.json", "FILES.json", "plugins/modules/session.py", "playbooks/reset.yml", "inventory.example",
                 # Event-Driven Ansible content ships with the collection: ansible-rulebook finds it in the installed copy
                 "extensions/eda/plugins/event_source/bot_log.py", "extensions/eda/plugins/event_source/session_poll.py",
                 "extensions/eda/rulebooks/stale_sessions.yml", "roles/notify/tasks/main.yml", "playbooks/notify.yml"):
        assert name in members, name
    # Only regular files and directories (no links into the operator's checkout).
    assert all(m.isfile() or m.isdir() for m in members.values())


def _installed_env(tmp_path: Path, collections: Path) -> dict[str, str]:
    """ansible with only ``collections`` as collections path: no checkout, no build/collections, no sys.path scan."""
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(
        "[defaults]\n"
        f"collections_path = {collections}\n"
        "collections_scan_sys_path = False\n"
        f"roles_path = {tmp_path / 'no-roles'}\n"
        "host_key_checking = False\nretry_files_enabled = False\ninterpreter_python = auto_silent\nforks = 20\n",
        encoding="utf-8",
    )
    return ansible_env(
        {
            "ANSIBLE_CONFIG": str(cfg),
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
            "ANSIBLE_ROLES_PATH": str(tmp_path / "no-roles"),
            "ANSIBLE_GALAXY_SERVER": "http://127.0.0.1:9/",  # nothing to fetch: a Galaxy call would fail loudly
        }
    )


def _playbook(name: str, fleet, env: dict[str, str], cwd: Path, extra_vars: dict) -> tuple[subprocess.CompletedProcess, dict]:
    cmd = [str(BIN / "ansible-playbook"), f"wabot.wasender.{name}", "-i", fleet.inventory_path, "-e", json.dumps(extra_vars), "-vv"]
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=240, check=False)
    return proc, parse_recap(proc.stdout)


@pytest.mark.slow
def test_the_installed_tarball_runs_health_and_reset(release, incident_fleet, tmp_path):
    fleet = incident_fleet
    collections = tmp_path / "collections"
    collections.mkdir()
    env = _installed_env(tmp_path, collections)
    _run([str(BIN / "ansible-galaxy"), "collection", "install", str(release["tarball"]), "-p", str(collections), "--offline"], env=env, cwd=tmp_path)
    installed = collections / "ansible_collections" / "wabot" / "wasender"
    assert json.loads((installed / "MANIFEST.json").read_text(encoding="utf-8"))["collection_info"]["version"] == GALAXY["version"]
    assert not (installed / "inventory.yml").exists() and not (installed / ".ansible").exists()

    # ansible resolves wabot.wasender to the installed copy, and to nothing else.
    listing = json.loads(_run([str(BIN / "ansible-galaxy"), "collection", "list", "--format", "json"], env=env, cwd=tmp_path).stdout)
    homes = {path for path, found in listing.items() if "wabot.wasender" in found}
    assert homes == {str(collections / "ansible_collections")}, listing

    reports = tmp_path / "reports"
    health, recap = _playbook("health", fleet, env, tmp_path, {"reports_dir": str(reports)})
    assert health.returncode == 0, health.stdout[-8000:] + health.stderr[-4000:]
    assert re.search(rf"^\d+ plays? in {re.escape(str(installed / 'playbooks' / 'health.yml'))}$", health.stdout, re.M), health.stdout[:4000]
    assert set(recap) == set(fleet.hosts) and not any(c.get("failed") or c.get("unreachable") for c in recap.values()), recap
    statuses = {h["host"]: h["status"] for h in read_json(reports / "health.json")["hosts"]}
    assert statuses == {"bot-a": "ok", "bot-b": "stale", "bot-c": "stale"}

    stale = {(h.name, u.email): u.session_id for h in fleet.bots for u in h.users if u.state == "stale"}
    reset, recap = _playbook("reset", fleet, env, tmp_path, {"reports_dir": str(reports), "verify_timeout": 0})
    assert reset.returncode == 0, reset.stdout[-8000:] + reset.stderr[-4000:]
    assert re.search(rf"^\d+ plays? in {re.escape(str(installed / 'playbooks' / 'reset.yml'))}$", reset.stdout, re.M), reset.stdout[:4000]
    report = read_json(reports / "reset.json")
    assert report["users_reset"] == len(stale) == 3 and report["failed_hosts"] == [], report
    for (host, email), old in stale.items():
        new = fleet.hosts[host].stored_session_id(email)
        assert new and new != old, (host, email, old, new)


# --- execution environment -------------------------------------------------------------------------

EE_FILE = "execution-environment.yml"
SHELL_SPECIAL = set("<>|;&$`\"' ")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_execution_environment_matches_the_tested_controller():
    ee = yaml.safe_load((REPO / EE_FILE).read_text(encoding="utf-8"))
    assert ee["version"] == 3
    deps = ee["dependencies"]
    runtime = {Requirement(spec).name: Requirement(spec) for spec in _pyproject()["dependencies"]}
    core = Requirement(deps["ansible_core"]["package_pip"])
    assert core.name == "ansible-core"
    # The same ansible-core series as pyproject.toml (and meta/runtime.yml): only 2.19 is tested.
    for version, allowed in (("2.18.9", False), ("2.19.0", True), ("2.19.14", True), ("2.20.0", False)):
        assert core.specifier.contains(version) is allowed, (str(core), version)
        assert runtime["ansible-core"].specifier.contains(version) is allowed, (str(runtime["ansible-core"]), version)
    # ansible-builder writes these into an unquoted shell word of the Containerfile (ARG ANSIBLE_INSTALL_REFS).
    for key in ("ansible_core", "ansible_runner"):
        assert not SHELL_SPECIAL & set(deps[key]["package_pip"]), f"{key}: {deps[key]['package_pip']!r} breaks the pip install RUN line"
    # Every other controller dependency of pyproject.toml, with the same bounds.
    python = {Requirement(spec).name: Requirement(spec) for spec in deps["python"]}
    assert {name: str(req.specifier) for name, req in python.items()} == {
        name: str(req.specifier) for name, req in runtime.items() if name != "ansible-core"
    }
    assert deps["python_interpreter"]["python_path"].endswith("python3.11")
    # The collection goes in as the tarball of galaxy.yml's version, never fetched from Galaxy.
    (collection,) = deps["galaxy"]["collections"]
    assert collection["type"] == "file" and collection["name"].endswith("/" + TARBALL), collection
    (extra,) = ee["additional_build_files"]
    assert Path(extra["src"]).name == TARBALL and collection["name"] == f"{extra['dest']}/{TARBALL}", (extra, collection)


def test_ansible_builder_create_writes_a_complete_build_context(release, tmp_path):
    builder = BIN / "ansible-builder"
    if not builder.exists():
        pytest.fail("ansible-builder is missing from the virtualenv: run make setup (pyproject.toml dev dependencies)")
    ee = yaml.safe_load((REPO / EE_FILE).read_text(encoding="utf-8"))
    checkout = release["checkout"]
    shutil.copy2(REPO / EE_FILE, checkout / EE_FILE)
    # The README's steps: build the tarball where execution-environment.yml expects it, then create the context.
    src = checkout / ee["additional_build_files"][0]["src"]
    src.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(release["tarball"], src)
    context = tmp_path / "context"
    _run([str(builder), "create", "-f", EE_FILE, "-c", str(context), "--output-filename", "Containerfile"], env=ansible_env(), cwd=checkout)

    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert f'ARG EE_BASE_IMAGE="{ee["images"]["base_image"]["name"]}"' in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    refs = next(line for line in containerfile.splitlines() if line.startswith("ARG ANSIBLE_INSTALL_REFS="))
    assert ee["dependencies"]["ansible_core"]["package_pip"] in refs and ee["dependencies"]["ansible_runner"]["package_pip"] in refs
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    assert "introspect --user-pip=requirements.txt" in containerfile

    build = context / "_build"
    galaxy = yaml.safe_load((build / "requirements.yml").read_text(encoding="utf-8"))
    assert galaxy == {"collections": [{"name": f"collections/{TARBALL}", "type": "file"}]}
    shipped = build / "collections" / TARBALL
    assert shipped.read_bytes() == release["tarball"].read_bytes()
    with tarfile.open(shipped) as tar:
        assert "MANIFEST.json" in tar.getnames() and "inventory.yml" not in tar.getnames()
    python = [line for line in (build / "requirements.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert python == ee["dependencies"]["python"]
    for script in ("assemble", "check_ansible", "check_galaxy", "entrypoint", "install-from-bindep", "introspect.py", "pip_install"):
        assert (build / "scripts" / script).is_file(), script
