"""The sandbox a submission's kernel runs in: what it can see, reach and use (bubblewrap)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from grading_demo import needs_bubblewrap

import vizlib
from vizlib.grading.sandbox import Limits, Sandbox

pytestmark = needs_bubblewrap
COURSE = Path(vizlib.__file__).resolve().parent.parent
LIMITS = Limits(memory=1 << 30, processes=32, cpu=20, file_size=1 << 20, scratch=8 << 20)
APPLY = (
    "from vizlib.grading.kernel import set_limits\n"
    f"set_limits(memory={LIMITS.memory}, processes={LIMITS.processes}, cpu={LIMITS.cpu}, "
    f"file_size={LIMITS.file_size})\n"
)


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(LIMITS)
    yield box
    box.close()


def inside(sandbox: Sandbox, code: str, tmp_path: Path, devices=(), wait: bool = True):
    """Run Python `code` in a sandbox as a kernel's is built; its stdout parsed as JSON."""
    command = sandbox.command(tmp_path, devices, job=f"t{time.monotonic_ns()}")
    at = command.index(sys.executable)
    argv = [*command[:at], sys.executable, "-c", APPLY + code]
    if not wait:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_it_sees_only_its_own_processes(sandbox, tmp_path):
    seen = inside(sandbox, "import os, json\nprint(json.dumps([os.getpid(), os.listdir('/proc')]))",
                  tmp_path)  # fmt: skip
    pid, proc = seen
    assert pid < 10
    assert str(os.getpid()) not in proc and len([p for p in proc if p.isdigit()]) < 5


def test_it_has_no_network(sandbox, tmp_path):
    reached = inside(
        sandbox,
        "import json, socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=3)\n"
        "    print('true')\nexcept OSError as error:\n    print(json.dumps(str(error)))",
        tmp_path,
    )
    assert reached is not True and "unreachable" in reached


def test_it_reads_the_course_code_but_nothing_else_of_the_repository(sandbox, tmp_path):
    probe = (
        f"import json, os\nfrom pathlib import Path\nroot = Path({str(COURSE)!r})\n"
        "found = {p: os.path.exists(root / p) for p in ('vizlib', 'course', 'exercises', 'tests',"
        " 'exercises/solutions', 'README.md')}\n"
        "try:\n    (root / 'vizlib' / 'planted.py').write_text('x')\n    found['write'] = True\n"
        "except OSError as error:\n    found['write'] = error.strerror\n"
        "print(json.dumps(found))"
    )
    found = inside(sandbox, probe, tmp_path)
    assert found == {"vizlib": True, "course": True, "exercises": False, "tests": False,
                     "exercises/solutions": False, "README.md": False,
                     "write": "Read-only file system"}  # fmt: skip


def test_its_environment_is_cleared_and_its_home_is_a_private_tmp(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("VIZLIB_SECRET", "grader")
    env = inside(
        sandbox,
        "import json, os\nopen('/tmp/x', 'w').write('ok')\n"
        "print(json.dumps({k: v for k, v in os.environ.items() if k != 'LC_CTYPE'}))",
        tmp_path,
    )
    assert env == {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PWD": "/tmp", "USER": "student",
                   "MPLBACKEND": "agg"}  # fmt: skip


def test_dev_kvm_is_passed_only_when_asked(sandbox, tmp_path):
    probe = "import json, os\nprint(json.dumps(os.path.exists('/dev/kvm')))"
    assert inside(sandbox, probe, tmp_path) is False
    if os.path.exists("/dev/kvm"):
        assert inside(sandbox, probe, tmp_path, devices=("/dev/kvm",)) is True


def test_memory_processes_files_and_scratch_space_are_limited(sandbox, tmp_path):
    probe = (
        "import json, os\nfound = {}\n"
        "try:\n    bytearray(2 << 30)\n    found['memory'] = 'allocated'\n"
        "except MemoryError:\n    found['memory'] = 'refused'\n"
        "children = 0\ntry:\n    for _ in range(100):\n        if os.fork() == 0:\n"
        "            import time; time.sleep(2); os._exit(0)\n        children += 1\n"
        "except OSError:\n    pass\nfound['children'] = children\n"
        "try:\n    open('/tmp/big', 'wb').write(b'x' * (2 << 20))\n    found['file'] = 'written'\n"
        "except OSError as error:\n    found['file'] = error.strerror\n"
        "print(json.dumps(found))"
    )
    found = inside(sandbox, probe, tmp_path)
    assert found["memory"] == "refused"
    assert found["children"] < LIMITS.processes
    assert found["file"] in ("File too large", "No space left on device")


def test_it_writes_only_its_tmp_and_its_sockets_folder(sandbox, tmp_path):
    probe = (
        "import json\nfound = {}\n"
        f"for folder in ('/', '/dev', '/dev/shm', '/tmp', {str(tmp_path)!r}):\n"
        "    try:\n        open(folder.rstrip('/') + '/probe', 'wb').write(b'x')\n"
        "        found[folder] = 'written'\n"
        "    except OSError as error:\n        found[folder] = error.strerror\n"
        "print(json.dumps(found))"
    )
    found = inside(sandbox, probe, tmp_path)
    assert found.pop("/tmp") == found.pop(str(tmp_path)) == "written"
    assert set(found.values()) <= {"Read-only file system", "No such file or directory"}, found


def test_nothing_it_starts_outlives_it(sandbox, tmp_path):
    marker = f"vizlib-sandbox-test-{os.getpid()}"
    daemon = (
        "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execv('/bin/sh', ['{marker}', '-c', 'sleep 60'])\n    os._exit(0)\n"
        "print('null', flush=True)\ntime.sleep(60)\n"
    )
    process = inside(sandbox, daemon, tmp_path, wait=False)
    assert process.stdout.readline().strip() == b"null"
    assert running(marker)
    process.send_signal(signal.SIGKILL)  # the grader's pytest dying kills bwrap the same way
    process.wait()
    deadline = time.monotonic() + 5
    while running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(marker)


def running(marker: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


@pytest.mark.skipif(os.geteuid() != 0, reason="the pids cgroup is used when grading as root")
def test_as_root_each_sandbox_gets_a_pids_cgroup_that_is_removed(tmp_path):
    box = Sandbox(LIMITS)
    command = box.command(tmp_path, job="cg")
    group = Path(command[3]).parent  # sh -c 'echo $$ > "$0" && exec "$@"' <its cgroup.procs>
    assert (group / "pids.max").read_text().strip() == str(LIMITS.processes)
    box.close()
    assert not group.exists() and not group.parent.exists()
