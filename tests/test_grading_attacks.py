"""Attacks on the grader through what a sandboxed kernel can still reach: its sockets folder.

The folder of a kernel's unix sockets is the one place outside its private /tmp that a sandbox
may write (the grader talks to the kernel through it). One `grade` run (module fixture) over an
honest classmate and submissions that use that folder to break the run of the whole class.
"""

from __future__ import annotations

import nbformat
import pytest
from grading_demo import (
    POINTS,
    answered,
    needs_bubblewrap,
    read_rows,
    run_grade,
    set_cell,
    total,
    write_exercise,
)

pytestmark = needs_bubblewrap
FULL = sum(POINTS.values())
SOCKETS = "from pathlib import Path\n\nfrom ipykernel.connect import get_connection_file\n\n" + (
    "sockets = Path(get_connection_file()).parent\n"
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
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("attacks")
    exercises = write_exercise(root)
    for name, source in {"honest": None, **ATTACKS}.items():
        nb = answered(exercises)
        if source is not None:
            nb = set_cell(nb, "answer:traps", source)
        (root / "class").mkdir(exist_ok=True)
        nbformat.write(nb, root / "class" / f"{name}.ipynb")
    result = run_grade(
        root, "class", "--csv", "grades.csv", "--exercises", "exercises", "--cell-timeout", "5"
    )
    assert result.returncode == 0, result.stderr
    return {"rows": read_rows(root / "grades.csv")}


def test_the_class_is_graded_and_the_honest_student_gets_full_marks(graded):
    assert total(graded["rows"], "honest") == FULL


def test_a_folder_left_in_the_sockets_folder_costs_only_its_question(graded):
    rows = graded["rows"]
    assert rows["folder_in_sockets", "traps"]["status"] == "error"
    assert total(rows, "folder_in_sockets") == FULL - POINTS["traps"]


def test_files_written_in_the_sockets_folder_count_as_output_and_stop_the_kernel(graded):
    row = graded["rows"]["fill_the_sockets_folder", "traps"]
    assert (row["status"], row["points"]) == ("error", "0")
    assert "printed more than 16 MB" in row["message"]
    assert total(graded["rows"], "fill_the_sockets_folder") == FULL - POINTS["traps"]
