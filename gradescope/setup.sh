#!/usr/bin/env bash
# Gradescope set-up: runs once, as root, when Gradescope builds the autograder image
# (cwd /autograder/source, the unzipped autograder.zip). Built by `python -m grader package`.
#
#   bash setup.sh                               the full set-up (apt, venv, pip, permissions)
#   bash setup.sh --permissions-only ROOT       only the permission step, on ROOT laid out like
#                                               /autograder (run_autograder and `grader simulate`)
#   bash setup.sh --only STEP[,STEP...]         only these steps, in the order below (tests):
#                                               system, venv, pip, torch, requirements, grader,
#                                               permissions
#
# The system python3 is never replaced or modified: Gradescope's harness runs on it
# (docs/python3_issues.md). The grader runs from its own venv at $ROOT/venv, made from
# python$PYTHON_VERSION (the version the pins below were taken from).
#
# Every step that reaches the network stops the set-up at once when it fails, and says which
# step it was, what the package index or apt said, and which indexes pip was configured with:
# Gradescope's build log is read long after, and an error one step later (a pin "not found"
# because the index was never reached) points at the wrong cause.
#
# Environment (all optional):
#   AUTOGRADER_ROOT   the /autograder tree (default /autograder)
#   TORCH_INDEX_URL   where torch comes from (default: PyTorch's CPU wheels; the GPU image
#                     passes a CUDA index)
#   TORCH_SPEC        the torch requirement (default: the CPU build pinned by `grader package`)
#   STUDENT_USER=1    also create a named `student` user (not needed: the grader runs student
#                     code under raw uids 61000+k that need no passwd entry)
#   PIP_*             pip's own settings (an index, a proxy, certificates) are honoured
set -euo pipefail

# -- pins written by `grader package` (do not edit by hand; rebuild the zip instead) ----------
PYTHON_VERSION="@PYTHON_VERSION@"
DEFAULT_TORCH_SPEC="@TORCH_SPEC@"
# ---------------------------------------------------------------------------------------------

STEPS=(system venv pip torch requirements grader permissions)

# Only modes that differ are changed. On Gradescope the image's files are a read-only layer
# under each run's container, and changing a file's mode there, even to the mode it has (which
# `chmod -R` does for every file), copies the whole file up into the container: run_autograder's
# permission step copied the venv's ~1 GB on every submission, slowly, and the copy's pages
# counted against the container's 768 MB (scripts/gradescope-e2e measured it).
close_off() {
    # close_off DIR: DIR 700, nothing under it open to group or others
    local dir="$1"
    find "$dir" -mindepth 1 -perm /077 ! -type l -exec chmod go-rwx {} +
    set_mode 700 "$dir"
}

set_mode() {
    # set_mode MODE PATH: chmod, unless PATH has that mode already
    [[ "$(stat -c %a "$2")" == "$1" ]] || chmod "$1" "$2"
}

permissions() {
    # The sandbox uids must not read the tests, the reference or the results; they must be able
    # to execute the venv's interpreter and import the installed packages (the worker runs
    # `python -I -m grader.sandbox.worker` from it after dropping privileges).
    local root="$1"
    find "$root" -maxdepth 0 ! -perm -011 -exec chmod go+x {} +
    mkdir -p "$root/results"
    close_off "$root/source"
    close_off "$root/results"
    if [[ -d "$root/submission" ]]; then
        find "$root/submission" -perm /077 ! -type l -exec chmod go-rwx {} +
    fi
    if [[ -f "$root/submission_metadata.json" ]]; then
        set_mode 600 "$root/submission_metadata.json"
    fi
    if [[ -f "$root/run_autograder" ]]; then
        set_mode 700 "$root/run_autograder"
    fi
    if [[ -d "$root/venv" ]]; then
        # a+rX: readable by all; executable by all where a directory or executable by anyone
        find "$root/venv" ! -type l \( ! -perm -444 -o \( -type d -o -perm /111 \) ! -perm -111 \) \
            -exec chmod a+rX {} +
    fi
}

if [[ "${1:-}" == "--permissions-only" ]]; then
    permissions "${2:?usage: setup.sh --permissions-only ROOT}"
    exit 0
fi

