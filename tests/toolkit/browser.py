"""Headless Chromium for the tests of the pages the grader writes (the class report, the
feedback pages): Debian's ``/usr/bin/chromium``, installed by ``scripts/setup``; CI must install
it (``apt-get install chromium``), the tests are skipped with that reason otherwise."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium: apt-get install chromium"
)


def run(page: Path, profile: Path, *flags: str) -> str:
    """Open ``page`` in a fresh profile with ``flags`` (``--dump-dom``, ``--print-to-pdf=...``)
    and nothing of the network; returns what Chromium printed."""
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *flags,
        page.as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
