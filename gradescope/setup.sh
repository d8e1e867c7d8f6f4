#!/usr/bin/env bash
# Gradescope set-up: runs once, as root, when Gradescope builds the autograder image
# (cwd /autograder/source, the unzipped autograder.zip). Built by `python -m grader package`.
#
#   bash setup.sh                               the full set-up (apt, venv, pip, permissions)
#   bash setup.sh --permissions-only ROOT       only the permission step, on ROOT laid out like
#                                               /autograder (run_autograder and `grader simulate`)
#
# The system python3 is never replaced or modified: Gradescope's harness runs on it
# (docs/python3_issues.md). The grader runs from its own venv at $ROOT/venv, made from
# python$PYTHON_VERSION (the version the pins below were taken from).
#
# Environment (all optional):
#   TORCH_INDEX_URL   where torch comes from (default: PyTorch's CPU wheels; the GPU image
#                     passes a CUDA index)
#   TORCH_SPEC        the torch requirement (default: the CPU build pinned by `grader package`)
#   STUDENT_USER=1    also create a named `student` user (not needed: the grader runs student
#                     code under raw uids 61000+k that need no passwd entry)
set -euo pipefail

# -- pins written by `grader package` (do not edit by hand; rebuild the zip instead) ----------
PYTHON_VERSION="@PYTHON_VERSION@"
DEFAULT_TORCH_SPEC="@TORCH_SPEC@"
# ---------------------------------------------------------------------------------------------

permissions() {
    # The sandbox uids must not read the tests, the reference or the results; they must be able
    # to execute the venv's interpreter and import the installed packages (the worker runs
    # `python -I -m grader.worker` from it after dropping privileges).
    local root="$1"
    chmod go+x "$root"
    mkdir -p "$root/results"
    chmod -R go-rwx "$root/source" "$root/results"
    chmod 700 "$root/source" "$root/results"
    if [[ -d "$root/submission" ]]; then
        chmod -R go-rwx "$root/submission"
    fi
    if [[ -f "$root/submission_metadata.json" ]]; then
        chmod 600 "$root/submission_metadata.json"
    fi
    if [[ -f "$root/run_autograder" ]]; then
        chmod 700 "$root/run_autograder"
    fi
    if [[ -d "$root/venv" ]]; then
        chmod -R a+rX "$root/venv"
    fi
}

if [[ "${1:-}" == "--permissions-only" ]]; then
    permissions "${2:?usage: setup.sh --permissions-only ROOT}"
    exit 0
fi

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="python${PYTHON_VERSION}"
VENV="$ROOT/venv"

echo "==> system packages"
missing=()
command -v "$PYTHON" >/dev/null || missing+=("$PYTHON")
"$PYTHON" -c "import ensurepip, venv" 2>/dev/null || missing+=("${PYTHON}-venv")
# pyseccomp loads libseccomp at run time; without it the worker runs without its syscall filter.
[[ -n "$(ldconfig -p 2>/dev/null | grep libseccomp.so.2 || true)" ]] || missing+=(libseccomp2)
if ((${#missing[@]})); then
    # Ubuntu 22.04 ships python3.10 as python3; python3.11 comes from jammy-updates (universe).
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
    rm -rf /var/lib/apt/lists/*
fi

echo "==> virtual environment $VENV ($("$PYTHON" --version))"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip

echo "==> torch (${TORCH_SPEC:-$DEFAULT_TORCH_SPEC})"
"$VENV/bin/python" -m pip install --quiet \
    --index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}" \
    "${TORCH_SPEC:-$DEFAULT_TORCH_SPEC}"

echo "==> pinned requirements and the grader"
"$VENV/bin/python" -m pip install --quiet -r "$SOURCE/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --no-deps "$SOURCE"
"$VENV/bin/python" -c "import grader, numpy, torch, pytest, hypothesis, nbformat"

if [[ "${STUDENT_USER:-0}" == "1" ]] && ! id student >/dev/null 2>&1; then
    useradd --no-create-home --shell /usr/sbin/nologin student
fi

permissions "$ROOT"
echo "==> set-up done"
