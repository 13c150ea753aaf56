"""pytest plugin the grading command loads beside nbval (`-p vizlib.grading.nbval_guard`).

nbval judges a cell only by the error output the kernel displays, waits the whole cell timeout for
a kernel that has died, and runs the cells after a timeout in the interrupted kernel. This plugin
watches each notebook's kernel and, per cell:

- fails the cell whenever the kernel's execute_reply says "error", even if the submission hid the
  traceback (replaced `showtraceback`, `sys.excepthook`, ...);
- notices a dead kernel within a fraction of a second;
- applies the notebook's time budget (`metadata.grading.budget`, seconds of cell time) on top of
  nbval's cell timeout, and bounds the wait for output after interrupting a cell;
- skips every cell after a timeout or a dead kernel (the grader re-runs those on a fresh kernel);
- records its verdict as junit properties: `verdict` (ok, error, failed, timeout, out-of-time,
  kernel-died, skipped, no-kernel), `ename` (for errors) and `message`.
"""

from __future__ import annotations

import math
import time
from queue import Empty
from typing import Any

import pytest
from nbval.plugin import IPyNbCell, IPyNbFile

POLL = 0.2  # seconds between two looks at whether the kernel process is still alive
GRACE = 5.0  # seconds to wait for output after interrupting a cell (nbval's own output timeout)
STOPS = ("timeout", "out-of-time", "kernel-died")


class KernelDied(RuntimeError):
    """The kernel process ended while a cell was running."""


class CellError(AssertionError):
    """The kernel reported an error that nbval did not see."""


class Guard:
    """Wraps one notebook's kernel: records replies, spots deaths, applies the time limits."""

    def __init__(self, file: IPyNbFile, cell_timeout: float) -> None:
        self.kernel = file.kernel
        grading = file.nb.metadata.get("grading", {})
        self.budget_end = time.monotonic() + float(grading.get("budget", math.inf))
        self.cell_timeout = cell_timeout
        self.stopped: str | None = None
        self._get, self._execute = self.kernel.get_message, self.kernel.execute_cell_input
        self.kernel.get_message, self.kernel.execute_cell_input = self.get_message, self.execute
        self.begin()

    def begin(self) -> None:
        self.msg_id: str | None = None
        self.reply: dict[str, Any] | None = None
        self.limit: str | None = None  # which limit stopped the cell, or "kernel-died"
        self.cell_end = self.interrupted_at = math.inf

    def execute(self, source: str, allow_stdin: bool | None = None) -> str:
        self.msg_id = self._execute(source, allow_stdin=allow_stdin)
        self.cell_end = min(time.monotonic() + self.cell_timeout, self.budget_end)
        return self.msg_id

    def get_message(self, stream: str, timeout: float | None = None) -> dict[str, Any]:
        awaiting_reply = stream == "shell" and self.limit is None
        end = self.cell_end if awaiting_reply else time.monotonic() + (timeout or math.inf)
        end = min(end, self.interrupted_at + GRACE)
        while True:
            wait = min(POLL, end - time.monotonic())
            if wait > 0:
                try:
                    msg = self._get(stream, timeout=wait)
                except Empty:
                    pass
                else:
                    self._note_reply(stream, msg)
                    return msg
            if not self.kernel.is_alive():
                self.limit = "kernel-died"
                raise KernelDied("the kernel died while running this cell")
            if time.monotonic() >= end:
                if awaiting_reply:
                    self.limit = "out-of-time" if self.cell_end >= self.budget_end else "timeout"
                    self.interrupted_at = time.monotonic()
                raise Empty

    def _note_reply(self, stream: str, msg: dict[str, Any]) -> None:
        if stream == "shell" and msg["parent_header"].get("msg_id") == self.msg_id:
            self.reply = msg["content"]

    def verdict(self, failure: BaseException | None) -> dict[str, str]:
        """The cell's verdict as junit properties."""
        if self.limit in STOPS:
            self.stopped = self.limit
            if self.limit == "kernel-died" and hasattr(self.kernel, "km"):
                self.kernel.stop()  # close the channels nbval's teardown skips for a dead kernel
            return {"verdict": self.limit, "message": _first_line(failure)}
        if self.reply is not None and self.reply.get("status") == "error":
            name, value = str(self.reply.get("ename", "")), str(self.reply.get("evalue", ""))
            return {"verdict": "error", "ename": name, "message": value}
        if failure is not None:
            return {"verdict": "failed", "message": _first_line(failure)}
        return {"verdict": "ok", "message": ""}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    if not isinstance(item, IPyNbCell):
        return (yield)
    guard = getattr(item.parent, "grading_guard", None)
    if guard is not None and guard.stopped:
        item.user_properties.append(("verdict", "skipped"))
        pytest.skip(f"not run: an earlier cell stopped this kernel ({guard.stopped})")
    try:
        return (yield)
    except Exception:
        if item.parent.kernel is None:  # nbval could not start the notebook's kernel
            item.user_properties.append(("verdict", "no-kernel"))
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    if not isinstance(item, IPyNbCell):
        return (yield)
    file = item.parent
    if getattr(file, "grading_guard", None) is None:
        file.grading_guard = Guard(file, item.config.option.nbval_cell_timeout)
    guard = file.grading_guard
    guard.begin()
    try:
        result = yield
    except pytest.skip.Exception:
        item.user_properties.append(("verdict", "skipped"))
        raise
    except Exception as failure:
        item.user_properties.extend(guard.verdict(failure).items())
        raise
    verdict = guard.verdict(None)
    item.user_properties.extend(verdict.items())
    if verdict["verdict"] == "error":
        raise CellError(f"{verdict['ename']}: {verdict['message']}")
    return result


def _first_line(failure: BaseException | None) -> str:
    text = str(failure or "").strip()
    return text.splitlines()[0] if text else ""
