"""The sandbox every kernel that runs submission code starts in: bubblewrap, limits, cgroups.

A sandboxed kernel gets its own user, PID, network, IPC and UTS namespaces (no network, no view of
other processes), a read-only view of the Python installation and the course's code and data
(`vizlib/`, `course/`) and nothing else of the repository (no exercises/, no class folder, no
gradebook), a size-limited private /tmp that is thrown away, the folder of its kernel's sockets
(the grader talks to the kernel through them), and `--die-with-parent`; nothing else is writable
(the root and /dev are read-only). Limits:
address space per process, processes (RLIMIT_NPROC, counted per sandbox; when the grader runs as
root, where that limit is not enforced, a pids cgroup instead), CPU seconds per process, the size
of any file it writes; the grader's pytest plugin caps the output it prints.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import vizlib
from vizlib.course import ROOT
from vizlib.i18n import N_, _

SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/alternatives")
INSIDE_HOME = "/tmp"  # the kernel's working folder and HOME inside the sandbox (its tmpfs)
NOBODY = "65534"  # the uid and gid the kernel sees inside
INSTALL = N_(
    "bubblewrap (bwrap) is not installed. Install it: `sudo apt-get install bubblewrap` "
    "(Debian, Ubuntu), `sudo dnf install bubblewrap` (Fedora), `sudo pacman -S bubblewrap` (Arch); "
    "or pass --no-sandbox to grade without isolation (every row then says so)"
)
REFUSED = N_(
    "bubblewrap could not start a sandbox here: {reason}. It needs user namespaces: on a host, "
    "enable them (`sysctl kernel.unprivileged_userns_clone=1` on older Debian, "
    "`user.max_user_namespaces` > 0); inside Docker, the default seccomp profile refuses them: "
    "run the container with `--security-opt seccomp=unconfined` (Kubernetes: "
    "`securityContext.seccompProfile.type: Unconfined`) and as an ordinary user, or grade outside "
    "the container; or pass --no-sandbox to grade without isolation (every row then says so)"
)
NO_CGROUP = N_(
    "running as root, where the kernel does not enforce RLIMIT_NPROC, the sandbox caps processes "
    "with a pids cgroup, and none is writable here ({reason}): run the grader as an ordinary user, "
    "or pass --no-sandbox to grade without isolation (every row then says so)"
)


class SandboxUnavailable(Exception):
    """The sandbox cannot run here; the message says what to do."""


@dataclass(frozen=True)
class Limits:
    """What one sandboxed kernel may use."""

    memory: int = 3 << 30  # bytes of address space per process (unicorn reserves 1 GiB)
    processes: int = 64  # processes and threads
    cpu: int = 600  # CPU seconds per process
    file_size: int = 64 << 20  # bytes of any file written
    scratch: int = 256 << 20  # bytes of its private /tmp

    def kernel_options(self) -> list[str]:
        """The options of `python -m vizlib.grading.kernel` that apply them inside."""
        return [
            f"--memory={self.memory}",
            f"--processes={self.processes}",
            f"--cpu={self.cpu}",
            f"--file-size={self.file_size}",
        ]


def read_only_paths() -> list[str]:
    """What the kernel needs to read: Python, its packages, the course's code and data."""
    wanted = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        *site.getsitepackages(),
        str(Path(vizlib.__file__).resolve().parent),
    }
    if (ROOT / "course").is_dir():
        wanted.add(str(ROOT / "course"))  # the syllabus and glossary `vizlib.course` reads
    paths = sorted(str(Path(p).resolve()) for p in wanted if Path(p).exists())
    outside = [p for p in paths if not any(p.startswith(d + "/") or p == d for d in SYSTEM_DIRS)]
    return [p for p in outside if not any(p.startswith(q + "/") for q in outside if q != p)]


