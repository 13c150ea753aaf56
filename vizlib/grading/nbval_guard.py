"""pytest plugin the grading command loads beside nbval (`-p vizlib.grading.nbval_guard`).

It runs in the grader's pytest process, which never runs submission code: that runs in each
notebook's kernel, started from the notebook folder's `kernel.json` (for submissions, inside the
sandbox) and reached through unix sockets. The plugin watches each kernel and, per cell:

- fails the cell whenever the kernel's execute_reply says "error", even if the submission hid the
  traceback (replaced `showtraceback`, `sys.excepthook`, ...);
- notices a dead kernel within a fraction of a second;
- applies the notebook's time budget (`metadata.grading.budget`, seconds of cell time) on top of
  nbval's cell timeout, bounds the wait for output after interrupting a cell, and stops a kernel
  whose output passes OUTPUT_LIMIT (what it sends, and the files it writes in its sockets folder,
  the one folder outside its private /tmp a sandbox can write, on the grading machine's disk);
- skips every cell after a timeout or a dead kernel (the grader re-runs those on a fresh kernel);
- keeps, in the cells the grader added to collect answers (`metadata.grading.collect`), the one
  display of `plain.MIME` (the answers as data), as text, capped at `plain.MAX_BYTES`.

When a notebook is done, its verdicts go to `results.json` beside it: per code cell (nbval's
`Cell N`) a verdict (ok, error, failed, timeout, out-of-time, kernel-died, output-limit, skipped,
no-kernel), the error's name, a message, the seconds it took, and the answers collected.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from pathlib import Path
from queue import Empty
from typing import Any

import nbval.plugin
import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbval.kernel import RunningKernel
from nbval.plugin import IPyNbCell, IPyNbFile

from .plain import MAX_BYTES, MIME
from .runner import KERNEL, OUTPUT_LIMIT, RESULTS, STOPS

POLL = 0.2  # seconds between two looks at whether the kernel process is still alive
GRACE = 5.0  # seconds to wait for output after interrupting a cell (nbval's own output timeout)
BLOCK = 4096  # bytes of disk a file or folder takes at least


class KernelDied(RuntimeError):
    """The kernel process ended while a cell was running."""


class CellError(AssertionError):
    """The kernel reported an error that nbval did not see."""


class _OneSpec(KernelSpecManager):
    def __init__(self, spec: KernelSpec) -> None:
        super().__init__()
        self.spec = spec

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.spec


class GradedKernel(RunningKernel):
    """nbval's kernel, started as `kernel.json` says, over unix sockets, its output discarded."""

    def __init__(self, kernel_name: str, cwd: str | None = None, startup_timeout: float = 60):
        config = json.loads((Path(cwd) / KERNEL).read_text())
        self.sockets = sockets = Path(config["sockets"])
        spec = KernelSpec(
            argv=config["argv"], display_name="graded", language="python", interrupt_mode="message"
        )
        self.km = KernelManager(
            kernel_name="graded",
            kernel_spec_manager=_OneSpec(spec),
            transport="ipc",
            ip=str(sockets / "kernel"),
            connection_file=str(sockets / "connection.json"),
        )
        quiet = subprocess.DEVNULL
        self.km.start_kernel(env=config["env"], cwd=config["cwd"], stdout=quiet, stderr=quiet)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=startup_timeout)
            self._ensure_iopub_up()
        except RuntimeError:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
            raise


def pytest_configure(config: pytest.Config) -> None:
    nbval.plugin.RunningKernel = GradedKernel  # IPyNbFile.setup starts its kernel by this name


