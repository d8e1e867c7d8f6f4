"""tools/gradescope_e2e.py (scripts/gradescope-e2e): its pieces, without debootstrap or the
network.

The whole check (a debootstrapped root, setup.sh, eight graded runs: ~5 minutes from nothing)
is its own command, not part of the suite (docs/GRADESCOPE.md says why). Here: how the host's
pip configuration is carried in, what counts as a difference or an exposure, and, as root, the
container itself, on a small root made of the host's /usr: the capabilities it leaves, its pid
namespace, its mounts (and none left on the host afterwards), the time limit, the OOM killer of
its memory cgroup.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.grading import feedback

# The harness is a maintainers' tool beside the package, not in it (issue 29): importable from
# the repository's root, as scripts/gradescope-e2e runs it.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tools import gradescope_e2e as e2e
from tools.gradescope_e2e import CARRY, SETTINGS, Carry, Run

ALL, DOCKER = SETTINGS
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mounts and namespaces need root")

# -- capabilities --------------------------------------------------------------------------------


def test_docker_capabilities_are_dockers_default_set() -> None:
    # Docker's documented default: CapEff 00000000a80425fb in a container started as root
    assert DOCKER.mask(2**41 - 1) == 0xA80425FB
    assert "sys_admin" not in e2e.cap_names(DOCKER.mask(2**41 - 1))
    assert ALL.mask(0x1FFFEFFFFFF) == 0x1FFFEFFFFFF  # every capability the host has
    assert ALL.setpriv() == []
    assert DOCKER.setpriv()[0].startswith("--bounding-set=-all,+chown,")


# -- carrying the host's pip configuration ---------------------------------------------------------


def test_pip_settings_rank_like_pip() -> None:
    listed = "\n".join(
        [
            ":env:.find-links='/opt/wheels'",
            "global.find-links='/elsewhere'",
            "global.index-url='https://mirror.example/simple'",
            "install.index-url='https://install.example/simple'",
            "global.extra-index-url='file:///a/simple file:///b/simple'",
            "user.timeout='60'",  # a section pip config list does not print: ignored
        ]
    )
    assert e2e.pip_settings(listed) == {
        "extra-index-url": "file:///a/simple file:///b/simple",
        "find-links": "/opt/wheels",
        "index-url": "https://install.example/simple",
    }


def test_local_files_are_bound_under_carry_and_settings_rewritten(tmp_path: Path) -> None:
    index = tmp_path / "pypi" / "simple"
    (index / "attrs").mkdir(parents=True)
    (tmp_path / "pypi" / "files").mkdir()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "bundle.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    settings = {
        "extra-index-url": f"file://{index} https://pypi.example/simple",
        "find-links": f"{wheels} /no/such/folder",
        "cert": str(certs / "bundle.crt"),
        "timeout": "60",
    }
    carry = e2e.pip_carry(settings, {"https_proxy": "http://proxy:3128"}, ca_dir=certs)
    inside = {host: path for host, path in carry.binds}
    # the index with its files beside it, the wheels, the CA folder (the bundle is in it)
    assert set(inside) == {str(tmp_path / "pypi"), str(wheels), str(certs)}
    assert all(path.startswith(f"{CARRY}/") for path in inside.values())
    moved = f"file://{CARRY}{tmp_path}/pypi/simple"
    assert carry.env["PIP_EXTRA_INDEX_URL"] == f"{moved} https://pypi.example/simple"
    assert carry.env["PIP_FIND_LINKS"] == f"{CARRY}{wheels} /no/such/folder"
    assert carry.env["PIP_CERT"] == f"{CARRY}{certs}/bundle.crt"
    assert carry.env["PIP_TIMEOUT"] == "60"
    assert carry.env["https_proxy"] == "http://proxy:3128"


def test_nothing_local_nothing_bound(tmp_path: Path) -> None:
    carry = e2e.pip_carry({"index-url": "https://pypi.org/simple"}, {}, ca_dir=tmp_path / "none")
    assert carry.binds == ()
    assert carry.env == {"PIP_INDEX_URL": "https://pypi.org/simple"}


def test_an_unreachable_torch_index_is_replaced_by_an_empty_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(e2e, "unreachable_reason", lambda url: "no such host")
    carry, note = e2e.torch_index(Carry({"PIP_X": "1"}, ()), tmp_path)
    assert carry.env["TORCH_INDEX_URL"] == f"file://{CARRY}/empty-index"
    assert carry.binds == ((str(tmp_path / "empty-index"), f"{CARRY}/empty-index"),)
    assert note is not None and "no such host" in note
    monkeypatch.setattr(e2e, "unreachable_reason", lambda url: None)
    same = Carry({"PIP_X": "1"}, ())
    assert e2e.torch_index(same, tmp_path) == (same, None)


def test_unreachable_reason_of_a_refusing_port() -> None:
    assert e2e.unreachable_reason("http://127.0.0.1:9/simple", timeout=2) is not None


def test_debootstrap_failures_for_want_of_the_mirror() -> None:
    assert e2e.unreachable(
        "I: Retrieving InRelease\nE: Failed getting release file http://x/dists/bookworm/Release"
    )
    assert e2e.unreachable("W: Failure trying to run: ... Temporary failure resolving 'x'")
    assert not e2e.unreachable("E: Couldn't find these debs: libc6")


# -- judging a run -------------------------------------------------------------------------------


def _results(scores: dict[str, float], layers: dict[str, str] | None = None) -> dict[str, Any]:
    tests = [
        {"name": n, "number": str(i), "score": s, "max_score": 1.0, "status": "passed"}
        for i, (n, s) in enumerate(scores.items(), 1)
    ]
    out: dict[str, Any] = {"score": sum(scores.values()), "tests": tests}
    if layers is not None:
        out["extra_data"] = {"sandbox": layers}
    return out


def test_differences_name_the_tests() -> None:
    host = _results({"a": 1.0, "b": 1.0})
    assert e2e.differences(_results({"a": 1.0, "b": 1.0}), host) == []
    diff = e2e.differences(_results({"a": 1.0, "b": 0.0}), host)
    assert diff[0].startswith("total 1.0 here, 2.0 on the host")
    assert "b: 0.0 here, 1.0" in diff
    # the same total from other tests is still a difference
    assert e2e.differences(_results({"a": 0.0, "b": 1.0, "c": 1.0}), host) != []


CANARY_ALLOWED = "passed (13 attempts blocked); allowed: write /tmp; write /var/tmp; write /dev/shm"


def test_exposures_list_the_canary_and_every_layer_not_on() -> None:
    layers = {
        "user": "a sandbox uid of its own (61000+)",
        "mountns": "disabled (GRADER_UNSAFE_DISABLE)",
        "netns": "failed: Operation not permitted",
        "seccomp": "available",
        "landlock": "unavailable (kernel ABI 0)",  # a layer this module has never heard of
        "canary": CANARY_ALLOWED,
    }
    assert e2e.exposures(layers) == [
        "canary: write /tmp",
        "canary: write /var/tmp",
        "canary: write /dev/shm",
        "mountns: disabled (GRADER_UNSAFE_DISABLE)",
        "netns: failed: Operation not permitted",
        "landlock: unavailable (kernel ABI 0)",
    ]
    assert e2e.exposures({"landlock": "on (ABI 7)", "canary": "passed (16 attempts)"}) == []


def test_check_run_finds_wrong_capabilities_schema_and_scores() -> None:
    host = _results({"a": 1.0})
    host["tests"][0]["name"] = "a"
    good = {**_results({"a": 1.0}, {"canary": "passed (16 attempts blocked)"}), "output": ""}
    log = "e2e: CapEff 00000000a80425fb\ne2e: CapBnd 00000000a80425fb\n"
    run = Run("reference", DOCKER, returncode=0)
    e2e.check_run(run, good, host, log, host_caps=2**41 - 1)
    assert run.problems == [], run.problems
    assert (run.score, run.max_score, run.caps["CapBnd"]) == (1.0, 1.0, "00000000a80425fb")

    run = Run("reference", ALL, returncode=0)  # all capabilities asked, Docker's seen
    e2e.check_run(run, good, host, log, host_caps=2**41 - 1)
    assert any("capabilities 00000000a80425fb" in p for p in run.problems)

    bad = {**good, "tests": [{**good["tests"][0], "score": 0.0, "colour": "red"}], "score": 0.0}
    run = Run("reference", DOCKER, returncode=0)
    e2e.check_run(run, bad, host, log, host_caps=2**41 - 1)
    assert any(p.startswith("schema:") for p in run.problems)
    assert any(p.startswith("score: total 0.0 here") for p in run.problems)

    run = Run("reference", DOCKER, returncode=None)
    e2e.check_run(run, None, host, log, host_caps=2**41 - 1)
    assert "no results.json was written" in run.problems
    assert "killed at Gradescope's time limit" in run.problems


def test_an_expected_layer_that_is_not_on_fails_the_report() -> None:
    run = Run("reference", DOCKER, score=208, max_score=208, host_score=208)
    run.layers = {"user": "uid 61000", "canary": CANARY_ALLOWED}
    run.caps = {"CapEff": "00000000a80425fb"}
    report = e2e.Report(runs=[run])
    assert report.ok
    text = e2e.describe(report, expect=["landlock"])
    assert not report.ok
    assert "layer landlock is absent, expected on" in text
    assert "exposed: canary: write /tmp" in text


def test_the_bug_submission_is_the_reference_with_one_line_changed(tmp_path: Path) -> None:
    staged = e2e.stage_submissions(tmp_path, ["reference", "bug", "stubs", "notebook"], "l1-no-abs")
    bug = next(b for b in feedback.bugs() if b.id == "l1-no-abs")
    ref = (staged["reference"] / bug.file).read_text().splitlines()
    buggy = (staged["bug"] / bug.file).read_text().splitlines()
    assert len(ref) == len(buggy)
    assert sum(a != b for a, b in zip(ref, buggy, strict=True)) == 1
    assert sorted(p.name for p in staged["stubs"].iterdir()) == sorted(
        p.name for p in staged["reference"].iterdir()
    )
    assert [p.name for p in staged["notebook"].iterdir()] == ["assignment.ipynb"]
    with pytest.raises(e2e.StepFailed, match="no bug"):
        e2e.stage_submissions(tmp_path / "again", ["bug"], "no-such-bug")


# -- the container, on a root made of the host's /usr ----------------------------------------------


def _small_root(where: Path) -> Path:
    """A root whose programs are the host's (/usr bound in read-only by ``contain``)."""
    root = where / "root"
    for d in ("usr", "etc", "proc", "sys", "dev", "tmp", "run", "root", "autograder"):
        (root / d).mkdir(parents=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        if Path(f"/{link}").is_symlink():
            (root / link).symlink_to(os.readlink(f"/{link}"))
    (root / "tmp").chmod(0o1777)
    return root


def _contain(tmp_path: Path, command: str, **kw: Any) -> e2e.Outcome:
    extra = kw.pop("binds", [])
    return e2e.contain(
        what="exec",
        lowers=[_small_root(tmp_path)],
        upper=tmp_path / "upper",
        scratch=tmp_path / "scratch",
        log=tmp_path / "log",
        env={"HOME": "/root", "PATH": e2e.ROOT_PATH},
        binds=[("/usr", "/usr"), *extra],
        command=command,
        **kw,
    )


def _mounts_under(path: Path) -> list[str]:
    return [
        line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in line
    ]


needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("unshare", "pivot_root", "setpriv")),
    reason="util-linux's unshare, pivot_root and setpriv are needed",
)


