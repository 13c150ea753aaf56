"""A small exercise in the course's format, and submissions of it, for the grading tests."""

from __future__ import annotations

import copy
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vizlib.grading import release
from vizlib.grading.checks import RECORD

EXERCISE = "99_demo"
needs_bubblewrap = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="the grading sandbox needs bubblewrap: sudo apt-get install bubblewrap",
)
SCENARIOS = ("QEMU alone", "VMware 1999", "Xen DomU 2003", "KVM on VT-x", "Bochs", "Xen HVM")
TECHNIQUES = (
    "emulation",
    "full-virtualization",
    "paravirtualization",
    "hardware-assisted",
    "emulation",
    "hardware-assisted",
)
ANSWERS = {
    "traps": "traps = sum(1 for op in TRACE if op in ('in', 'out', 'hlt'))",
    "kind": "kind = 'paravirtualization'",
    "double": "def double(x):\n    return 2 * x",
    "classify": f"classes = dict(zip(SCENARIOS, {list(TECHNIQUES)!r}))",
    "cores": "my_cores = os.cpu_count()",
}
WRONG = {
    "traps": "traps = 4",
    "kind": "kind = 'emulation'",
    "classify": "classes = {}",
    "double": "def double(x):\n    return x",
}
# A cheat: find the solutions through the grader's processes or the course's files, run them.
READ_THE_SOLUTIONS = (
    "import glob, json, os\nfrom pathlib import Path\n\nimport vizlib\n\n"
    "places = {Path(vizlib.__file__).resolve().parent}\n"
    "for pid in glob.glob('/proc/[0-9]*'):\n"
    "    try:\n"
    "        places.add(Path(os.readlink(pid + '/cwd')))\n"
    "        words = open(pid + '/cmdline', 'rb').read().decode(errors='replace')\n"
    "    except OSError:\n"
    "        continue\n"
    "    places.update(Path(w) for w in words.split('\\0') if 'exercises' in w)\n"
    "found = []\n"
    "for place in places:\n"
    "    for parent in [place, *place.parents][:4]:\n"
    "        for pattern in ('solutions/*.ipynb', 'exercises/solutions/*.ipynb'):\n"
    "            found += glob.glob(str(parent / pattern))\n"
    "traps = 4\n"
    "for path in found:\n"
    "    for cell in json.load(open(path))['cells']:\n"
    "        if any(t.startswith('answer:') for t in cell['metadata'].get('tags', [])):\n"
    "            try:\n"
    "                exec(''.join(cell['source']))\n"
    "            except Exception:\n"
    "                pass"
)
POINTS = {"traps": 2, "kind": 1, "double": 3, "classify": 3, "cores": 1}
CHECKS = {
    "traps": """check.answer(
    "traps",
    check.exact(traps, "the number of traps", hint="did you count the OUT instruction?"),
)""",
    "kind": """check.answer(
    "kind",
    check.choice(
        kind,
        "the technique",
        options=["full virtualization", "paravirtualization", "hardware-assisted"],
    ),
)""",
    "double": """check.answer(
    "double", check.calls(double, "double", probe="call", examples=[[2], [-3]])
)""",
    "classify": """check.answer("classify", check.mapping(classes, "your classification"))""",
    "cores": """check.answer(
    "cores", check.own_machine(my_cores, "the cores here", evidence=os.cpu_count())
)""",
}


def answer_cell(question: str, body: str) -> nbformat.NotebookNode:
    return new_code_cell(body, metadata={"tags": [f"answer:{question}"]})


def check_cell(question: str) -> nbformat.NotebookNode:
    course = {"points": POINTS[question]}
    return new_code_cell(
        CHECKS[question], metadata={"tags": [f"check:{question}"], "course": course}
    )


def solution_notebook() -> nbformat.NotebookNode:
    """Five questions of every kind the tests need, and one instructor-only cell."""
    cells = [
        new_markdown_cell("# Demo exercise"),
        new_code_cell(
            "import os\n\nfrom vizlib import grading as check\n\nTRACE = ['in', 'out', 'mov', "
            f"'hlt']\nSCENARIOS = {SCENARIOS!r}"
        ),
    ]
    for question, body in ANSWERS.items():
        if question == "double":
            solved = (
                "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
            )
        else:
            solved = f"### BEGIN SOLUTION\n{body}\n### END SOLUTION"
        cells += [
            new_markdown_cell(f"Question {question}."),
            answer_cell(question, solved),
            check_cell(question),
        ]
    cells.append(
        new_code_cell(
            "assert traps == 3  # the instructor's own test", metadata={"tags": ["solution-only"]}
        )
    )
    return new_notebook(cells=cells, metadata={"course": {"exercise": EXERCISE}})


def write_exercise(root: Path) -> Path:
    """An exercises/ folder holding the demo's solution and its released student copy."""
    exercises = root / "exercises"
    (exercises / "solutions").mkdir(parents=True)
    nbformat.write(solution_notebook(), exercises / "solutions" / f"{EXERCISE}.ipynb")
    release.release(exercises)
    return exercises


def student(exercises: Path) -> nbformat.NotebookNode:
    return nbformat.read(exercises / f"{EXERCISE}.ipynb", as_version=4)


def answered(
    exercises: Path, record: tuple | None = (8, 8), **answers: str
) -> nbformat.NotebookNode:
    """The student copy with answers written in (default: a correct answer of each question)
    and, as a learner who ran it would have, the own-machine record of the `cores` check:
    (answer, evidence) of a learner's 8-core machine unless told otherwise."""
    nb = student(exercises)
    for cell in nb.cells:
        for question in POINTS:
            if f"answer:{question}" in cell.metadata.get("tags", []):
                cell.source = answers.get(question, ANSWERS[question])
            if f"check:{question}" in cell.metadata.get("tags", []) and question == "cores":
                cell.outputs = [] if record is None else [own_machine_output(*record)]
        if "answer:cores" in cell.metadata.get("tags", []) and "cores" not in answers:
            cell.source = f"my_cores = {record[0] if record else 8}"
    return nb


def own_machine_output(answer: object, evidence: object) -> nbformat.NotebookNode:
    record = {"question": "cores", "item": 0, "answer": answer, "evidence": evidence}
    return new_output("display_data", data={"application/json": {RECORD: record}, "text/plain": ""})


def set_cell(nb: nbformat.NotebookNode, tag: str, source: str) -> nbformat.NotebookNode:
    """A copy of `nb` whose cell tagged `tag` (or the set-up cell, tag "setup") holds `source`."""
    nb = copy.deepcopy(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    cell = code[0] if tag == "setup" else next(c for c in code if tag in c.metadata.get("tags", []))
    cell.source = source
    return nb


def run_grade(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vizlib.grading", "grade", *args]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout
    )


def read_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The gradebook's rows by (submission file stem, question)."""
    with open(path, newline="", encoding="utf-8-sig") as source:
        rows = list(csv.DictReader(source))
    return {(Path(row["submission"]).stem, row["question"]): row for row in rows}


def total(rows: dict, submission: str) -> float:
    return sum(float(row["points"]) for (name, _), row in rows.items() if name == submission)