class Guard:
    """Wraps one notebook's kernel: records replies, spots deaths, applies the limits."""

    def __init__(self, file: IPyNbFile, cell_timeout: float) -> None:
        self.kernel = file.kernel
        grading = file.nb.metadata.get("grading", {})
        self.budget_end = time.monotonic() + float(grading.get("budget", math.inf))
        self.cell_timeout = cell_timeout
        self.stopped: str | None = None
        self.printed = self.written = 0  # bytes of messages, of files in the sockets folder
        self.next_look = 0.0  # when to weigh the sockets folder again
        self._get, self._execute = self.kernel.get_message, self.kernel.execute_cell_input
        self.kernel.get_message, self.kernel.execute_cell_input = self.get_message, self.execute
        self.begin(False)

    def begin(self, collecting: bool) -> None:
        self.msg_id: str | None = None
        self.reply: dict[str, Any] | None = None
        self.limit: str | None = None  # which limit stopped the cell, or "kernel-died"
        self.cell_end = self.interrupted_at = math.inf
        self.collecting = collecting
        self.collected: str | None = None

    def execute(self, source: str, allow_stdin: bool | None = None) -> str:
        self.msg_id = self._execute(source, allow_stdin=allow_stdin)
        self.cell_end = min(time.monotonic() + self.cell_timeout, self.budget_end)
        return self.msg_id

    def get_message(self, stream: str, timeout: float | None = None) -> dict[str, Any]:
        awaiting_reply = stream == "shell" and self.limit is None
        end = self.cell_end if awaiting_reply else time.monotonic() + (timeout or math.inf)
        end = min(end, self.interrupted_at + GRACE, self.cell_end + GRACE)  # output that never
        while True:  # ends (a kernel that chatters and never says idle) stops the cell too
            wait = min(POLL, end - time.monotonic())
            if wait > 0:
                try:
                    msg = self._get(stream, timeout=wait)
                except Empty:
                    pass
                else:
                    self._note(stream, msg)
                    return msg
            if not self.kernel.is_alive():
                self.limit = self.limit or "kernel-died"
                raise KernelDied("the kernel died while running this cell")
            self._weigh_files()
            if time.monotonic() >= end:
                if awaiting_reply or time.monotonic() >= self.cell_end + GRACE:
                    over = "out-of-time" if self.cell_end >= self.budget_end else "timeout"
                    self.limit = self.limit or over
                    self.interrupted_at = min(self.interrupted_at, time.monotonic())
                raise Empty

    def _note(self, stream: str, msg: dict[str, Any]) -> None:
        ours = msg["parent_header"].get("msg_id") == self.msg_id
        if stream == "shell" and ours:
            self.reply = msg["content"]
            self.next_look = 0.0  # a cell's files count in its own verdict
            self._weigh_files()
        if stream != "iopub":
            return
        buffers = msg.get("buffers") or ()  # binary frames beside the JSON, uncapped otherwise
        self.printed += len(json.dumps(msg["content"], default=str))
        self.printed += sum(memoryview(buffer).nbytes for buffer in buffers)
        self._weigh_files()
        data = msg["content"].get("data") if msg["msg_type"] == "display_data" else None
        if self.collecting and ours and isinstance(data, dict) and MIME in data:
            text = json.dumps(data[MIME], default=str)
            self.collected = text if len(text) <= MAX_BYTES else json.dumps("too large")

    def _weigh_files(self) -> None:
        """Stop the kernel once what it sent and wrote passes OUTPUT_LIMIT (the sockets folder is
        weighed every POLL seconds)."""
        if time.monotonic() >= self.next_look:
            self.next_look = time.monotonic() + POLL
            self.written = _disk_use(self.kernel.sockets)
        if self.printed + self.written > OUTPUT_LIMIT and self.limit is None:
            self.limit = "output-limit"
            self.kernel.km.shutdown_kernel(now=True)  # its next look finds it dead

    def verdict(self, failure: BaseException | None) -> dict[str, str]:
        """The cell's verdict: verdict, ename, message."""
        if self.limit in STOPS:
            self.stopped = self.limit
            if hasattr(self.kernel, "km"):
                self.kernel.stop()  # close the channels nbval's teardown skips for a dead kernel
            return {"verdict": self.limit, "message": _first_line(failure)}
        if self.reply is not None and self.reply.get("status") == "error":
            name, value = str(self.reply.get("ename", "")), str(self.reply.get("evalue", ""))
            return {"verdict": "error", "ename": name, "message": value}
        if failure is not None:
            return {"verdict": "failed", "message": _first_line(failure)}
        return {"verdict": "ok", "message": ""}


def _results(file: IPyNbFile) -> dict[int, dict[str, Any]]:
    if not hasattr(file, "grading_results"):
        file.grading_results = {}
    return file.grading_results


def _record(item: IPyNbCell, verdict: dict[str, Any]) -> None:
    _results(item.parent)[item.cell_num] = verdict


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    if not isinstance(item, IPyNbCell):
        return (yield)
    guard = getattr(item.parent, "grading_guard", None)
    if guard is not None and guard.stopped:
        _record(item, {"verdict": "skipped"})
        pytest.skip(f"not run: an earlier cell stopped this kernel ({guard.stopped})")
    try:
        return (yield)
    except Exception:
        if item.parent.kernel is None:  # nbval could not start the notebook's kernel
            _record(item, {"verdict": "no-kernel"})
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    if not isinstance(item, IPyNbCell):
        return (yield)
    file = item.parent
    if getattr(file, "grading_guard", None) is None:
        file.grading_guard = Guard(file, item.config.option.nbval_cell_timeout)
    guard = file.grading_guard
    guard.begin(collecting=bool(item.cell.metadata.get("grading", {}).get("collect")))
    started = time.monotonic()
    outcome: dict[str, Any] = {}
    try:
        result = yield
    except pytest.skip.Exception:
        outcome = {"verdict": "skipped"}
        raise
    except Exception as failure:
        outcome = guard.verdict(failure)
        raise
    else:
        outcome = guard.verdict(None)
        if outcome["verdict"] == "error":
            raise CellError(f"{outcome['ename']}: {outcome['message']}")
        return result
    finally:
        outcome.update(seconds=time.monotonic() - started, collected=guard.collected)
        _record(item, outcome)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    result = yield
    if isinstance(item, IPyNbCell) and (nextitem is None or nextitem.parent is not item.parent):
        folder = Path(item.parent.path).parent  # the notebook's kernel has been stopped
        data = json.dumps({"cells": _results(item.parent)})
        (folder / f"{RESULTS}.part").write_text(data)
        os.replace(folder / f"{RESULTS}.part", folder / RESULTS)
    return result


def _disk_use(folder: Path) -> int:
    """Bytes of disk the files and folders below `folder` take."""
    used = 0
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            try:
                used += max(os.lstat(os.path.join(parent, name)).st_blocks * 512, BLOCK)
            except OSError:  # gone since
                continue
    return used


def _first_line(failure: BaseException | None) -> str:
    text = str(failure or "").strip()
    return text.splitlines()[0] if text else ""
