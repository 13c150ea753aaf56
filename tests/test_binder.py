"""Binder (repo2docker) builds the course from environment.yml and installs vizlib."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vizlib.course import ROOT

TOOL_VENV = ROOT / ".venv" / "repo2docker"


@pytest.fixture(scope="module")
def repo2docker() -> Path:
    """repo2docker in a venv of its own, so its pins never touch the course's environment."""
    exe = TOOL_VENV / "bin" / "repo2docker"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOOL_VENV)], check=True)
        pip = [str(TOOL_VENV / "bin" / "pip"), "install", "-q", "jupyter-repo2docker"]
        subprocess.run(pip, check=True)
    return exe


def test_environment_yml_holds_the_course_and_installs_vizlib():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = " ".join(d for d in env["dependencies"] if isinstance(d, str))
    for package in ("jupyterlab", "ipywidgets", "nbval", "python-graphviz", "matplotlib", "numpy"):
        assert package in conda
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    assert not (ROOT / "binder").exists(), (
        "a binder/ folder would make Binder ignore the root files"
    )


def test_repo2docker_builds_the_image_from_environment_yml(repo2docker):
    out = subprocess.run(
        [str(repo2docker), "--no-build", "--debug", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    dockerfile = out.stdout + out.stderr
    assert "Building conda environment for python=3.11" in dockerfile
    assert 'env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"' in dockerfile
