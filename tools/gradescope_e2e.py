"""The autograder zip proven on a bare system: built, set up and graded as Gradescope would.

(Over 500 lines on purpose: one procedure, run as root a few times a term, whose steps (the
debootstrapped root and its cache, the container, setup.sh, each grading, the comparison) share
its settings and its log; split, each part would be a fragment that only makes sense here.)

    scripts/gradescope-e2e [--rebuild | --rebuild-setup] [--cache DIR] [--bug ID] ...

(``python -m tools.gradescope_e2e`` from the repository is the same; as root, on Linux, with
debootstrap. It lives outside ``grader/``, in the maintainers' ``tools/``: no zip carries it.) Where
``grader simulate`` runs ``run_autograder`` with the instructor's own venv, this starts from
nothing, as Gradescope's image build does:

1. ``grader package`` builds the zip;
2. ``debootstrap --variant=minbase bookworm`` makes a bare Debian root (no python3 in it),
   cached under ``--cache`` and made again with ``--rebuild``;
3. the zip is unpacked into ``/autograder/source`` of a copy of that root (an overlay: the bare
   root is never written), ``run_autograder`` copied to ``/autograder/run_autograder``, and
   ``setup.sh`` run there as root, in a container of our making: ``unshare --mount --pid
   --fork --ipc --uts``, the root's own proc, a read-only sysfs, a Docker-like ``/dev`` (a
   tmpfs with null, zero, full, random, urandom, tty, a private devpts and a 64 MiB tmpfs on
   ``/dev/shm``), the host's resolv.conf, then ``pivot_root`` into it: nothing of the host's
   tree is left in the namespace. For the set-up only, the host's CA certificates and pip's
   configuration are carried in (``pip_carry``: its settings as ``PIP_*`` variables, the files
   and folders they name bound read-only at the same paths), so that the root reaches the
   package indexes the host reaches. The set-up root is cached too, keyed by the zip's
   ``setup.sh`` and ``requirements.txt`` and the bare root; on a later run ``setup.sh`` runs
   again on it with the current zip (the venv is there: pip only reinstalls the grader), and
   the venv's grader is checked to be the zip's;
4. each submission (the reference, the stubs, one bug of ``tests/grading/bugs.py``, the
   notebook) is put in ``/autograder/submission`` of a fresh overlay of the set-up root, and
   ``/autograder/run_autograder`` run twice: as root with every capability, and with the
   capabilities Docker leaves a container by default (no ``CAP_SYS_ADMIN``, no
   ``CAP_SYS_PTRACE``, no ``CAP_NET_ADMIN``, ...: ``setpriv --bounding-set``), each under
   Gradescope's limits where a cgroup can impose them (1/2 CPU, 768 MiB; the kernel's OOM
   killer acts inside the group, as in the container) and its 600 s;
5. each results.json is checked against ``grader/gradescope/gradescope_schema.json`` and against
``grader
   grade`` of the same submission on the host (every test's score); the report gives the
   scores, times, memory, the capabilities each run had (read from /proc inside) and the
   sandbox layers of results.json's staff-only ``extra_data.sandbox`` with what the start-up
   canary found exposed. New layers (issue 12's ``landlock``, say) appear as they come;
   ``--expect-layer NAME`` fails unless each run reports that layer on.

Every mount is made inside the run's own mount namespace, so all of them go when its last
process does, whatever happens to this process; the namespace's processes die with its first
one (a pid namespace) and that one with ``unshare`` (``--kill-child``).

Exit status: 0 when every run matched, 1 when one did not (or a step failed), 3 when it cannot
run here (not root, no debootstrap or overlayfs, or the Debian mirror could not be reached).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.authoring import pack

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path("/var/cache/grader-e2e")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
DEFAULT_BUG = "svm-sum-not-mean"
#: The PATH of a Debian root shell (Docker's default PATH for a container).
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OK, FAILED, CANNOT_RUN = 0, 1, 3

#: Linux capability numbers (linux/capability.h), by the names setpriv knows.
CAP_NUMBERS = {
    "chown": 0,
    "dac_override": 1,
    "dac_read_search": 2,
    "fowner": 3,
    "fsetid": 4,
    "kill": 5,
    "setgid": 6,
    "setuid": 7,
    "setpcap": 8,
    "linux_immutable": 9,
    "net_bind_service": 10,
    "net_broadcast": 11,
    "net_admin": 12,
    "net_raw": 13,
    "ipc_lock": 14,
    "ipc_owner": 15,
    "sys_module": 16,
    "sys_rawio": 17,
    "sys_chroot": 18,
    "sys_ptrace": 19,
    "sys_pacct": 20,
    "sys_admin": 21,
    "sys_boot": 22,
    "sys_nice": 23,
    "sys_resource": 24,
    "sys_time": 25,
    "sys_tty_config": 26,
    "mknod": 27,
    "lease": 28,
    "audit_write": 29,
    "audit_control": 30,
    "setfcap": 31,
}
#: What Docker leaves a container by default (moby's oci/caps/defaults.go): everything else,
#: CAP_SYS_ADMIN first, is dropped. Gradescope's containers are Docker's.
DOCKER_CAPS = (
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "net_bind_service",
    "net_raw",
    "sys_chroot",
    "mknod",
    "audit_write",
    "setfcap",
)


class CannotRun(RuntimeError):
    """This machine cannot run the check (exit 3): the message says what is missing."""


class StepFailed(RuntimeError):
    """A step of the check failed (exit 1)."""


@dataclass(frozen=True)
class Setting:
    """The privileges run_autograder gets."""

    key: str
    label: str
    caps: tuple[str, ...] | None  # None: every capability the host has

    def setpriv(self) -> list[str]:
        """setpriv's options for these capabilities (empty: keep them all)."""
        if self.caps is None:
            return []
        keep = ",".join(f"+{c}" for c in self.caps)
        return [f"--bounding-set=-all,{keep}", "--inh-caps=-all"]

    def mask(self, host: int) -> int:
        """The effective capabilities run_autograder should have."""
        if self.caps is None:
            return host
        return sum(1 << CAP_NUMBERS[c] for c in self.caps) & host


SETTINGS = (
    Setting("all-caps", "root, every capability", None),
    Setting("docker-caps", "root, Docker's default capabilities (no CAP_SYS_ADMIN)", DOCKER_CAPS),
)


def cap_names(mask: int) -> list[str]:
    return [name for name, bit in CAP_NUMBERS.items() if mask >> bit & 1]


# -- carrying the host's package configuration in ------------------------------------------------

