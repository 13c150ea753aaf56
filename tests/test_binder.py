"""Binder (repo2docker) builds the course from environment.yml and apt.txt and installs vizlib."""

import subprocess
import sys

import yaml

from vizlib.course import ROOT


def test_environment_yml_holds_the_learners_course_and_installs_vizlib():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = " ".join(d for d in env["dependencies"] if isinstance(d, str))
    for package in ("jupyterlab", "ipywidgets", "python-graphviz", "matplotlib", "numpy"):
        assert package in conda
    assert "nbval" not in conda and "pytest" not in conda  # test tools: not a learner's
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    assert not (ROOT / "binder").exists(), (
        "a binder/ folder would make Binder ignore the root files"
    )


def test_repo2docker_builds_the_image_from_environment_yml_and_apt_txt():
    out = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--debug", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    dockerfile = out.stdout + out.stderr
    assert "Building conda environment for python=3.11" in dockerfile
    assert 'env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"' in dockerfile
    apt = [line for line in dockerfile.splitlines() if "apt-get install" in line and "qemu" in line]
    assert apt and "qemu-system-x86" in apt[0].split()  # QEMU in the Binder image