only=""
if [[ "${1:-}" == "--only" ]]; then
    only=",${2:?usage: setup.sh --only STEP[,STEP...] (steps: ${STEPS[*]})},"
    for step in ${2//,/ }; do
        [[ " ${STEPS[*]} " == *" $step "* ]] || {
            echo "setup.sh: no step '$step' (steps: ${STEPS[*]})" >&2
            exit 2
        }
    done
fi

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="python${PYTHON_VERSION}"
VENV="$ROOT/venv"
TORCH_INDEX="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
TORCH="${TORCH_SPEC:-$DEFAULT_TORCH_SPEC}"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT

wanted() { [[ -z "$only" || "$only" == *",$1,"* ]]; }

failed() {
    # failed STEP WHAT DETAIL...: the one message a failed step leaves, last in the build log.
    local step="$1" what="$2"
    shift 2
    {
        echo
        echo "setup.sh: FAILED at step '$step': $what"
        local detail
        for detail in "$@"; do
            [[ -n "$detail" ]] && echo "  ${detail//$'\n'/$'\n'  }"
        done
        echo "  (the autograder image is incomplete: fix this and rebuild; nothing later ran)"
    } >&2
    exit 1
}

pip_sources() {
    # Where pip looks, as its configuration (files and PIP_* variables) has it; $1, if given,
    # is the --index-url of the step, which replaces the configured index.
    "$VENV/bin/python" -m pip config list 2>/dev/null | "$VENV/bin/python" -c '
import sys
# pip config list prints section.key=value, "section" being :env: for PIP_* variables;
# those override the files, and a command section ("install") overrides "global".
rank = {":env:": 3, "install": 2, "global": 1}
best = {}
for line in sys.stdin:
    key, _, value = line.strip().partition("=")
    section, _, name = key.rpartition(".")
    r = rank.get(section, 0)
    if r and r >= best.get(name, (0, ""))[0]:
        best[name] = (r, " ".join(value.strip("\x27\"").split()))
get = lambda name: best.get(name, (0, ""))[1]
index = sys.argv[1] or get("index-url")
out = [f"index {index}" if index else "index https://pypi.org/simple (pip default)"]
if get("extra-index-url"):
    out.append("extra indexes " + get("extra-index-url"))
if get("find-links"):
    out.append("find-links " + get("find-links"))
if get("proxy"):
    out.append("proxy " + get("proxy"))
if get("no-index") in ("1", "true", "yes", "on"):
    out.append("no-index (only find-links)")
print("; ".join(out))
' "${1:-}"
}

pip_step() {
    # pip_step STEP INDEX PIP-INSTALL-ARGS...: pip install, stopping the set-up if it fails.
    # INDEX: the step's own --index-url, or "" for pip's configured one.
    local step="$1" index="$2"
    shift 2
    local args=(--quiet)
    [[ -n "$index" ]] && args+=(--index-url "$index")
    local rc=0
    "$VENV/bin/python" -m pip install "${args[@]}" "$@" >"$LOG" 2>&1 || rc=$?
    cat "$LOG"
    ((rc == 0)) && return 0
    local missing
    missing="$(sed -n 's/^ERROR: No matching distribution found for //p' "$LOG" | head -1)"
    local what="pip install $* (exit $rc)"
    [[ -n "$missing" ]] && what="no package index had $missing (pip install $*)"
    failed "$step" "$what" \
        "$(grep -E '^(ERROR|WARNING: Retrying)' "$LOG" | tail -4 || true)" \
        "pip looked in: $(pip_sources "$index")"
}

if wanted system; then
    echo "==> system packages"
    missing=()
    command -v "$PYTHON" >/dev/null || missing+=("$PYTHON")
    "$PYTHON" -c "import ensurepip, venv" 2>/dev/null || missing+=("${PYTHON}-venv")
    # pyseccomp loads libseccomp at run time; without it the worker has no syscall filter.
    [[ -n "$(ldconfig -p 2>/dev/null | grep libseccomp.so.2 || true)" ]] || missing+=(libseccomp2)
    if ((${#missing[@]})); then
        # Ubuntu 22.04 ships python3.10 as python3; python3.11 comes from jammy-updates.
        export DEBIAN_FRONTEND=noninteractive
        sources="$(grep -hsE '^(deb |URIs:)' /etc/apt/sources.list /etc/apt/sources.list.d/* |
            tr -s ' \n' ' ' || true)"
        # --error-on=any: a source that could not be fetched is an error, not a warning
        # followed by "Unable to locate package" in the next command.
        apt-get update --error-on=any >"$LOG" 2>&1 || {
            cat "$LOG"
            failed system "apt-get update could not fetch the package lists" \
                "$(grep -E '^(E|W):' "$LOG" | tail -4 || true)" "apt sources: ${sources:-none}"
        }
        cat "$LOG"
        apt-get install -y --no-install-recommends "${missing[@]}" >"$LOG" 2>&1 || {
            cat "$LOG"
            failed system "apt-get install ${missing[*]}" \
                "$(grep -E '^(E|W):' "$LOG" | tail -4 || true)" "apt sources: ${sources:-none}"
        }
        tail -3 "$LOG"
        rm -rf /var/lib/apt/lists/*
    fi
fi

if wanted venv; then
    echo "==> virtual environment $VENV ($("$PYTHON" --version))"
    "$PYTHON" -m venv "$VENV"
fi

if wanted pip; then
    echo "==> pip (looks in: $(pip_sources ""))"
    # `pip install --upgrade pip` exits 0 when no index answers (pip is already there), so the
    # index is asked first: an unreachable one fails here and not at the first pin.
    "$VENV/bin/python" -m pip index versions pip >"$LOG" 2>&1 || {
        cat "$LOG"
        failed pip "no package index answered (pip index versions pip)" \
            "$(grep -E '^(ERROR|WARNING: Retrying)' "$LOG" | tail -4 || true)" \
            "pip looked in: $(pip_sources "")"
    }
    pip_step pip "" --upgrade pip
fi

if wanted torch; then
    echo "==> torch ($TORCH from $TORCH_INDEX)"
    pip_step torch "$TORCH_INDEX" "$TORCH"
fi

if wanted requirements; then
    echo "==> pinned requirements"
    pip_step requirements "" -r "$SOURCE/requirements.txt"
fi

if wanted grader; then
    echo "==> the grader"
    pip_step grader "" --no-deps "$SOURCE"
    "$VENV/bin/python" -c "import grader, numpy, torch, pytest, hypothesis, nbformat" ||
        failed grader "the venv cannot import the grader and what it needs ($VENV)"
fi

if wanted permissions; then
    if [[ "${STUDENT_USER:-0}" == "1" ]] && ! id student >/dev/null 2>&1; then
        useradd --no-create-home --shell /usr/sbin/nologin student
    fi
    permissions "$ROOT"
fi
echo "==> set-up done"