#: Where the host's files are bound in the root, read-only: a folder of its own, so that no file
#: of the root is hidden (the root's apt writes /etc/ssl/certs when it installs ca-certificates).
CARRY = Path("/run/grader-e2e-host")
#: pip settings that name one file.
_FILE_KEYS = frozenset({"cert", "client-cert", "constraint", "build-constraint"})
#: pip settings that name indexes: a local one (file://) is bound with its parent folder, since a
#: PEP 503 index links its files relative to itself (``../../files/...`` on these machines).
_INDEX_KEYS = frozenset({"index-url", "extra-index-url"})
#: Environment variables that reach the network the way the host does; the last three name files.
_NETWORK_ENV = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_CA_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")
#: The host's CA certificates (Debian's ca-certificates), carried in whole.
CA_DIR = Path("/etc/ssl/certs")


@dataclass(frozen=True)
class Carry:
    """What the set-up gets from the host: environment variables and read-only binds."""

    env: dict[str, str]
    binds: tuple[tuple[str, str], ...]  # (path on the host, path in the root)
    skipped: tuple[str, ...] = ()  # paths not bound, and why


def pip_settings(config_list: str) -> dict[str, str]:
    """pip's effective settings from ``pip config list`` (the ranking setup.sh uses too).

    Each line is ``section.key='value'``, the section ``:env:`` for PIP_* variables; those
    override the files, and a command's section (``install``) overrides ``global``.
    """
    rank = {":env:": 3, "install": 2, "global": 1}
    best: dict[str, tuple[int, str]] = {}
    for line in config_list.splitlines():
        key, sep, value = line.strip().partition("=")
        section, _, name = key.rpartition(".")
        r = rank.get(section, 0)
        if sep and r and r >= best.get(name, (0, ""))[0]:
            best[name] = (r, " ".join(value.strip().strip("'\"").split()))
    return {name: value for name, (_, value) in sorted(best.items())}


def pip_carry(
    settings: Mapping[str, str], environ: Mapping[str, str], ca_dir: Path = CA_DIR
) -> Carry:
    """The variables and binds that give the root the host's pip configuration and CAs.

    Every local file or folder a setting names is bound under ``CARRY`` (the fewest folders
    that hold them all) and the setting rewritten to point there.
    """
    wanted: list[Path] = [ca_dir] if ca_dir.is_dir() else []
    for name, value in settings.items():
        for item in value.split():
            path = _local_path(item)
            if path is None or not path.exists():
                continue
            if name in _INDEX_KEYS and path.is_dir():
                wanted.append(path.parent)
            elif name in _FILE_KEYS or name in _INDEX_KEYS or name == "find-links":
                wanted.append(path)
    wanted += [Path(environ[k]) for k in _CA_ENV if environ.get(k) and Path(environ[k]).exists()]
    binds: list[Path] = []
    skipped: list[str] = []
    for path in sorted({p.resolve() for p in wanted}, key=lambda p: (len(p.parts), str(p))):
        if path == Path("/"):
            skipped.append("/ (a setting names the whole file system)")
        elif not any(path.is_relative_to(b) for b in binds):
            binds.append(path)

    def inside(item: str) -> str:
        path = _local_path(item)
        if path is None:
            return item
        real = path.resolve()
        for b in binds:
            if real.is_relative_to(b):
                moved = CARRY / b.relative_to("/") / real.relative_to(b)
                return f"file://{moved}" if item.startswith("file://") else str(moved)
        return item

    env = {
        "PIP_" + name.upper().replace("-", "_"): " ".join(inside(i) for i in value.split())
        for name, value in settings.items()
    }
    env.update({k: environ[k] for k in _NETWORK_ENV if environ.get(k)})
    env.update({k: inside(environ[k]) for k in _CA_ENV if environ.get(k)})
    pairs = tuple((str(b), str(CARRY / b.relative_to("/"))) for b in binds)
    return Carry(env=env, binds=pairs, skipped=tuple(skipped))


#: setup.sh's default torch index (``TORCH_INDEX_URL`` overrides it there).
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def unreachable_reason(url: str, timeout: float = 5.0) -> str | None:
    """Why this machine cannot open a connection to ``url``'s host (None: it can)."""
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{parsed.hostname}: {exc}"


def torch_index(carry: Carry, scratch: Path) -> tuple[Carry, str | None]:
    """``carry``, with the torch step pointed at an empty local index if PyTorch's is out of reach.

    setup.sh installs torch with ``--index-url`` PyTorch's; where this machine cannot reach it
    (a network that lets only PyPI and Debian through), pip retries five times per package
    and spends about two minutes before taking torch from the host's own wheels anyway. An
    empty index instead gives the same torch at once. The note says so; nothing else changes.
    """
    reason = unreachable_reason(TORCH_INDEX)
    if reason is None:
        return carry, None
    empty = scratch / "empty-index"
    empty.mkdir(parents=True, exist_ok=True)
    inside = str(CARRY / "empty-index")
    env = {**carry.env, "TORCH_INDEX_URL": f"file://{inside}"}
    note = (
        f"{TORCH_INDEX} is out of reach here ({reason}): setup.sh's torch step was given "
        f"TORCH_INDEX_URL=file://{inside} (empty), so torch came from the host's configured "
        "indexes and wheels at once instead of after pip's retries"
    )
    return Carry(env, (*carry.binds, (str(empty), inside)), carry.skipped), note


def _local_path(item: str) -> Path | None:
    if item.startswith("file://"):
        return Path(item[len("file://") :])
    if item.startswith("/"):
        return Path(item)
    return None


