"""Produce a lesson's stored outputs: execute it from a fresh kernel, top to bottom, and save it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CELL_TIMEOUT = 300  # seconds; every lesson is meant to run in seconds, this only stops a hang
KERNEL_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def execute(path: Path) -> float:
    """Run the notebook at `path` in a fresh kernel (cwd: its folder), save it; return seconds."""
    return run(path)[0]


def run(path: Path, probe: str = "") -> tuple[float, str]:
    """`execute`, then run the code `probe` in the same kernel, unsaved; return the seconds and
    what the probe printed (the state the lesson left, such as the messages it showed)."""
    nb = nbformat.read(path, as_version=4)
    if probe:
        nb.cells.append(nbformat.v4.new_code_cell(probe))
    os.environ.setdefault("PYTHONHASHSEED", "0")
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    printed = ""
    if probe:
        outputs = nb.cells.pop().outputs
        printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    nb.metadata = nbformat.NotebookNode({**nb.metadata, **KERNEL_METADATA})
    nb.metadata.pop("widgets", None)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return seconds, printed


def execution_counts_ok(nb: nbformat.NotebookNode) -> bool:
    """True when the code cells were run once each, top to bottom (counts 1..n)."""
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    return counts == list(range(1, len(counts) + 1))
