"""Attacks on the grader through what a sandboxed kernel can still reach: its sockets.

The folder of a kernel's unix sockets is the one place outside its private /tmp that a sandbox
may write, and the sockets carry whatever the kernel sends to the grader's process. One `grade`
run (module fixture) over honest classmates and submissions that use them to break the run of the
whole class or fill the grading machine's disk or memory.
"""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
from grading_demo import (
    POINTS,
    answered,
    needs_bubblewrap,
    read_rows,
    set_cell,
    total,
    write_exercise,
)

from vizlib.grading.judge import judge, make_key
from vizlib.grading.runner import GRADER_MEMORY
from vizlib.grading.submission import LARGEST

pytestmark = needs_bubblewrap
FULL = sum(POINTS.values())
SOCKETS = "from pathlib import Path\n\nfrom ipykernel.connect import get_connection_file\n\n" + (
    "sockets = Path(get_connection_file()).parent\n"
)
FRAMES = """\
kernel = get_ipython().kernel
block = bytes(10 << 20)
kernel.session.send(
    kernel.iopub_socket, "display_data", {{"data": {{}}, "metadata": {{}}}},
    parent=kernel.get_parent(), buffers=[block] * {frames},
)
traps = 3"""
# Runs a command and prints the largest memory (KiB) it or any process it started held.
PEAK = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(done.returncode)"
)
ATTACKS = {
    # a folder where the grader expects socket files, then a dead kernel: the re-run clears it
    "folder_in_sockets": SOCKETS
    + "import os\n\n(sockets / 'trap').mkdir()\n(sockets / 'trap' / 'x').write_text('x')\n"
    "os._exit(1)",
    # the grading machine's disk filled through the one folder the sandbox's size limit misses
    "fill_the_sockets_folder": SOCKETS
    + "for number in range(10):\n    (sockets / f'fill{number}').write_bytes(bytes(8 << 20))\n"
    "traps = 3",
    # binary frames beside a message's JSON: 30 MB of output the JSON does not show
    "binary_frames": FRAMES.format(frames=3),
    # one message of 1000 frames of one 10 MB buffer, on the kernel's own socket: the kernel holds
    # 10 MB, the grader's process receives all it can (4.5 GB in 5 s here) before it ends
    "push_memory": "import zmq\n\nsocket = get_ipython().kernel.iopub_thread.socket\n"
    "block = zmq.Frame(bytes(10 << 20))\n"
    "socket.send_multipart([b'x'] + [block] * 1000, copy=False)\ntraps = 3",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("attacks")
    exercises = write_exercise(root)
    for name, source in {"honest": None, "honest_classmate": None, **ATTACKS}.items():
        nb = answered(exercises)
        if source is not None:
            nb = set_cell(nb, "answer:traps", source)
        (root / "class").mkdir(exist_ok=True)
        nbformat.write(nb, root / "class" / f"{name}.ipynb")
    (root / "class" / "a_link.ipynb").symlink_to("honest.ipynb")  # listed before its target
    deep = '{"nbformat": 4, "cells": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (root / "class" / "nested.ipynb").write_text(deep)  # too deep for Python's JSON reader
    huge = answered(exercises)
    huge.metadata["padding"] = "x" * LARGEST  # every file is read before any is graded
    nbformat.write(huge, root / "class" / "huge.ipynb")
    grade = [sys.executable, "-m", "vizlib.grading", "grade", "class", "--csv", "grades.csv"]
    grade += ["--exercises", "exercises", "--cell-timeout", "5"]
    peak = subprocess.run(
        [sys.executable, "-c", PEAK, *grade], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert peak.returncode == 0, peak.stderr
    return {"rows": read_rows(root / "grades.csv"), "peak": int(peak.stdout) * 1024}


@pytest.mark.parametrize("honest", ["honest", "honest_classmate"])
def test_the_class_is_graded_and_the_honest_students_get_full_marks(graded, honest):
    assert total(graded["rows"], honest) == FULL


def test_a_folder_left_in_the_sockets_folder_costs_only_its_question(graded):
    rows = graded["rows"]
    assert rows["folder_in_sockets", "traps"]["status"] == "error"
    assert total(rows, "folder_in_sockets") == FULL - POINTS["traps"]


def test_files_written_in_the_sockets_folder_count_as_output_and_stop_the_kernel(graded):
    row = graded["rows"]["fill_the_sockets_folder", "traps"]
    assert (row["status"], row["points"]) == ("error", "0")
    assert "printed more than 16 MB" in row["message"]
    assert total(graded["rows"], "fill_the_sockets_folder") == FULL - POINTS["traps"]


def test_binary_frames_count_as_output(graded):
    row = graded["rows"]["binary_frames", "traps"]
    assert (row["status"], row["points"]) == ("error", "0")
    assert "printed more than 16 MB" in row["message"]


def test_memory_pushed_through_the_sockets_is_refused_past_the_graders_limit(graded):
    assert total(graded["rows"], "push_memory") == 0
    assert graded["peak"] < GRADER_MEMORY


def test_a_link_to_a_classmates_notebook_is_not_graded_and_leaves_theirs_alone(graded):
    row = graded["rows"]["a_link", ""]
    assert (row["status"], row["student"]) == ("not-a-notebook", "a_link")
    assert "symbolic link" in row["message"]
    assert {r["student"] for (name, _), r in graded["rows"].items() if name == "honest"} == {
        "honest"
    }


def test_a_notebook_nested_too_deep_to_read_is_a_bad_notebook(graded):
    row = graded["rows"]["nested", ""]
    assert row["status"] == "bad-notebook"
    assert "invalid JSON" in row["message"] and "recursion" in row["message"]


@pytest.mark.parametrize("answer", [10**400, -(10**400), 1e308, 1e-308, float("nan")])
def test_a_number_too_large_or_too_small_is_judged_wrong_not_a_crash(answer):
    key = make_key("number", 888.5, {"rel": 1e-3}, "salt")
    verdict = judge("number", answer, key, {"rel": 1e-3}, "salt")
    assert (verdict.right, verdict.total) == (0, 1)
    assert "is not within 0.1% of the answer" in verdict.message


def test_a_file_too_large_to_hold_in_memory_is_not_read(graded):
    row = graded["rows"]["huge", ""]
    assert row["status"] == "bad-notebook" and "larger than 64 MB" in row["message"]