def host_carry(python: str = sys.executable) -> Carry:
    done = subprocess.run(
        [python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    )
    return pip_carry(pip_settings(done.stdout), os.environ)


# -- cgroups: Gradescope's 1/2 CPU and 768 MiB -----------------------------------------------------

CGROUP = Path("/sys/fs/cgroup")


@dataclass
class Group:
    """The cgroup a run joins (v2), or one per controller (v1); what it used, afterwards."""

    dirs: dict[str, Path] = field(default_factory=dict)  # controller (v1) or "" (v2) -> group
    description: str = ""

    @property
    def procs(self) -> list[Path]:
        return [d / "cgroup.procs" for d in dict.fromkeys(self.dirs.values())]

    def _read(self, controller: str, *names: str) -> str | None:
        d = self.dirs.get(controller) or self.dirs.get("")
        for name in names:
            with contextlib.suppress(OSError):
                if d is not None:
                    return (d / name).read_text()
        return None

    def peak_memory(self) -> int | None:
        """Bytes: the most the group held (page cache included, as the kernel counts it)."""
        text = self._read("memory", "memory.peak", "memory.max_usage_in_bytes")
        return int(text.split()[0]) if text else None

    def oom_kills(self) -> int | None:
        text = self._read("memory", "memory.events", "memory.oom_control") or ""
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return None

    def cpu_seconds(self) -> float | None:
        text = self._read("cpuacct", "cpuacct.usage")
        if text:
            return int(text) / 1e9
        text = self._read("", "cpu.stat") or ""
        for line in text.splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
        return None

    def kill(self) -> None:
        for procs in self.procs:
            with contextlib.suppress(OSError, ValueError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)


def _own_cgroup(controller: str) -> str:
    """This process's cgroup in a v1 hierarchy ('' for the root)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path.strip("/")
    return ""


#: The CPU weight of a run's group: high, so that it gets its quota on a busy machine. A
#: quota alone is a ceiling; Gradescope's 1/2 vCPU is what the container has, not at most half
#: of what other work on the host leaves (on a loaded 2-core machine that was a third, and
#: per-call timeouts failed tests of the reference). The quota still caps it at ``cpus``.
CPU_SHARES_V1 = 16 * 1024  # default 1024
CPU_WEIGHT_V2 = 1600  # default 100


@contextlib.contextmanager
def limited(cpus: float | None, memory: int | None) -> Iterator[Group]:
    """A cgroup holding a run to ``cpus`` and ``memory`` (bytes); removed afterwards.

    Like ``grader.gradescope.simulate.cpu_quota`` (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), plus a
    high
    CPU weight (``CPU_SHARES_V1``), CPU accounting, and memory: v2 ``memory.max`` with no
    swap, v1 ``memory.limit_in_bytes`` (and ``memsw``). v1 groups are made under this
    process's own, so that a limit around it still holds. The kernel's OOM killer acts inside
    the group, as in a container. What cannot be set is said in ``description``.
    """
    name = f"grader-e2e-{os.getpid()}-{time.monotonic_ns()}"
    group = Group()
    said: list[str] = []
    period = 100_000
    quota = None if cpus is None else str(max(1000, int(cpus * period)))
    try:
        if (CGROUP / "cgroup.controllers").is_file():
            have = (CGROUP / "cgroup.controllers").read_text().split()
            for ctl in ("cpu", "memory"):
                with contextlib.suppress(OSError):
                    (CGROUP / "cgroup.subtree_control").write_text(f"+{ctl}")
            d = CGROUP / name
            d.mkdir()
            group.dirs[""] = d
            if quota is not None:
                if "cpu" in have and (d / "cpu.max").exists():
                    (d / "cpu.max").write_text(f"{quota} {period}")
                    (d / "cpu.weight").write_text(str(CPU_WEIGHT_V2))
                    said.append(f"{cpus:g} CPU")
                else:
                    said.append("no CPU limit (no cpu controller)")
            if memory is not None:
                if "memory" in have and (d / "memory.max").exists():
                    (d / "memory.max").write_text(str(memory))
                    with contextlib.suppress(OSError):
                        (d / "memory.swap.max").write_text("0")
                    said.append(f"{memory / 2**20:.0f} MiB")
                else:
                    said.append("no memory limit (no memory controller)")
            version = "cgroup v2"
        else:

            def make(controller: str) -> Path | None:
                if not (CGROUP / controller / "cgroup.procs").exists():
                    return None
                # (resolved: where cpu and cpuacct share a hierarchy, it is one group)
                d = (CGROUP / controller).resolve() / _own_cgroup(controller) / name
                d.mkdir(exist_ok=True)
                group.dirs[controller] = d
                return d

            make("cpuacct")
            if quota is not None:
                d_cpu = make("cpu")
                if d_cpu is not None and (d_cpu / "cpu.cfs_quota_us").exists():
                    (d_cpu / "cpu.cfs_period_us").write_text(str(period))
                    (d_cpu / "cpu.cfs_quota_us").write_text(quota)
                    (d_cpu / "cpu.shares").write_text(str(CPU_SHARES_V1))
                    said.append(f"{cpus:g} CPU")
                else:
                    said.append("no CPU limit (no cpu controller)")
            if memory is not None:
                d_mem = make("memory")
                if d_mem is not None:
                    (d_mem / "memory.limit_in_bytes").write_text(str(memory))
                    with contextlib.suppress(OSError):  # no swap accounting: no swap to limit
                        (d_mem / "memory.memsw.limit_in_bytes").write_text(str(memory))
                    said.append(f"{memory / 2**20:.0f} MiB")
                else:
                    said.append("no memory limit (no memory controller)")
            version = "cgroup v1"
        group.description = ", ".join(said or ["no limits (asked for none)"]) + f" ({version})"
    except OSError as exc:
        _remove(group)
        group = Group(description=f"no limits ({exc})")
    try:
        yield group
    finally:
        _remove(group)


def _remove(group: Group) -> None:
    for d in group.dirs.values():
        for _ in range(100):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                group.kill()
                time.sleep(0.05)


# -- the container ----------------------------------------------------------------------------

#: Run by the host's bash inside ``unshare --mount --pid --fork``: the mounts of a Docker
#: container on an overlay of the layers, then pivot_root into it and the inner script there.
OUTER = r"""
set -euo pipefail
read -r hostpid _ </proc/self/stat   # this shell's pid outside the namespace (host's /proc)
echo "$hostpid" >"$E2E_PIDFILE"
M="$E2E_MERGED"
mount -t overlay overlay -o "lowerdir=$E2E_LOWER,upperdir=$E2E_UPPER,workdir=$E2E_WORK" "$M"
mount -t proc -o nosuid,nodev,noexec proc "$M/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$M/sys"
# Docker's /dev: a small tmpfs with a few devices, its own devpts, a 64 MiB /dev/shm
mount -t tmpfs -o nosuid,mode=755,size=65536k tmpfs "$M/dev"
for spec in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$spec"
    mknod -m 666 "$M/dev/$name" c "$major" "$minor"
done
mkdir "$M/dev/pts" "$M/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,nosuid,noexec devpts "$M/dev/pts"
ln -s pts/ptmx "$M/dev/ptmx"
mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k shm "$M/dev/shm"
ln -s /proc/self/fd "$M/dev/fd"
ln -s /proc/self/fd/0 "$M/dev/stdin"
ln -s /proc/self/fd/1 "$M/dev/stdout"
ln -s /proc/self/fd/2 "$M/dev/stderr"
[[ -e "$M/etc/resolv.conf" ]] || : >"$M/etc/resolv.conf"
mount --bind -o ro /etc/resolv.conf "$M/etc/resolv.conf"
# the host's package configuration (the set-up only): "HOST<tab>INSIDE" lines, read-only
while IFS=$'\t' read -r host inside; do
    [[ -n "$host" ]] || continue
    if [[ -d "$host" ]]; then
        mkdir -p "$M$inside"
    else
        mkdir -p "$(dirname "$M$inside")"
        : >"$M$inside"
    fi
    mount --bind -o ro "$host" "$M$inside"
done <<<"$E2E_BINDS"
# folders shared with the host, writable (the sandbox uids' locks: see SHARED_SLOTS)
while IFS=$'\t' read -r host inside; do
    [[ -n "$host" ]] || continue
    mkdir -p "$M$inside"
    mount --bind "$host" "$M$inside"
done <<<"$E2E_SHARED"
if [[ -n "${E2E_SOURCE:-}" ]]; then  # the image build: the zip unpacked, run_autograder copied
    mkdir -p "$M/autograder"
    rm -rf "$M/autograder/source"
    cp -a "$E2E_SOURCE" "$M/autograder/source"
    cp -p "$M/autograder/source/run_autograder" "$M/autograder/run_autograder"
fi
if [[ -n "${E2E_SUBMISSION:-}" ]]; then  # the harness: submission, results, metadata
    rm -rf "$M/autograder/submission" "$M/autograder/results"
    cp -a "$E2E_SUBMISSION" "$M/autograder/submission"
    mkdir "$M/autograder/results"
    cp "$E2E_METADATA" "$M/autograder/submission_metadata.json"
fi
mkdir "$M/.e2e-old-root"
cd "$M"
pivot_root . .e2e-old-root
exec /usr/sbin/chroot . /bin/bash -c "$E2E_INNER"
"""

#: Run by the root's own bash once it is the root: drop the host's tree, then run the command
#: with a clean environment and, where asked, fewer capabilities.
INNER = r"""
set -euo pipefail
umount -l /.e2e-old-root
rmdir /.e2e-old-root
mapfile -t vars <<<"$E2E_ENV"
read -r -a setpriv <<<"$E2E_SETPRIV"
launch=(/usr/bin/env -i "${vars[@]}")
if ((${#setpriv[@]})); then
    launch=(/usr/bin/setpriv "${setpriv[@]}" -- "${launch[@]}")
fi
case "$E2E_WHAT" in
setup)
    "${launch[@]}" /bin/bash -c 'cd /autograder/source && bash ./setup.sh'
    # the venv's grader must be the zip's (a cached venv is set up again with each zip)
    site=(/autograder/venv/lib/python3*/site-packages/grader)
    diff -r -x __pycache__ /autograder/source/grader "${site[0]}" >/dev/null ||
        { echo "e2e: the venv's grader is not the zip's (${site[0]})" >&2; exit 1; }
    echo "e2e: the venv's grader is the zip's"
    ;;
exec)
    exec "${launch[@]}" /bin/bash -c "$E2E_COMMAND"
    ;;
run)
    exec "${launch[@]}" /bin/bash -c \
        'sed -n "s/^\(Cap[A-Za-z]*\):\s*/e2e: \1 /p" /proc/self/status
         cd /autograder && exec /autograder/run_autograder'
    ;;
esac
"""


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: killed at the time limit
    wall: float
    log: str


def contain(
    *,
    what: str,
    lowers: Sequence[Path],
    upper: Path,
    scratch: Path,
    log: Path,
    env: Mapping[str, str],
    setting: Setting = SETTINGS[0],
    binds: Sequence[tuple[str, str]] = (),
    shared: Sequence[tuple[str, str]] = (),
    source: Path | None = None,
    submission: Path | None = None,
    metadata: Path | None = None,
    group: Group | None = None,
    time_limit: float = 3600.0,
    command: str = "",
) -> Outcome:
    """Run ``setup`` or ``run`` (``OUTER``/``INNER``) in a container of ``lowers`` + ``upper``.

    ``upper`` receives what the command writes; ``scratch`` holds the overlay's work dir and
    mount point (removed here). The container's processes are all dead when this returns.
    """
    work, merged, pidfile = scratch / "work", scratch / "merged", scratch / "pid"
    for d in (upper, work, merged):
        d.mkdir(parents=True, exist_ok=True)
    inner_env = {
        "E2E_MERGED": str(merged),
        "E2E_LOWER": ":".join(str(p) for p in lowers),
        "E2E_UPPER": str(upper),
        "E2E_WORK": str(work),
        "E2E_PIDFILE": str(pidfile),
        "E2E_BINDS": "\n".join(f"{host}\t{inside}" for host, inside in binds),
        "E2E_SHARED": "\n".join(f"{host}\t{inside}" for host, inside in shared),
        "E2E_SOURCE": str(source or ""),
        "E2E_SUBMISSION": str(submission or ""),
        "E2E_METADATA": str(metadata or ""),
        "E2E_INNER": INNER,
        "E2E_WHAT": what,
        "E2E_COMMAND": command,
        "E2E_ENV": "\n".join(f"{k}={v}" for k, v in env.items()),
        "E2E_SETPRIV": " ".join(setting.setpriv()),
        "PATH": ROOT_PATH,
    }
    argv = [
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--ipc",
        "--uts",
        "--kill-child",
        "--propagation=private",
        "bash",
        "-c",
        OUTER,
    ]
    if group is not None and group.procs:  # join the cgroups first: all it starts is held there
        joins = " && ".join(f'echo $$ > "{p}"' for p in group.procs)
        argv = ["sh", "-c", f'{joins} && exec "$@"', "e2e", *argv]
    start = time.monotonic()
    lines: list[str] = []
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            argv,
            env=inner_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def copy() -> None:  # the log, each line with the seconds since the start
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                lines.append(line)
                out.write(f"{time.monotonic() - start:7.1f}s {line}\n")
                out.flush()

        reader = threading.Thread(target=copy, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=time_limit)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
        finally:
            if proc.poll() is None:
                proc.kill()  # --kill-child: the namespace's first process, and so all, go too
                proc.wait()
            if group is not None:
                group.kill()
            _wait_gone(pidfile)
            reader.join(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
    wall = time.monotonic() - start
    shutil.rmtree(scratch, ignore_errors=True)
    _tidy_upper(upper, lowers, [*binds, *shared])
    return Outcome(code, wall, "\n".join(lines))


def shared_slots() -> tuple[str, str]:
    """The sandbox uids' lock folder of the host, to be bound at the container's.

    A container of ours shares the host's uids (no user namespace, as in Docker). The grader
    takes sandbox uid 61000 + k by an flock in ``/tmp/grader-slots`` and kills every process of
    that uid when it takes it and when it ends (``sandbox._Slot``). With a folder of its own the
    container's grader took uid 61000 while a grading on the host (tests run beside) had it too,
    and each killed the other's workers (the reference got 182/208, "killed (SIGKILL)"). Sharing
    the locks gives the container a uid no grader on the host uses at the same time.
    On Gradescope each container has its own pid namespace, so a reaper's ``kill(-1)`` cannot
    reach another container (RLIMIT_NPROC, counted per uid across the host, still could).
    """
    from grader.sandbox.layers import SLOT_LOCKS

    SLOT_LOCKS.mkdir(mode=0o700, exist_ok=True)
    return str(SLOT_LOCKS), "/tmp/grader-slots"


def _wait_gone(pidfile: Path, seconds: float = 10.0) -> None:
    """Wait for the namespace's first process (its end takes every other one, and the mounts)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + seconds
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return
        if fields[0] in ("Z", "X"):
            return
        time.sleep(0.02)


def _tidy_upper(upper: Path, lowers: Sequence[Path], binds: Sequence[tuple[str, str]]) -> None:
    """Remove the empty mount points the binds left in ``upper`` (no mount exists any more)."""
    for _, inside in binds:
        path = Path(inside)
        for p in (path, *path.parents):
            if p == Path("/"):
                break
            here = upper / p.relative_to("/")
            if any((low / p.relative_to("/")).exists() for low in lowers):
                break
            with contextlib.suppress(OSError):
                if here.is_dir() and not here.is_symlink():
                    here.rmdir()
                elif here.is_file() and here.stat().st_size == 0:
                    here.unlink()


# -- the layers: bare root, set-up root ------------------------------------------------------------


def _log_tail(text: str, lines: int = 30) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])


def bare_root(cache: Path, mirror: str, rebuild: bool) -> tuple[Path, float | None]:
    """The debootstrapped root (made now, or cached): its path and how long it took to make."""
    base = cache / f"{SUITE}-minbase"
    stamp = base / ".grader-e2e"
    if stamp.is_file() and not rebuild:
        return base, None
    if shutil.which("debootstrap") is None:
        raise CannotRun(
            "debootstrap is not installed (apt-get install debootstrap); nothing was graded"
        )
    tmp = cache / f"tmp-{SUITE}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.monotonic()
    done = subprocess.run(
        ["debootstrap", "--variant=minbase", SUITE, str(tmp), mirror],
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - start
    if done.returncode != 0:
        text = done.stdout + done.stderr
        shutil.rmtree(tmp, ignore_errors=True)
        if unreachable(text):
            raise CannotRun(
                f"debootstrap could not reach the Debian mirror {mirror} (--mirror URL or "
                f"GRADER_E2E_MIRROR to use another); nothing was graded:\n{_log_tail(text, 6)}"
            )
        raise StepFailed(f"debootstrap {SUITE} failed (exit {done.returncode}):\n{_log_tail(text)}")
    (tmp / ".grader-e2e").write_text(
        json.dumps({"suite": SUITE, "mirror": mirror, "made": time.time()}) + "\n"
    )
    shutil.rmtree(base, ignore_errors=True)
    tmp.rename(base)
    return base, took


_UNREACHABLE = re.compile(
    r"Failed getting release file|Temporary failure|Could not resolve|Connection refused|"
    r"Network is unreachable|No route to host|Connection timed out|couldn't download",
    re.I,
)


def unreachable(debootstrap_output: str) -> bool:
    """Whether debootstrap failed for want of the mirror (not for a fault of its own)."""
    return bool(_UNREACHABLE.search(debootstrap_output))


def setup_key(base: Path, source: Path) -> str:
    """What the cached set-up root depends on: the bare root, setup.sh, requirements.txt."""
    h = hashlib.sha256()
    for part in (base / ".grader-e2e", source / "setup.sh", source / "requirements.txt"):
        h.update(part.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def setup_env(carry: Carry) -> dict[str, str]:
    """setup.sh's environment: a root shell's, and the host's pip settings."""
    return {"HOME": "/root", "PATH": ROOT_PATH, **carry.env}


# -- submissions ---------------------------------------------------------------------------------


def stage_submissions(dest: Path, names: Sequence[str], bug_id: str) -> dict[str, Path]:
    """Each submission as the folder Gradescope would put in /autograder/submission."""
    from grader.grading import feedback

    out: dict[str, Path] = {}
    for name in names:
        folder = dest / name
        folder.mkdir(parents=True)
        if name == "reference":
            _copy_py(pack.active().solutions, folder)
        elif name == "stubs":
            _copy_py(REPO / "assignment", folder)
        elif name == "bug":
            bugs = {b.id: b for b in feedback.bugs()}
            if bug_id not in bugs:
                raise StepFailed(f"no bug {bug_id!r} in {pack.active().suites / 'bugs.py'}")
            bug = bugs[bug_id]
            _copy_py(pack.active().solutions, folder)
            target = folder / bug.file
            target.write_text(bug.patch(target.read_text(encoding="utf-8")), encoding="utf-8")
        elif name == "notebook":
            shutil.copy2(REPO / "examples" / "notebook" / "assignment.ipynb", folder)
        else:
            raise StepFailed(f"no submission {name!r} (reference, stubs, bug, notebook)")
        out[name] = folder
    return out


def _copy_py(src: Path, dest: Path) -> None:
    for f in sorted(src.glob("*.py")):
        shutil.copy2(f, dest / f.name)


SUBMISSIONS = ("reference", "stubs", "bug", "notebook")


# -- checking a run ------------------------------------------------------------------------------


def scores(results: Mapping[str, Any]) -> dict[str, float]:
    """Each test's score by name (a repeated name gets its number appended)."""
    out: dict[str, float] = {}
    for test in results.get("tests") or []:
        name = str(test.get("name"))
        if name in out:
            name = f"{name} #{test.get('number')}"
        out[name] = float(test.get("score") or 0)
    return out


def differences(got: Mapping[str, Any], host: Mapping[str, Any]) -> list[str]:
    """Where ``got`` scores differently from ``host``'s results.json (empty: the same)."""
    out = []
    if float(got.get("score") or 0) != float(host.get("score") or 0):
        out.append(f"total {got.get('score')} here, {host.get('score')} on the host")
    mine, theirs = scores(got), scores(host)
    for name in sorted(set(mine) | set(theirs)):
        if mine.get(name) != theirs.get(name):
            out.append(f"{name}: {mine.get(name, 'absent')} here, {theirs.get(name, 'absent')}")
    return out


def sandbox_layers(results: Mapping[str, Any]) -> dict[str, str]:
    """The staff-only ``extra_data.sandbox`` of a results.json (empty where there is none)."""
    extra = results.get("extra_data") or {}
    layers = extra.get("sandbox") or {}
    return {str(k): str(v) for k, v in layers.items()}


#: Values of a layer that mean it does not hold ("failed: Operation not permitted",
#: "unavailable (...)", "disabled (GRADER_UNSAFE_DISABLE)"); a layer's other words mean it does
#: ("on (ABI 7: ...)", "a sandbox uid of its own", "available"), whatever layers come.
_OFF = re.compile(r"^(failed|unavailable|disabled|off|unused|not)\b", re.I)


def exposures(layers: Mapping[str, str]) -> list[str]:
    """What a run's sandbox left open: the canary's allowed attempts, the layers not on."""
    out = []
    canary = layers.get("canary", "")
    if "; allowed: " in canary:
        out += [f"canary: {a}" for a in canary.split("; allowed: ", 1)[1].split("; ")]
    elif canary and not canary.startswith("passed"):
        out.append(f"canary: {canary}")
    for key, value in layers.items():
        if key != "canary" and _OFF.match(value):
            out.append(f"{key}: {value}")
    return out


@dataclass
class Run:
    submission: str
    setting: Setting
    wall: float = 0.0
    returncode: int | None = None
    score: float | None = None
    max_score: float | None = None
    host_score: float | None = None
    problems: list[str] = field(default_factory=list)
    layers: dict[str, str] = field(default_factory=dict)
    caps: dict[str, str] = field(default_factory=dict)
    peak_memory: int | None = None
    oom_kills: int | None = None
    cpu_seconds: float | None = None
    written: int = 0  # bytes the run left in its container's layer
    limits: str = ""
    execution_time: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["setting"] = self.setting.key
        return out


def check_run(
    run: Run, results: dict[str, Any] | None, host: Mapping[str, Any], log: str, host_caps: int
) -> None:
    """Fill in ``run`` from its results.json and log; every way it is wrong into ``problems``."""
    from grader.gradescope.simulate import validate

    run.host_score = float(host.get("score") or 0)
    for line in log.splitlines():
        if line.startswith("e2e: Cap"):
            key, _, value = line[len("e2e: ") :].partition(" ")
            run.caps[key] = value.strip()
    want = run.setting.mask(host_caps)
    got = int(run.caps.get("CapEff", "-1"), 16) if run.caps.get("CapEff") else None
    if got != want:
        run.problems.append(
            f"run_autograder had capabilities {run.caps.get('CapEff')}, expected {want:016x}"
        )
    if run.returncode is None:
        run.problems.append("killed at Gradescope's time limit")
    elif run.returncode != 0:
        run.problems.append(f"run_autograder exited {run.returncode}")
    if results is None:
        run.problems.append("no results.json was written")
        return
    run.score = float(results.get("score") or 0)
    run.max_score = sum(float(t.get("max_score") or 0) for t in results.get("tests") or [])
    run.execution_time = results.get("execution_time")
    run.layers = sandbox_layers(results)
    run.problems += [f"schema: {e}" for e in validate(results)]
    run.problems += [f"score: {d}" for d in differences(results, host)[:10]]


# -- the whole check -------------------------------------------------------------------------------


@dataclass
class Report:
    runs: list[Run] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    exec_returncode: int | None = None  # of --exec COMMAND

    @property
    def ok(self) -> bool:
        return bool(self.runs) and not any(r.problems for r in self.runs)


def host_capabilities() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return 0


def preflight() -> None:
    if sys.platform != "linux":
        raise CannotRun("needs Linux (namespaces, overlayfs, cgroups)")
    if os.geteuid() != 0:
        raise CannotRun("needs root (debootstrap, mounts, chroot): run it with sudo")
    if "overlay" not in Path("/proc/filesystems").read_text():
        with contextlib.suppress(OSError):
            subprocess.run(["modprobe", "overlay"], capture_output=True, check=False)
        if "overlay" not in Path("/proc/filesystems").read_text():
            raise CannotRun("the kernel has no overlay filesystem (modprobe overlay)")
    for tool in ("unshare", "pivot_root", "mknod"):
        if shutil.which(tool) is None:
            raise CannotRun(f"{tool} is not installed (util-linux / coreutils)")


def _host_grade(submission: Path, out: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    done = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(submission), "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if not out.is_file():
        raise StepFailed(f"grader grade {submission} wrote nothing:\n{_log_tail(done.stderr)}")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@dataclass(frozen=True)
class Options:
    """What ``scripts/gradescope-e2e`` was asked for (its command line)."""

    cache: Path = DEFAULT_CACHE
    mirror: str = DEFAULT_MIRROR
    rebuild: bool = False  # debootstrap again (and so set up again)
    rebuild_setup: bool = False  # setup.sh from nothing on the cached bare root
    submissions: tuple[str, ...] = SUBMISSIONS
    settings: tuple[Setting, ...] = SETTINGS
    bug: str = DEFAULT_BUG
    cpus: float | None = 0.5
    memory: int | None = 768 * 2**20
    keep: bool = False
    exec_command: str = ""  # instead of grading: run this in a container of the set-up root
    jobs: int = 4  # containers at once (each with its own CPU quota)


def run_all(opts: Options, say: Any = print) -> Report:
    """Everything: the zip, the roots, the runs; one check at a time per cache (a lock)."""
    preflight()
    report = Report()
    opts.cache.mkdir(parents=True, exist_ok=True)
    with (opts.cache / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another gradescope-e2e using {opts.cache} ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in opts.cache.glob("tmp-*"):  # of a run that was killed (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=opts.cache))
        tmp.chmod(0o711)  # like /: the sandbox uids may traverse, not list
        try:
            _run_all(report, tmp, opts, say)
        finally:
            if opts.keep:
                say(f"kept the layers of this run under {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return report


def _run_all(report: Report, tmp: Path, opts: Options, say: Any) -> None:
    from grader.gradescope import package
    from grader.gradescope.simulate import TIME_LIMIT, extract, fake_metadata

    cache = opts.cache
    start = time.monotonic()
    zip_path = package.build_autograder(tmp / "autograder.zip")
    source = tmp / "source"
    extract(zip_path, source)
    report.times["package"] = time.monotonic() - start
    say(f"==> built {zip_path.name} ({report.times['package']:.1f} s)")

    base, took = bare_root(cache, opts.mirror, opts.rebuild)
    if took is None:
        say(f"==> bare {SUITE} root: cached ({base}; --rebuild to make it again)")
    else:
        report.times["debootstrap"] = took
        say(f"==> bare {SUITE} root: debootstrap --variant=minbase {took:.1f} s ({base})")

    carry, note = torch_index(host_carry(), tmp)
    if note:
        report.notes.append(note)
    for skipped in carry.skipped:
        report.notes.append(f"not carried in: {skipped}")
    key = setup_key(base, source)
    setup_layer = cache / f"setup-{key}"
    for old in cache.glob("setup-*"):  # of an earlier zip's setup.sh or pins: ~1 GB each
        if old != setup_layer:
            shutil.rmtree(old, ignore_errors=True)
    layers = [base]
    if opts.rebuild or opts.rebuild_setup or not (setup_layer / ".grader-e2e").is_file():
        shutil.rmtree(setup_layer, ignore_errors=True)
        upper = tmp / "setup-upper"
        carried = ", ".join(host for host, _ in carry.binds) or "nothing"
        say(f"==> setup.sh from nothing (carried in: {carried})")
        out = contain(
            what="setup", lowers=layers, upper=upper, scratch=tmp / "setup-scratch",
            log=tmp / "setup.log", env=setup_env(carry), binds=carry.binds, source=source,
        )  # fmt: skip
        if out.returncode != 0:
            raise StepFailed(
                f"setup.sh failed in the bare root (exit {out.returncode}; log {tmp}/setup.log, "
                f"--keep to keep it):\n{_log_tail(out.log)}"
            )
        report.times["setup.sh"] = out.wall
        say(f"    setup.sh: {out.wall:.1f} s, {_du(upper) / 2**20:.0f} MiB in the image")
        (upper / ".grader-e2e").write_text(json.dumps({"key": key, "made": time.time()}) + "\n")
        upper.rename(setup_layer)
        layers = [setup_layer, base]
    else:
        layers = [setup_layer, base]
        upper = tmp / "refresh-upper"
        say(f"==> setup.sh again on the cached set-up root ({setup_layer.name}) with this zip")
        out = contain(
            what="setup", lowers=layers, upper=upper, scratch=tmp / "refresh-scratch",
            log=tmp / "setup.log", env=setup_env(carry), binds=carry.binds, source=source,
        )  # fmt: skip
        if out.returncode != 0:
            raise StepFailed(
                f"setup.sh failed on the cached set-up root (exit {out.returncode}; "
                f"--rebuild-setup to start from nothing):\n{_log_tail(out.log)}"
            )
        report.times["setup.sh (cached venv)"] = out.wall
        say(f"    setup.sh: {out.wall:.1f} s, {_du(upper) / 2**20:.0f} MiB written")
        layers = [upper, *layers]

    if opts.exec_command:
        out = contain(
            what="exec", lowers=layers, upper=tmp / "exec-upper", scratch=tmp / "exec-scratch",
            log=tmp / "exec.log", env=setup_env(carry), binds=carry.binds,
            command=opts.exec_command,
        )  # fmt: skip
        say(out.log)
        report.exec_returncode = out.returncode
        say(f"==> exit {out.returncode} after {out.wall:.1f} s (nothing was graded)")
        return
    staged = stage_submissions(tmp / "submissions", opts.submissions, opts.bug)
    metadata = tmp / "submission_metadata.json"
    metadata.write_text(json.dumps(fake_metadata(), indent=2) + "\n")
    host_caps = host_capabilities()
    slots = shared_slots()

    def host_grade(name: str) -> dict[str, Any]:
        t0 = time.monotonic()
        host = _host_grade(staged[name], tmp / f"host-{name}.json")
        report.times[f"grader grade {name} (host)"] = time.monotonic() - t0
        say(f"==> {name}: grader grade on the host {host.get('score')} "
            f"({time.monotonic() - t0:.1f} s)")  # fmt: skip
        return host

    def one_run(name: str, setting: Setting, host: Future[dict[str, Any]]) -> Run:
        run = Run(name, setting)
        tag = f"{name}-{setting.key}"
        upper = tmp / f"run-{tag}"
        with limited(opts.cpus, opts.memory) as group:
            run.limits = group.description
            out = contain(
                what="run", lowers=layers, upper=upper, scratch=tmp / f"scratch-{tag}",
                log=tmp / f"run-{tag}.log", env={"HOME": "/root", "PATH": ROOT_PATH},
                setting=setting, submission=staged[name], metadata=metadata, group=group,
                time_limit=TIME_LIMIT, shared=[slots],
            )  # fmt: skip
            run.peak_memory = group.peak_memory()
            run.oom_kills = group.oom_kills()
            run.cpu_seconds = group.cpu_seconds()
        run.wall, run.returncode = out.wall, out.returncode
        run.written = _du(upper)
        results = None
        with contextlib.suppress(OSError, ValueError):
            results = json.loads((upper / "autograder/results/results.json").read_text())
        check_run(run, results, host.result(), out.log, host_caps)
        say(f"    {name}, " + _run_line(run))
        return run

    # Each container has its own cgroup (its own 1/2 CPU): --jobs of them run at once. The host
    # gradings go first in the queue; a run waits for its host's score only to compare.
    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        hosts = {name: pool.submit(host_grade, name) for name in staged}
        runs = [
            pool.submit(one_run, name, setting, hosts[name])
            for name in staged
            for setting in opts.settings
        ]
        report.runs = [r.result() for r in runs]
    report.times["total"] = time.monotonic() - start


def _du(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
    return total


def _run_line(run: Run) -> str:
    score = "no results" if run.score is None else f"{run.score:g}/{run.max_score:g}"
    mem = "" if run.peak_memory is None else f", peak {run.peak_memory / 2**20:.0f} MiB"
    if run.cpu_seconds is not None:
        mem = f" ({run.cpu_seconds:.1f} s of CPU){mem}"
    oom = f", {run.oom_kills} OOM kill(s)" if run.oom_kills else ""
    oom += f", wrote {run.written / 2**20:.1f} MiB"
    verdict = "ok" if not run.problems else "FAILED: " + "; ".join(run.problems)
    return (
        f"{run.setting.label}: {score} (host {run.host_score:g}), {run.wall:.1f} s{mem}{oom}"
        f" -- {verdict}"
    )


def describe(report: Report, expect: Iterable[str] = ()) -> str:
    """The summary: scores and times, then the sandbox layers each setting got."""
    lines = ["", "Summary (each run under: " + (report.runs[0].limits if report.runs else "-")]
    lines[-1] += ")"
    lines.append(f"  {'submission':<10} {'setting':<12} {'score':>9} {'host':>6} {'wall':>7}")
    for r in report.runs:
        score = "-" if r.score is None else f"{r.score:g}/{r.max_score:g}"
        lines.append(
            f"  {r.submission:<10} {r.setting.key:<12} {score:>9} {r.host_score or 0:>6g} "
            f"{r.wall:>6.1f}s  {'ok' if not r.problems else 'FAILED'}"
        )
    lines.append("Times: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.times.items()))
    for setting in dict.fromkeys(r.setting for r in report.runs):
        mine = [r for r in report.runs if r.setting == setting]
        lines.append(f"Sandbox layers, {setting.label}:")
        caps = mine[0].caps.get("CapEff", "?")
        dropped = cap_names(host_capabilities() & ~int(caps, 16)) if caps != "?" else []
        lines.append(
            f"  capabilities of run_autograder: CapEff {caps}"
            + (f" (dropped: {', '.join(dropped)})" if dropped else " (all)")
        )
        # runs whose layers agree (but for which sandbox uid they got) are shown once
        distinct: dict[tuple[tuple[str, str], ...], list[Run]] = {}
        for r in mine:
            same = tuple((k, re.sub(r"^uid \d+$", "uid", v)) for k, v in r.layers.items())
            distinct.setdefault(same, []).append(r)
        for layers, runs in distinct.items():
            if len(distinct) > 1:
                lines.append(f"  ({', '.join(r.submission for r in runs)})")
            for key, value in layers:
                shown = value
                if value == "uid":
                    shown = "uid " + ", ".join(r.layers[key][4:] for r in runs) + " (one per run)"
                lines.append(f"  {key:<9} {shown}")
            exposed = exposures(dict(runs[0].layers))
            lines.append("  exposed: " + ("; ".join(exposed) if exposed else "nothing found"))
    for note in report.notes:
        lines.append(f"Note: {note}")
    for name in expect:
        for r in report.runs:
            got = r.layers.get(name)
            if got is None or not got.startswith("on"):
                r.problems.append(f"layer {name} is {got or 'absent'}, expected on")
    bad = [r for r in report.runs if r.problems]
    if bad:
        lines.append(f"FAILED: {len(bad)} of {len(report.runs)} runs")
        for r in bad:
            lines.append(f"  {r.submission} / {r.setting.key}: " + "; ".join(r.problems))
    else:
        lines.append(f"All {len(report.runs)} runs match `grader grade` and the schema.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="gradescope-e2e",
        description="Build autograder.zip, set it up on a bare Debian root and grade "
        "submissions through run_autograder as Gradescope would (docs/GRADESCOPE.md).",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("GRADER_E2E_CACHE", DEFAULT_CACHE)),
        help=f"where the bare and set-up roots are kept (default {DEFAULT_CACHE}, or "
        "$GRADER_E2E_CACHE)",
    )
    p.add_argument(
        "--mirror",
        default=os.environ.get("GRADER_E2E_MIRROR", DEFAULT_MIRROR),
        help=f"the Debian mirror for debootstrap (default {DEFAULT_MIRROR})",
    )
    p.add_argument("--rebuild", action="store_true", help="debootstrap again, set up again")
    p.add_argument(
        "--rebuild-setup", action="store_true", help="run setup.sh from nothing on the bare root"
    )
    p.add_argument(
        "--only",
        default=",".join(SUBMISSIONS),
        help=f"submissions to grade, comma-separated (default {','.join(SUBMISSIONS)})",
    )
    p.add_argument(
        "--settings",
        default=",".join(s.key for s in SETTINGS),
        help="capability settings, comma-separated (default all-caps,docker-caps)",
    )
    p.add_argument("--bug", default=DEFAULT_BUG, help=f"the bug of bugs.py (default {DEFAULT_BUG})")
    p.add_argument("--cpus", type=float, default=0.5, help="CPU quota of each run (0: none)")
    p.add_argument("--memory-mib", type=int, default=768, help="memory of each run (0: none)")
    p.add_argument(
        "--expect-layer",
        action="append",
        default=[],
        metavar="NAME",
        help="fail unless every run reports this sandbox layer on (e.g. landlock)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=4,
        help="containers at once, each with its own 1/2 CPU (default 4: two cores' worth; "
        "1 runs each alone)",
    )
    p.add_argument("--json", type=Path, help="also write the report here")
    p.add_argument("--keep", action="store_true", help="keep this run's layers and logs")
    p.add_argument(
        "--exec",
        metavar="COMMAND",
        help="instead of grading: run COMMAND (bash) as root in a fresh container of the set-up "
        "root, with the host's pip configuration, and print what it printed",
    )
    args = p.parse_args(argv)
    by_key = {s.key: s for s in SETTINGS}
    try:
        settings = [by_key[k] for k in args.settings.split(",") if k]
    except KeyError as exc:
        p.error(f"no setting {exc} (all-caps, docker-caps)")
    opts = Options(
        cache=args.cache,
        mirror=args.mirror,
        rebuild=args.rebuild,
        rebuild_setup=args.rebuild_setup,
        submissions=tuple(n for n in args.only.split(",") if n),
        settings=tuple(settings),
        bug=args.bug,
        cpus=args.cpus or None,
        memory=args.memory_mib * 2**20 or None,
        keep=args.keep,
        exec_command=args.exec or "",
        jobs=max(1, args.jobs),
    )
    try:
        report = run_all(opts, say=lambda text: print(text, flush=True))
    except CannotRun as exc:
        print(f"gradescope-e2e: cannot run here: {exc}", file=sys.stderr)
        return CANNOT_RUN
    except StepFailed as exc:
        print(f"gradescope-e2e: FAILED: {exc}", file=sys.stderr)
        return FAILED
    if opts.exec_command:
        return OK if report.exec_returncode == 0 else FAILED
    print(describe(report, args.expect_layer))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"runs": [r.to_json() for r in report.runs], "times": report.times}, indent=2
            )
            + "\n"
        )
    return OK if report.ok else FAILED


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["DOCKER_CAPS", "SETTINGS", "main", "pip_carry", "pip_settings", "run_all"]