class Sandbox:
    """Builds the command that starts a kernel inside bubblewrap, and checks that it works."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self.bwrap = shutil.which("bwrap")
        self.cgroups = PidsCgroups() if os.geteuid() == 0 else None

    def command(self, sockets: Path, devices: tuple[str, ...] = (), job: str = "") -> list[str]:
        """The kernel's command line (`{connection_file}` is filled in by jupyter_client)."""
        if self.bwrap is None:
            raise SandboxUnavailable(_(INSTALL))
        args = [
            self.bwrap,
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--uid",
            NOBODY,
            "--gid",
            NOBODY,
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "HOME",
            INSIDE_HOME,
            "--setenv",
            "USER",
            "student",
            "--setenv",
            "MPLBACKEND",
            "agg",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(self.limits.scratch),
            "--tmpfs",
            "/tmp",
        ]
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in read_only_paths():
            args += ["--ro-bind", path, path]
        for device in devices:
            if os.path.exists(device):
                args += ["--dev-bind", device, device]
        args += ["--bind", str(sockets), str(sockets)]
        # the root and /dev are tmpfs of no size limit in the grading machine's memory
        args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", INSIDE_HOME, "--"]
        kernel = [sys.executable, "-m", "vizlib.grading.kernel", *self.limits.kernel_options()]
        prefix = self.cgroups.enter(job, self.limits.processes) if self.cgroups else []
        return [*prefix, *args, *kernel, "-f", "{connection_file}"]

    def check(self, scratch: Path) -> None:
        """Start one sandbox that imports the course; SandboxUnavailable says why it cannot."""
        if self.bwrap is None:
            raise SandboxUnavailable(_(INSTALL))
        if self.cgroups is not None:
            self.cgroups.check()
        scratch.mkdir(parents=True, exist_ok=True)
        command = self.command(scratch, job="check")
        kernel_at = command.index(sys.executable)
        probe = [*command[:kernel_at], sys.executable, "-c", "import vizlib.grading.collect"]
        try:
            done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise SandboxUnavailable(
                _(REFUSED, reason=_("it did not answer in {seconds} s", seconds=60))
            ) from None
        finally:
            if self.cgroups is not None:
                self.cgroups.remove("check")
        if done.returncode:
            reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise SandboxUnavailable(_(REFUSED, reason=reason))

    def finish(self, job: str) -> None:
        """Remove what the job's sandbox left outside (its cgroup)."""
        if self.cgroups is not None:
            self.cgroups.remove(job)

    def close(self) -> None:
        if self.cgroups is not None:
            self.cgroups.close()


class PidsCgroups:
    """One pids cgroup per sandbox, below the grader's own cgroup (v1, or v2 with pids enabled)."""

    def __init__(self) -> None:
        self.run: Path | None = None
        self.reason = ""
        for parent, version in _pids_parents():
            try:
                run = Path(tempfile.mkdtemp(prefix="vizlib-grading-", dir=parent))
                if version == 2:
                    (run / "cgroup.subtree_control").write_text("+pids")
            except OSError as error:
                self.reason = f"{parent}: {error.strerror}"
                continue
            self.run = run
            return
        self.reason = self.reason or "no cgroup hierarchy with the pids controller"

    def check(self) -> None:
        if self.run is None:
            raise SandboxUnavailable(_(NO_CGROUP, reason=self.reason))

    def enter(self, job: str, processes: int) -> list[str]:
        """A command prefix that moves the kernel into its own cgroup, capped at `processes`."""
        self.check()
        group = self.run / job
        group.mkdir(exist_ok=True)
        (group / "pids.max").write_text(str(processes))
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs")]

    def remove(self, job: str) -> None:
        if self.run is not None:
            _rmdir(self.run / job)

    def close(self) -> None:
        if self.run is not None and self.run.is_dir():
            for group in self.run.iterdir():
                if group.is_dir():
                    _rmdir(group)
            _rmdir(self.run)


def _rmdir(group: Path) -> None:
    """Remove a cgroup once its processes are gone (killed kernels take a moment to be reaped)."""
    for _attempt in range(50):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


def _pids_parents() -> list[tuple[Path, int]]:
    """Where a pids cgroup may be made: below the grader's own cgroup, or at the top (v2)."""
    mounts: dict[str, tuple[Path, int]] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        kind, options = fields[fields.index("-") + 1], fields[-1].split(",")
        if kind == "cgroup2":
            mounts.setdefault("", (Path(fields[4]), 2))
        elif kind == "cgroup" and "pids" in options:
            mounts["pids"] = (Path(fields[4]), 1)
    found = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, own = line.split(":", 2)
        if controllers in mounts:
            mount, version = mounts[controllers]
            for parent in dict.fromkeys((mount / own.lstrip("/"), mount)):
                enabled = version == 1 or "pids" in _read(parent / "cgroup.subtree_control")
                if enabled:
                    found.append((parent, version))
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