@root_only
@needs_tools
@pytest.mark.asroot
def test_the_container_is_dockers_and_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "pinned.txt").write_text("from the host\n")
    carried = f"{CARRY}/data"
    out = _contain(
        tmp_path,
        f"""grep -E '^Cap(Eff|Bnd):' /proc/self/status
        echo "pid $$"
        ls /dev | tr '\\n' ' '; echo
        cat {carried}/pinned.txt
        touch {carried}/x 2>/dev/null && echo writable || echo read-only
        grep -c . /proc/self/mountinfo
        cut -d' ' -f5 /proc/self/mountinfo | tr '\\n' ' '""",
        setting=DOCKER,
        binds=[(str(data), carried)],
    )
    assert out.returncode == 0, out.log
    lines = out.log.splitlines()
    assert lines[0].split() == ["CapEff:", "00000000a80425fb"]
    assert "pid 1" in lines  # its own pid namespace
    assert set(lines[3].split()) >= {"null", "zero", "urandom", "shm", "pts", "tty"}
    assert "vda" not in lines[3] and "sda" not in lines[3]  # no device of the host
    assert "from the host" in lines and "read-only" in lines
    mounted = set(lines[-1].split())
    assert "/" in mounted and not any(
        m.startswith(("/work", "/var/cache", "/home")) for m in mounted
    )
    # afterwards: no mount left on the host, no mount point left in the layer
    assert _mounts_under(tmp_path) == []
    assert not (tmp_path / "upper" / "run" / "grader-e2e-host").exists()
    assert not (tmp_path / "upper" / ".e2e-old-root").exists()
    assert not (tmp_path / "scratch").exists()


