"""A fleet of real hosts on this machine, reached over SSH: network namespaces, sshd, a deploy user, service users.

Needs root and ``ip netns`` (iproute2), ``/usr/sbin/sshd`` (openssh-server), ``sudo``, ``setpriv``, ``useradd``.

``SshInfra`` (one per test session and xdist worker) builds the machines:

* a bridge ``wbb<N>`` in the root namespace with ``10.213.<N>.1/24`` (N: the lowest subnet no interface uses, chosen
  under a lock, so two workers or two checkouts never collide), where the Wasender fake listens;
* per host ``i`` a network namespace ``wabot<N>h<i>`` with ``lo`` up and ``eth0`` (a veth whose other end ``wbv<N>x<i>``
  is on the bridge) at ``10.213.<N>.<10+i>``; its own ``sshd`` (own config, host key, pid file; key authentication for
  the deploy user only) listening on that address;
* a ``deploy`` user ``wbdep<N>`` (key authentication, passwordless sudo through ``/etc/sudoers.d``) and per host a
  service user ``wbsvc<N>h<i>`` that owns the bot's files and runs it;
* a world-readable staging directory (``/tmp/wabot-ssh-*``): a copy of the simulator's code and segno for the bots
  (a checkout may be 0700), the users' homes, the ssh keys and configs, and the fleets' directories.

``SshFleet`` (per test) is a ``tests.sim.fleet.Fleet`` on those machines: the Wasender fake on the bridge address, one
bot per namespace on ``127.0.0.1:3001`` (the reset guide's URL, the same on every host) running as the host's service
user, its ``backend/`` owned by that user (``.env`` 0600, database directory 0700, database 0600), and an inventory
that reaches the hosts as the deploy user with ``become`` to the service user.

Faults of a real network: ``SshFleet.stop_sshd(name)`` (sshd and its sessions killed: connection refused),
``SshFleet.cut_link(name)`` (the host's veth down: packets vanish). ``SshFleet.stop()`` repairs both, kills every
process of the service users in the namespaces and the controller's ssh multiplexing masters of this fleet;
``SshInfra.teardown()`` removes namespaces, bridge, users, sudoers file and staging directory. Both are idempotent
and meant for ``finally`` blocks.
"""

from __future__ import annotations

import fcntl
import glob
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from tests.sim.fleet import REPO_ROOT, BotHost, Fleet, HostSpec, WasenderControl, to_yaml
from tests.sim.httpkit import pid_alive

SUBNET_PREFIX = "10.213"
LOCK_PATH = "/run/wabot-sshfleet.lock"
SSHD = "/usr/sbin/sshd"
OWNER_FILE = "owner"  # in the staging dir: "<pid of the process that built the machines> <number of hosts>"
BOT_PORT = 3001  # the reset guide's URL, http://127.0.0.1:3001, on every host
TARGET_PYTHON = "/usr/bin/python3.11"
SSH_OPTIONS = (
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    " -o ConnectTimeout=5 -o ServerAliveInterval=2 -o ServerAliveCountMax=2"
)


def unavailable_reason() -> str:
    """Why the SSH fleet cannot be built here ('' when it can)."""
    if os.geteuid() != 0:
        return "the SSH fleet needs root (network namespaces, users, sshd); CI runs the tests as root"
    for tool in ("ip", "setpriv", "useradd", "userdel", "ssh", "ssh-keygen", "sudo", "visudo"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"the SSH fleet needs {tool} (make setup installs openssh-server and sudo when missing)"
    if not os.path.exists(SSHD):
        return f"the SSH fleet needs {SSHD} (openssh-server; make setup installs it when missing)"
    if not os.path.exists(TARGET_PYTHON):
        return f"the SSH fleet's hosts run {TARGET_PYTHON}, which is missing"
    probe = f"wabotprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"ip netns is not available here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return ""


def sh(*cmd: str, check: bool = True, netns: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = (["ip", "netns", "exec", netns] if netns else []) + list(cmd)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def netns_inode(name: str) -> int:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return 0


def pids_in_netns(name: str, uids: set[int] | None = None, exe: str | None = None) -> list[int]:
    """Processes whose network namespace is ``name`` (optionally only these owners, only this executable)."""
    inode = netns_inode(name)
    if not inode:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/net") != f"net:[{inode}]":
                continue
            if uids is not None and os.stat(f"/proc/{entry}").st_uid not in uids:
                continue
            if exe is not None and os.readlink(f"/proc/{entry}/exe") != exe:
                continue
        except OSError:
            continue
        found.append(int(entry))
    return found


def kill_pids(pids: list[int], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL what is left after ``timeout`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline and any(pid_alive(pid) for pid in pids):
            time.sleep(0.02)
        if not any(pid_alive(pid) for pid in pids):
            return


def port_open(address: str, port: int, timeout: float = 0.5) -> bool:
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((address, port)) == 0


class Machine:
    """One host of the infrastructure: namespace, address, veth, sshd and service user."""

    def __init__(self, infra: SshInfra, index: int) -> None:
        self.infra = infra
        self.index = index
        self.netns = f"wabot{infra.n}h{index}"
        self.veth = f"wbv{infra.n}x{index}"
        self.peer = f"wbp{infra.n}x{index}"
        self.address = f"{infra.subnet}.{10 + index}"
        self.user = f"wbsvc{infra.n}h{index}"
        self.home = os.path.join(infra.root, "home", self.user)
        self.sshd_config = os.path.join(infra.root, "ssh", f"sshd-{index}.conf")
        self.sshd_pid_file = os.path.join(infra.root, "ssh", f"sshd-{index}.pid")
        self.sshd_log = os.path.join(infra.root, "ssh", f"sshd-{index}.log")
        self._sshd: subprocess.Popen[bytes] | None = None

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    @property
    def gid(self) -> int:
        return pwd.getpwnam(self.user).pw_gid

    def create(self) -> None:
        sh("ip", "netns", "add", self.netns)
        sh("ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.peer)
        sh("ip", "link", "set", self.veth, "master", self.infra.bridge, "up")
        sh("ip", "link", "set", self.peer, "netns", self.netns)
        sh("ip", "link", "set", self.peer, "name", "eth0", netns=self.netns)
        sh("ip", "addr", "add", f"{self.address}/24", "dev", "eth0", netns=self.netns)
        sh("ip", "link", "set", "eth0", "up", netns=self.netns)
        sh("ip", "link", "set", "lo", "up", netns=self.netns)
        self.infra.add_user(self.user, self.home, shell="/bin/sh")
        with open(self.sshd_config, "w", encoding="utf-8") as handle:
            handle.write(
                f"# sshd of test host {self.netns} (tests.sim.sshfleet)\n"
                f"ListenAddress {self.address}\nPort 22\nHostKey {self.infra.host_key}\nPidFile {self.sshd_pid_file}\n"
                f"AuthorizedKeysFile {self.infra.authorized_keys}\nAllowUsers {self.infra.deploy_user}\n"
                "UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PubkeyAuthentication yes\nPermitRootLogin no\nX11Forwarding no\nPrintMotd no\nUseDNS no\n"
                "MaxStartups 100:30:200\nMaxSessions 50\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n"
            )
        self.start_sshd()

    def start_sshd(self) -> None:
        if self.sshd_running():
            return
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        with open(self.sshd_log, "ab") as log:
            self._sshd = subprocess.Popen(  # pylint: disable=consider-using-with
                ["ip", "netns", "exec", self.netns, SSHD, "-D", "-e", "-f", self.sshd_config],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if port_open(self.address, 22):
                return
            if self._sshd.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"sshd of {self.netns} did not listen on {self.address}:22; see {self.sshd_log}")

    def sshd_running(self) -> bool:
        return bool(pids_in_netns(self.netns, exe=SSHD)) and port_open(self.address, 22)

    def stop_sshd(self) -> None:
        """sshd and every session it runs: the host refuses connections."""
        kill_pids(pids_in_netns(self.netns, exe=SSHD))
        if self._sshd is not None:
            try:
                self._sshd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._sshd = None

    def link(self, up: bool) -> None:
        sh("ip", "link", "set", self.veth, "up" if up else "down")

    def kill_user_processes(self) -> None:
        """Every process of the service user and the deploy user in the namespace (bots, pm2 daemons, leftovers of
        sessions), whoever started them; sshd (root) stays."""
        uids = set()
        for name in (self.user, self.infra.deploy_user):
            try:
                uids.add(pwd.getpwnam(name).pw_uid)
            except KeyError:
                continue
        if uids:
            kill_pids(pids_in_netns(self.netns, uids=uids))

    def destroy(self) -> None:
        if netns_inode(self.netns):
            kill_pids(pids_in_netns(self.netns))
        self._sshd = None
        sh("ip", "link", "del", self.veth, check=False)
        sh("ip", "netns", "del", self.netns, check=False)
        self.infra.del_user(self.user)


def reap_abandoned() -> None:
    """Tear down the machines of SSH fleets whose owning process is gone (call with the lock held)."""
    for owner in sorted(glob.glob(f"/tmp/wabot-ssh*-*/{OWNER_FILE}")):
        match = re.match(r"/tmp/wabot-ssh(\d+)-", owner)
        try:
            with open(owner, encoding="ascii") as handle:
                pid, n_hosts = (int(v) for v in handle.read().split())
        except (OSError, ValueError):
            continue
        if match is None or pid_alive(pid):
            continue
        infra = SshInfra(n_hosts)
        infra.n, infra.root = int(match.group(1)), os.path.dirname(owner)
        infra.machines = [Machine(infra, i) for i in range(n_hosts)]
        infra.teardown()


class SshInfra:
    """The machines of the SSH test fleet: see the module docstring. ``SshInfra(n_hosts).setup()``; ``teardown()``."""

    def __init__(self, n_hosts: int = 3) -> None:
        self.n_hosts = n_hosts
        self.n = -1
        self.root = ""
        self.machines: list[Machine] = []
        self.counter = 0

    # names -------------------------------------------------------------------------------
    @property
    def subnet(self) -> str:
        return f"{SUBNET_PREFIX}.{self.n}"

    @property
    def bridge(self) -> str:
        return f"wbb{self.n}"

    @property
    def bridge_address(self) -> str:
        return f"{self.subnet}.1"

    @property
    def deploy_user(self) -> str:
        return f"wbdep{self.n}"

    @property
    def sudoers_file(self) -> str:
        return f"/etc/sudoers.d/wabot-sshfleet-{self.n}"

    @property
    def client_key(self) -> str:
        return os.path.join(self.root, "ssh", "client_key")

    @property
    def host_key(self) -> str:
        return os.path.join(self.root, "ssh", "host_key")

    @property
    def authorized_keys(self) -> str:
        return os.path.join(self.root, "ssh", "authorized_keys")

    @property
    def code_root(self) -> str:
        return os.path.join(self.root, "code")

    @property
    def deploy_home(self) -> str:
        return os.path.join(self.root, "home", self.deploy_user)

    # users -------------------------------------------------------------------------------
    def add_user(self, name: str, home: str, shell: str = "/bin/bash") -> None:
        self.del_user(name)
        # '*': no password, but not locked ('!'), so sshd (UsePAM no) accepts the key of an account with this hash.
        sh("useradd", "--no-create-home", "--home-dir", home, "--shell", shell, "--user-group", "--password", "*", name)
        os.makedirs(home, mode=0o700, exist_ok=True)
        os.chmod(home, 0o700)
        entry = pwd.getpwnam(name)
        os.chown(home, entry.pw_uid, entry.pw_gid)

    @staticmethod
    def del_user(name: str) -> None:
        try:
            pwd.getpwnam(name)
        except KeyError:
            return
        for _attempt in range(20):  # another worker may hold the passwd lock for a moment
            if sh("userdel", name, check=False).returncode in (0, 6):
                break
            time.sleep(0.1)
        try:
            grp.getgrnam(name)
            sh("groupdel", name, check=False)
        except KeyError:
            pass

    # lifecycle ---------------------------------------------------------------------------
    def setup(self) -> SshInfra:
        try:
            self._setup()
        except BaseException:
            self.teardown()
            raise
        return self

    def _claim_subnet(self) -> None:
        """The lowest 10.213.N/24 no interface holds; the bridge and the staging dir (with the owner's pid) are made
        while the lock is held. Machines of a run whose process died (killed CI job) are removed first."""
        with open(LOCK_PATH, "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            reap_abandoned()
            used = {int(m) for m in re.findall(rf"inet {re.escape(SUBNET_PREFIX)}\.(\d+)\.", sh("ip", "-4", "-o", "addr", "show").stdout)}
            links = sh("ip", "-o", "link", "show").stdout
            for n in range(1, 255):
                if n in used or re.search(rf"\bwbb{n}[:@]", links):
                    continue
                self.n = n
                sh("ip", "link", "add", self.bridge, "type", "bridge")
                break
            else:
                raise RuntimeError(f"no free {SUBNET_PREFIX}.N.0/24 subnet for the SSH fleet")
            sh("ip", "addr", "add", f"{self.bridge_address}/24", "dev", self.bridge)
            sh("ip", "link", "set", self.bridge, "up")
            self.root = tempfile.mkdtemp(prefix=f"wabot-ssh{self.n}-", dir="/tmp")
            os.chmod(self.root, 0o755)
            with open(os.path.join(self.root, OWNER_FILE), "w", encoding="ascii") as handle:
                handle.write(f"{os.getpid()} {self.n_hosts}\n")

    def _setup(self) -> None:
        self._claim_subnet()
        for sub in ("ssh", "home", "fleets"):
            os.makedirs(os.path.join(self.root, sub))
            os.chmod(os.path.join(self.root, sub), 0o755)
        self._stage_code()
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wabot-test-host", "-f", self.host_key)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wabot-test-controller", "-f", self.client_key)
        shutil.copyfile(self.client_key + ".pub", self.authorized_keys)
        os.chmod(self.authorized_keys, 0o644)
        self.add_user(self.deploy_user, self.deploy_home)
        sudoers = f"# tests.sim.sshfleet: the deploy user of the SSH test fleet\n{self.deploy_user} ALL=(ALL:ALL) NOPASSWD: ALL\n"
        staged = os.path.join(self.root, "ssh", "sudoers")
        with open(staged, "w", encoding="utf-8") as handle:
            handle.write(sudoers)
        sh("visudo", "-cqf", staged)
        shutil.copyfile(staged, self.sudoers_file)
        os.chmod(self.sudoers_file, 0o440)
        self.machines = [Machine(self, i) for i in range(self.n_hosts)]
        for machine in self.machines:
            machine.create()

    def _stage_code(self) -> None:
        """The bot replica's code and segno, world-readable: the service users cannot read a 0700 checkout."""
        code = self.code_root
        os.makedirs(os.path.join(code, "tests", "sim"))
        shutil.copyfile(os.path.join(REPO_ROOT, "tests", "__init__.py"), os.path.join(code, "tests", "__init__.py"))
        sim = os.path.join(REPO_ROOT, "tests", "sim")
        for name in os.listdir(sim):
            if name.endswith(".py"):
                shutil.copyfile(os.path.join(sim, name), os.path.join(code, "tests", "sim", name))
        import segno  # pylint: disable=import-outside-toplevel  # the replica renders /user/qr with it

        shutil.copytree(os.path.dirname(segno.__file__), os.path.join(code, "segno"), ignore=shutil.ignore_patterns("__pycache__"))
        for base, dirs, files in os.walk(code):
            os.chmod(base, 0o755)
            for name in files:
                os.chmod(os.path.join(base, name), 0o644)

    def teardown(self) -> None:
        """Remove everything ``setup`` made (idempotent; also after a failed setup)."""
        for machine in self.machines:
            machine.destroy()
        if self.n >= 0:
            self.del_user(self.deploy_user)
            if os.path.exists(self.sudoers_file):
                os.unlink(self.sudoers_file)
            sh("ip", "link", "del", self.bridge, check=False)
        if self.root and os.path.isdir(self.root):
            shutil.rmtree(self.root, ignore_errors=True)
        self.machines = []

    def next_dir(self, label: str) -> str:
        self.counter += 1
        path = os.path.join(self.root, "fleets", f"{self.counter}-{re.sub(r'[^A-Za-z0-9_.-]', '_', label)[:40]}")
        os.makedirs(path)
        os.chmod(path, 0o755)
        return path


class SshBotHost(BotHost):
    """A bot on one machine: files owned by the machine's service user, started in its namespace as that user."""

    python = TARGET_PYTHON

    def __init__(self, workdir: str, spec: HostSpec, machine: Machine, *, watch_pid: int = 0) -> None:
        super().__init__(workdir, spec, watch_pid=watch_pid)
        self.machine = machine
        self.code_root = machine.infra.code_root

    @property
    def service_user(self) -> str:
        return self.machine.user

    def own_files(self) -> None:
        """backend/ and everything else of the host belong to the service user; .env 0600, database dir 0700, db 0600."""
        uid, gid = self.machine.uid, self.machine.gid
        for base, dirs, files in os.walk(self.dir):
            os.chown(base, uid, gid)
            for name in files + dirs:
                os.chown(os.path.join(base, name), uid, gid, follow_symlinks=False)
        os.chmod(self.dir, 0o700)
        os.chmod(os.path.dirname(self.db_path), 0o700)
        os.chmod(self.db_path, 0o600)
        os.chmod(self.env_path, 0o600)

    def as_service_user(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` in the host's namespace as its service user, with a clean environment."""
        m = self.machine
        env = ["env", "-i", f"HOME={m.home}", "PATH=/usr/local/bin:/usr/bin:/bin", f"USER={m.user}", f"LOGNAME={m.user}"]
        argv = ["setpriv", f"--reuid={m.uid}", f"--regid={m.gid}", "--init-groups", *env, *cmd]
        return sh(*argv, netns=m.netns, check=check)

    def launch(self) -> None:
        self.as_service_user(self.start_script)

    def wait_ready(self, timeout: float = 10.0, port_retries: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid and pid_alive(self.pid):
                return
            time.sleep(0.01)
        raise RuntimeError(f"bot {self.name} did not start in {self.machine.netns}; see {self.log_path}")

    def process_uid(self) -> int:
        return os.stat(f"/proc/{self.pid}").st_uid

    def process_netns(self) -> str:
        return os.readlink(f"/proc/{self.pid}/ns/net")

    def ns_http(self, path: str) -> tuple[int, Any]:
        """GET ``http://127.0.0.1:3001<path>`` from inside the host's namespace (the test cannot reach it otherwise)."""
        code = (
            "import json,sys,urllib.request,urllib.error\n"
            "try:\n r=urllib.request.urlopen(sys.argv[1],timeout=5); print(r.status); print(r.read().decode())\n"
            "except urllib.error.HTTPError as e: print(e.code); print(e.read().decode())\n"
            "except OSError as e: print(0); print(json.dumps(str(e)))\n"
        )
        out = sh(TARGET_PYTHON, "-c", code, f"{self.url}{path}", netns=self.machine.netns).stdout.split("\n", 1)
        try:
            return int(out[0]), json.loads(out[1])
        except ValueError:
            return int(out[0] or 0), out[1] if len(out) > 1 else ""

    def health(self, timeout: float = 2.0) -> dict[str, Any] | None:
        status, answer = self.ns_http("/health")
        return answer if status == 200 else None

    def inventory_vars(self) -> dict[str, Any]:
        values = super().inventory_vars()
        del values["ansible_connection"]
        infra = self.machine.infra
        values.update(
            {
                "ansible_host": self.machine.address,
                "ansible_user": infra.deploy_user,
                "ansible_ssh_private_key_file": infra.client_key,
                "ansible_ssh_common_args": SSH_OPTIONS,
                "ansible_become": True,
                "ansible_become_user": self.service_user,
                "ansible_python_interpreter": TARGET_PYTHON,
            }
        )
        return values


class SshFleet(Fleet):
    """A ``Fleet`` on the machines of an ``SshInfra``: one host per machine, in the order given."""

    def __init__(self, infra: SshInfra, hosts: list[HostSpec], *, label: str = "fleet", wasender_config: dict[str, Any] | None = None) -> None:
        if len(hosts) > len(infra.machines):
            raise ValueError(f"{len(hosts)} hosts but only {len(infra.machines)} machines")
        workdir = infra.next_dir(label)
        for spec in hosts:
            spec.port = BOT_PORT
        super().__init__(workdir, [], wasender_config=wasender_config)
        self.infra = infra
        # The Wasender fake on the bridge address: reachable from every namespace.
        self.wasender = WasenderControl(self.workdir, config=wasender_config, watch_pid=os.getpid(), host=infra.bridge_address)
        self.hosts = {spec.name: SshBotHost(self.workdir, spec, machine, watch_pid=os.getpid()) for spec, machine in zip(hosts, infra.machines)}
        # The controller's ssh multiplexing masters of this fleet's runs: here, so stop() can end them.
        self.control_path_dir = os.path.join(self.workdir, "cp")
        os.makedirs(self.control_path_dir, mode=0o700)
        self._cut: set[str] = set()
        self._sshd_stopped: set[str] = set()

    @property
    def bots(self) -> list[SshBotHost]:  # type: ignore[override]
        return list(self.hosts.values())  # type: ignore[arg-type]

    def start(self) -> SshFleet:
        os.makedirs(self.workdir, exist_ok=True)
        self.started = True
        try:
            self.wasender.start()
            hashes: dict[str, str] = {}
            from tests.sim.fleet import phone_numbers  # pylint: disable=import-outside-toplevel

            phones = iter(phone_numbers())
            for host in self.bots:
                host.prepare(self.wasender, phones, hashes)
                host.own_files()
            for host in self.bots:
                host.launch()
            for host in self.bots:
                host.wait_ready()
            self.write_inventory()
            self.write_fleet_json()
        except BaseException:
            self.stop()
            raise
        return self

    def env(self) -> dict[str, str]:
        """Environment for ansible-playbook runs on this fleet (its own ssh control path directory)."""
        return {"ANSIBLE_SSH_CONTROL_PATH_DIR": self.control_path_dir}

    # faults ------------------------------------------------------------------------------
    def stop_sshd(self, name: str) -> None:
        host = self.hosts[name]
        assert isinstance(host, SshBotHost)
        self._sshd_stopped.add(name)
        host.machine.stop_sshd()

    def cut_link(self, name: str) -> None:
        host = self.hosts[name]
        assert isinstance(host, SshBotHost)
        self._cut.add(name)
        host.machine.link(False)

    def cut_link_command(self, name: str) -> list[str]:
        """The command that cuts ``name``'s link (for a callback that runs it at the right moment)."""
        host = self.hosts[name]
        assert isinstance(host, SshBotHost)
        self._cut.add(name)
        return ["ip", "link", "set", host.machine.veth, "down"]

    def kill_ssh_masters(self) -> None:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as handle:
                        if self.control_path_dir.encode() in handle.read():
                            pids.append(int(entry))
                except OSError:
                    continue
        kill_pids(pids)

    def stop(self) -> None:
        """Stop the bots (every process of the service and deploy users in the namespaces), the Wasender fake and the ssh masters;
        repair the faults. Idempotent."""
        self.kill_ssh_masters()
        for host in self.bots:
            host.machine.kill_user_processes()
            host.stop()
        self.wasender.stop()
        for name in list(self._cut):
            host = self.hosts[name]
            assert isinstance(host, SshBotHost)
            host.machine.link(True)
        for name in list(self._sshd_stopped):
            host = self.hosts[name]
            assert isinstance(host, SshBotHost)
            host.machine.start_sshd()
        self._cut.clear()
        self._sshd_stopped.clear()

    def write_inventory(self) -> None:
        text = "# Inventory of the SSH test fleet (tests.sim.sshfleet). No secrets here: they live in each host's backend/.env.\n"
        with open(self.inventory_path, "w", encoding="utf-8") as handle:
            handle.write(text + to_yaml(self.inventory()))


def remote_temp_files(infra: SshInfra) -> list[str]:
    """Every file in the homes of the deploy and service users (Ansible's remote_tmp, ~/.ansible/tmp) and under the
    entries of /tmp, /var/tmp and /dev/shm those users own (the system temp dirs a become run may fall back to)."""
    uids = {pwd.getpwnam(infra.deploy_user).pw_uid} | {m.uid for m in infra.machines}
    roots = [infra.deploy_home] + [m.home for m in infra.machines]
    for tmp in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            entries = os.listdir(tmp)
        except OSError:
            continue
        for name in entries:
            try:
                if os.lstat(os.path.join(tmp, name)).st_uid in uids:
                    roots.append(os.path.join(tmp, name))
            except OSError:
                continue
    found = []
    for root in roots:
        if os.path.isfile(root):
            found.append(root)
        for base, _dirs, files in os.walk(root):
            found.extend(os.path.join(base, name) for name in files)
    return found


if __name__ == "__main__":  # pragma: no cover - a quick manual check
    why = unavailable_reason()
    if why:
        print(why)
        sys.exit(1)
    machines = SshInfra(2).setup()
    try:
        print(json.dumps({"root": machines.root, "subnet": machines.subnet}))
    finally:
        machines.teardown()
