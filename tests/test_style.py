"""The code follows the project's lint and format rules (ruff, configured in pyproject.toml).
Run without ruff's cache: a test writes nothing into the source tree."""

import subprocess
import sys

from vizlib.course import ROOT


def test_ruff_lint_is_clean():
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout


def test_ruff_format_is_clean():
    cmd = [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