@root_only
@needs_tools
@pytest.mark.asroot
def test_every_capability_setting_keeps_the_hosts(tmp_path: Path) -> None:
    out = _contain(tmp_path, "grep '^CapEff:' /proc/self/status", setting=ALL)
    assert out.returncode == 0, out.log
    assert int(out.log.split()[1], 16) == e2e.host_capabilities()


@root_only
@needs_tools
@pytest.mark.asroot
def test_the_time_limit_ends_every_process_of_the_container(tmp_path: Path) -> None:
    marker = "4242.125"  # a sleep no one else runs
    out = _contain(tmp_path, f"sleep {marker} & sleep {marker}", time_limit=1.0)
    assert out.returncode is None
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    left.append(entry.name)
            except OSError:
                pass
    assert left == []
    assert _mounts_under(tmp_path) == []


@root_only
@needs_tools
@pytest.mark.asroot
def test_the_memory_limit_is_the_kernels_oom_killer(tmp_path: Path) -> None:
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        pytest.skip("no /usr/bin/python3 to allocate with")
    hog = "python3 -c 'b = bytearray(256 * 2**20); print(\"survived\")'; echo exit $?"
    with e2e.limited(cpus=None, memory=64 * 2**20) as group:
        if not group.dirs:
            pytest.skip(f"no memory cgroup could be made: {group.description}")
        out = _contain(tmp_path, hog, group=group)
        kills = group.oom_kills()
        peak = group.peak_memory()
    assert "survived" not in out.log.splitlines()
    assert "exit 137" in out.log  # SIGKILL
    assert kills is not None and kills >= 1
    assert peak is not None and peak <= 64 * 2**20
    assert not any(d.exists() for d in group.dirs.values())  # the groups are gone


def test_the_json_report_names_each_run(tmp_path: Path) -> None:
    run = Run("bug", DOCKER, score=200.0, max_score=208.0, host_score=200.0)
    data = json.loads(json.dumps(run.to_json()))
    assert data["setting"] == "docker-caps"
    assert data["submission"] == "bug" and data["problems"] == []


def test_scripts_entry_point_parses_and_passes_shellcheck(shellcheck: str) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "gradescope-e2e"
    subprocess.run(["bash", "-n", str(script)], check=True)
    for text in (script.read_text(), e2e.OUTER, e2e.INNER):
        done = subprocess.run(
            [shellcheck, "-s", "bash", "-"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout
