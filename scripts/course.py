#!/usr/bin/env python3
"""Set up the course and run it: the README's two quick-start commands, and the authoring ones.

    python3 scripts/course.py lab        set up, then open JupyterLab at the welcome notebook
    python3 scripts/course.py lab zh     the same, at the Chinese edition's welcome notebook
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
makes sure that `.venv/` holds the course's packages (skipped when nothing changed): `lab` what a
learner needs, every other command the test and authoring tools too. When run as root on Debian
or Ubuntu it also installs graphviz's `dot` binary, a Chinese font and QEMU with apt. On Debian
it then builds lesson 08's Linux guest into build/guest/ from the distribution's packages, once.
Safe to run again at any time.
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
LEARNER_EXTRAS, TEST_EXTRAS = "lab", "test"  # pyproject.toml's extras; "test" includes "lab"
APT_PACKAGES = {"dot": "graphviz", "font": "fonts-wqy-zenhei", "qemu": "qemu-system-x86"}
QEMU = "qemu-system-x86_64"
GUEST = ROOT / "build" / "guest" / "guest.json"  # written by vizlib.machine.linux_image
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
    """Install `dot`, a CJK font and QEMU where this machine allows it; otherwise say how to."""
    missing = []
    if not shutil.which("dot"):
        missing.append(APT_PACKAGES["dot"])
    if not has_chinese_font():
        missing.append(APT_PACKAGES["font"])
    if not shutil.which(QEMU):
        missing.append(APT_PACKAGES["qemu"])
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
    if not shutil.which(QEMU):
        say(
            f"QEMU ({QEMU}) is not installed: lessons 06 and 08 show runs stored with the course. "
            "To run them live: `sudo apt-get install qemu-system-x86` (Debian/Ubuntu), "
            "`brew install qemu` (macOS) or `conda install -c conda-forge qemu`."
        )


def ensure_guest() -> None:
    """Build lesson 08's Linux guest once, where Debian's packages can be downloaded."""
    if GUEST.exists() or not shutil.which("apt-get") or not shutil.which(QEMU):
        return
    say("building lesson 08's Linux guest from Debian's packages into build/guest/ (once)")
    built = subprocess.run([str(venv_python()), "-m", "vizlib.machine.linux_image"], cwd=ROOT)
    if built.returncode:
        say("lesson 08 will show a stored boot of its Linux guest instead (see above why)")


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


def pip_install_args(extras: str) -> list[str]:
    """pip's arguments that install the course with `extras`. A learner's (`lab`) adds the
    WebAssembly renderer only where `dot` is missing, and compiles no module ahead of time:
    Python compiles those a lesson imports, once, the first time it does."""
    if extras == LEARNER_EXTRAS:
        wanted = LEARNER_EXTRAS + ("" if shutil.which("dot") else ",nodot")
        return ["install", "-q", "--no-compile", "-e", f"{ROOT}[{wanted}]"]
    return ["install", "-q", "-e", f"{ROOT}[{extras}]"]


def install_stamp(extras: str) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{digest} {sys.version_info[:2]} {extras}"


def ensure_packages(extras: str) -> None:
    """Install the course with `extras` into .venv/, unless they (or the test ones, which
    include the learner's) are installed already from this pyproject.toml."""
    stamp_file = VENV / ".course-installed"
    installed = stamp_file.read_text() if stamp_file.exists() else ""
    if installed in (install_stamp(extras), install_stamp(TEST_EXTRAS)):
        return
    say("installing the course's Python packages into .venv/ (a few minutes the first time)")
    python = str(venv_python())
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    if subprocess.run([*pip, "install", "-q", "--upgrade", "pip"]).returncode:
        fail("could not upgrade pip in .venv/ (is the network reachable?)")
    if subprocess.run([*pip, *pip_install_args(extras)]).returncode:
        fail("pip could not install the course's packages; see pip's message above")
    stamp_file.write_text(install_stamp(extras))


def set_up(extras: str) -> None:
    if sys.version_info < (3, 10):  # noqa: UP036 -- explain instead of crashing
        fail(f"the course needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    ensure_system_packages()
    ensure_venv()
    ensure_packages(extras)
    ensure_guest()


def run(args: list[str]) -> int:
    return subprocess.run(args, cwd=ROOT).returncode


def editions() -> dict[str, Path]:
    """Language -> the folder of its lessons: "en" the English ones, each translated edition
    (`notebooks/zh/`) once it has been built."""
    folder = ROOT / "notebooks"
    built = {p.parent.name: p.parent for p in folder.glob(f"*/{Path(WELCOME).name}")}
    return {"en": folder, **built}


def lab(extra: list[str]) -> int:
    """JupyterLab at the welcome notebook of the edition named first in `extra` (English when
    none is); the rest of `extra` goes to JupyterLab."""
    lang = extra[0] if extra and not extra[0].startswith("-") else "en"
    folders = editions()
    if lang not in folders:
        fail(f"no edition {lang!r} of the lessons here; choose one of: {', '.join(folders)}")
    extra = extra[1:] if extra[:1] == [lang] else extra
    jupyter = [str(venv_python()), "-m", "jupyter"]
    lessons = sorted(str(p.relative_to(ROOT)) for p in folders[lang].glob("*.ipynb"))
    subprocess.run([*jupyter, "trust", *lessons], cwd=ROOT, capture_output=True)
    root_flag = ["--allow-root"] if os.name != "nt" and os.geteuid() == 0 else []
    welcome = (folders[lang] / Path(WELCOME).name).relative_to(ROOT).as_posix()
    opening = [f"--ServerApp.root_dir={ROOT}", f"--LabApp.default_url=/lab/tree/{welcome}"]
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
    set_up(LEARNER_EXTRAS if command == "lab" else TEST_EXTRAS)
    if command == "setup":
        return 0
    if command == "lab":
        return lab(extra)
    if command == "test":
        return test(extra)
    return run([str(venv_python()), "-m", "vizlib.authoring", command, *extra])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
