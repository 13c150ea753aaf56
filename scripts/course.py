#!/usr/bin/env python3
"""Set up the course and run it: the README's two quick-start commands, and the authoring ones.

    python3 scripts/course.py lab        set up, then open JupyterLab at the welcome notebook
    python3 scripts/course.py test       set up, then run the whole test suite
    python3 scripts/course.py execute    regenerate the lessons' stored outputs (fresh kernels)
    python3 scripts/course.py sync       regenerate the README's contents and the navigation cells
    python3 scripts/course.py release    regenerate the student copies of the exercises
    python3 scripts/course.py translate  update the translation catalogues (`translate NN` starts
                                         lesson NN's and its exercise's)
    python3 scripts/course.py zh         build the Chinese edition (notebooks/zh/, exercises/zh/)
    python3 scripts/course.py bench      measure the course here (--browser, --suite, --write)
    python3 scripts/course.py book       build the static copy, a Jupyter Book in both languages,
                                         in build/book/

Only the standard library is used here, so this runs on a bare `python3`. Every command first
makes sure that `.venv/` holds the course's packages (skipped when nothing changed) and, when run as
root on Debian or Ubuntu, that graphviz's `dot` binary and a Chinese font are installed. Safe to
run again at any time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
EXTRAS = "dev,emulation,nodot,book"
APT_PACKAGES = {"dot": "graphviz", "font": "fonts-wqy-zenhei"}
AUTHORING = ("execute", "sync", "release", "check", "translate", "zh", "bench", "book")
WELCOME = "notebooks/00_welcome.ipynb"


def say(message: str) -> None:
    print(f"[course] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[course] error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def can_apt() -> bool:
    return os.name != "nt" and shutil.which("apt-get") is not None and os.geteuid() == 0


def apt_install(packages: list[str]) -> bool:
    say(f"installing system packages with apt: {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    quiet = {"stdout": subprocess.DEVNULL}
    if subprocess.run(["apt-get", "install", "-y", "-q", *packages], env=env, **quiet).returncode:
        subprocess.run(["apt-get", "update", "-q"], env=env, **quiet)
        if subprocess.run(["apt-get", "install", "-y", "-q", *packages], env=env).returncode:
            say(f"apt could not install {' '.join(packages)}; continuing without")
            return False
    return True


def has_chinese_font() -> bool:
    if not shutil.which("fc-list"):
        return False
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    return bool(out.strip())


def ensure_system_packages() -> None:
    """Install `dot` and a CJK font where this machine allows it; otherwise say once how to."""
    missing = []
    if not shutil.which("dot"):
        missing.append(APT_PACKAGES["dot"])
    if not has_chinese_font():
        missing.append(APT_PACKAGES["font"])
    if not missing:
        return
    if can_apt():
        apt_install(missing)
    if not shutil.which("dot"):
        say(
            "graphviz's `dot` is not installed: diagrams render through the WebAssembly fallback "
            "(or as DOT text). To get `dot`: `sudo apt-get install graphviz` (Debian/Ubuntu), "
            "`brew install graphviz` (macOS) or `conda install -c conda-forge python-graphviz`."
        )


def ensure_venv() -> None:
    if venv_python().exists():
        return
    say(f"creating the virtual environment {VENV.name}/")
    create = [sys.executable, "-m", "venv", str(VENV)]
    result = subprocess.run(create, capture_output=True, text=True)
    if result.returncode and "ensurepip" in (result.stdout + result.stderr):
        shutil.rmtree(VENV, ignore_errors=True)
        package = f"python3.{sys.version_info.minor}-venv"
        if not (can_apt() and apt_install([package])):
            fail(f"Python's venv lacks pip here; install it: `sudo apt-get install {package}`")
        result = subprocess.run(create)
    if result.returncode:
        fail(f"could not create {VENV}: {result.stderr or 'python -m venv failed'}")


def install_stamp() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + EXTRAS.encode()).hexdigest()
    return f"{digest} {sys.version_info[:2]}"


def ensure_packages() -> None:
    stamp_file = VENV / ".course-installed"
    if stamp_file.exists() and stamp_file.read_text() == install_stamp():
        return
    say("installing the course's Python packages into .venv/ (a few minutes the first time)")
    python = str(venv_python())
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    if subprocess.run([*pip, "install", "-q", "--upgrade", "pip"]).returncode:
        fail("could not upgrade pip in .venv/ (is the network reachable?)")
    if subprocess.run([*pip, "install", "-q", "-e", f"{ROOT}[{EXTRAS}]"]).returncode:
        fail("pip could not install the course's packages; see pip's message above")
    stamp_file.write_text(install_stamp())


def set_up() -> None:
    if sys.version_info < (3, 10):  # noqa: UP036 -- explain instead of crashing
        fail(f"the course needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    ensure_system_packages()
    ensure_venv()
    ensure_packages()


def run(args: list[str]) -> int:
    return subprocess.run(args, cwd=ROOT).returncode


def lab(extra: list[str]) -> int:
    jupyter = [str(venv_python()), "-m", "jupyter"]
    lessons = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb"))
    subprocess.run([*jupyter, "trust", *lessons], cwd=ROOT, capture_output=True)
    root_flag = ["--allow-root"] if os.name != "nt" and os.geteuid() == 0 else []
    opening = [f"--ServerApp.root_dir={ROOT}", f"--LabApp.default_url=/lab/tree/{WELCOME}"]
    return run([*jupyter, "lab", *opening, *root_flag, *extra])


def test(extra: list[str]) -> int:
    return run([str(venv_python()), "-m", "pytest", "-n", "2", "--dist", "loadfile", *extra])


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, extra = argv[0], argv[1:]
    if command not in {"lab", "test", "setup", *AUTHORING}:
        choices = ", ".join(("lab", "test", "setup", *AUTHORING))
        fail(f"unknown command {command!r}; choose one of: {choices}")
    set_up()
    if command == "setup":
        return 0
    if command == "lab":
        return lab(extra)
    if command == "test":
        return test(extra)
    return run([str(venv_python()), "-m", "vizlib.authoring", command, *extra])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
