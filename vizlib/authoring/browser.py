"""Run lessons the way a learner does: JupyterLab in headless Chromium, every cell, then look.

`JupyterLab(root)` starts a JupyterLab server on a free localhost port with a random token, a
private settings folder (every cell rendered, no autosave, no news) and `window.jupyterapp`
exposed. `Browser(lab)` opens it in the system's Chromium through Playwright; `Browser.check(path)`
opens one notebook, runs all cells, waits for the kernel and the widgets, moves a slider, and
returns what a learner would see (`LessonCheck`). Used by the browser test and the benchmark.
Nothing here downloads a browser: it uses the first of CHROMIUM_NAMES on the PATH, and without
one `unavailable()` says why.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")  # Debian, Ubuntu, Google's
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# JupyterLab settings for a check: render every cell (JupyterLab >= 4.2 skips off-screen ones by
# default), never write a notebook back, no news or update pop-ups.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SERVER_TIMEOUT = 60  # seconds for the server, then the JupyterLab page, to come up
LESSON_TIMEOUT = 120  # seconds for one notebook to open and run all its cells
WIDGET_TIMEOUT = 15  # seconds for widgets to render once the kernel is idle
SLIDER_TIMEOUT = 5  # seconds for a moved slider's output to change


def chromium() -> Path | None:
    """The Chromium (or Chrome) found first on the PATH, or None."""
    found = next((shutil.which(name) for name in CHROMIUM_NAMES if shutil.which(name)), None)
    return Path(found) if found else None


def unavailable() -> str | None:
    """Why the browser check cannot run on this machine, or None when it can."""
    if chromium() is None:
        return (
            f"no Chromium on the PATH (looked for {', '.join(CHROMIUM_NAMES)}; Debian: "
            "`sudo apt-get install chromium`)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (`pip install playwright`)"
    return None


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab server over `root`, from `start()` until `stop()` (or a `with` block)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        self._home: tempfile.TemporaryDirectory | None = None
        self._log = None  # the server's output, a file in `_home`
        self._sigterm = None  # the SIGTERM handler to restore

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, home: Path) -> list[str]:
        """The server's command line; its settings, workspaces and checkpoints live in `home`."""
        as_root = ["--allow-root"] if os.name != "nt" and os.geteuid() == 0 else []
        return [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            f"--FileCheckpoints.root_dir={home / 'checkpoints'}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.default_url=/lab",
            *as_root,
        ]

    def start(self) -> JupyterLab:
        if threading.current_thread() is threading.main_thread():  # `kill` or a CI timeout:
            self._sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # still stop()
        try:
            self._home = tempfile.TemporaryDirectory(prefix="course-lab-")
            home = Path(self._home.name)
            for plugin, values in LAB_SETTINGS.items():
                path = home / "settings" / f"{plugin}.jupyterlab-settings"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(values), encoding="utf-8")
            env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(home / "runtime"), PYTHONHASHSEED="0")
            self._log = (home / "server.log").open("w+", encoding="utf-8")
            self.process = subprocess.Popen(
                self.command(home),
                cwd=self.root,
                env=env,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, which stop() can kill
            )
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.process.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        """The end of the server's output (for error messages)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-4000:]

    def _api(self, method: str, path: str) -> None:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        """End the server and its kernels (which run in sessions of their own: the server shuts
        them down), killing its process group if it does not exit; then delete its files."""
        if self.process is not None and self.process.poll() is None:
            try:
                self._api("POST", "/api/shutdown")
                self.process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                    try:
                        os.killpg(self.process.pid, sig)
                        self.process.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                    except ProcessLookupError:
                        break
        if self._home is not None:
            if self._log is not None:
                self._log.close()
                self._log = None
            self._home.cleanup()
            self._home = None
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm)
            self._sigterm = None

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass(frozen=True)
class Problem:
    """Something a learner would see broken, and the index of its cell (None: the notebook)."""

    cell: int | None
    what: str

    def __str__(self) -> str:
        return self.what if self.cell is None else f"cell {self.cell}: {self.what}"


@dataclass
class LessonCheck:
    """What a learner sees after running every cell of one notebook in JupyterLab."""

    path: str
    seconds: float = 0.0  # from opening the notebook to the kernel idle after the last cell
    widgets: int = 0
    pictures: int = 0
    slider: str = "none"  # none (the lesson has no slider), changed, or unchanged
    problems: list[Problem] = field(default_factory=list)


_PANEL = "const panel = Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.id === id);"

# Close what is open (shutting its kernel down), open the notebook, run every cell; give up after
# `ms` milliseconds (a dialog waiting for a click would otherwise hang the check).
_OPEN_AND_RUN = """
async ({path, ms}) => {
  const app = window.jupyterapp;
  const run = async () => {
    for (const w of Array.from(app.shell.widgets('main'))) {
      if (w.sessionContext) await w.sessionContext.shutdown();
      w.dispose();
    }
    const options = {path, factory: 'Notebook', kernel: {name: 'python3'}};  // never ask which
    const panel = await app.commands.execute('docmanager:open', options);
    await panel.context.ready;
    await panel.sessionContext.ready;
    app.shell.activateById(panel.id);
    await app.commands.execute('notebook:run-all-cells');
    return panel.id;
  };
  const late = new Promise((_, fail) =>
    setTimeout(() => fail(new Error(`${path}: no result in ${ms} ms`)), ms));
  return Promise.race([run(), late]);
}
"""

_IDLE = f"(id) => {{ {_PANEL} return panel.sessionContext.session?.kernel?.status === 'idle'; }}"

# Cells that did not run, error outputs, tracebacks on stderr.
_ERRORS = f"""
(id) => {{
  {_PANEL}
  const found = [];
  panel.content.widgets.forEach((cell, i) => {{
    if (cell.model.type !== 'code' || !cell.model.sharedModel.getSource().trim()) return;
    if (cell.model.executionCount === null) found.push([i, 'was not run']);
    for (const out of cell.model.outputs.toJSON()) {{
      const text = [].concat(out.text || []).join('');
      if (out.output_type === 'error') found.push([i, `${{out.ename}}: ${{out.evalue}}`]);
      else if (out.name === 'stderr' && /Traceback|Error/.test(text))
        found.push([i, `stderr: ${{text.slice(0, 300)}}`]);
    }}
  }});
  return found;
}}
"""

# Widget outputs: how many, which are broken, which still say "Loading widget...".
_WIDGETS = f"""
(id) => {{
  {_PANEL}
  const broken = [], loading = [];
  let count = 0;
  panel.content.widgets.forEach((cell, i) => {{
    if (cell.model.type !== 'code') return;
    const children = cell.outputArea.node.querySelectorAll(':scope > .jp-OutputArea-child');
    cell.model.outputs.toJSON().forEach((out, j) => {{
      if (!out.data || !out.data['{WIDGET_VIEW}']) return;
      count += 1;
      const text = children[j] ? children[j].innerText : '';
      const box = children[j] ? children[j].getBoundingClientRect() : {{width: 0, height: 0}};
      if (text.includes('Error displaying widget')) broken.push([i, text.slice(0, 200)]);
      else if (text.includes('Loading widget')) loading.push([i, 'still "Loading widget..."']);
      else if (box.width === 0 || box.height === 0) broken.push([i, 'widget rendered empty']);
    }});
  }});
  return {{count, broken, loading}};
}}
"""

# Pictures in outputs (images, outermost SVGs; not those in hidden tabs) with no visible size.
_PICTURES = f"""
(id) => {{
  {_PANEL}
  const cells = Array.from(panel.content.node.querySelectorAll('.jp-Cell'));
  const pictures = Array.from(panel.node.querySelectorAll(
    '.jp-OutputArea-output img, .jp-OutputArea-output svg'))
    .filter(el => !(el.parentElement && el.parentElement.closest('svg')))
    .filter(el => !el.closest('.lm-mod-hidden'));
  const empty = [];
  for (const el of pictures) {{
    const box = el.getBoundingClientRect();
    const tag = el.tagName.toLowerCase();
    const broken = tag === 'img' && !(el.complete && el.naturalWidth > 0);
    if (broken || box.width < 1 || box.height < 1) {{
      const size = `${{Math.round(box.width)}}x${{Math.round(box.height)}}`;
      empty.push([cells.indexOf(el.closest('.jp-Cell')), `<${{tag}}> not visible (${{size}})`]);
    }}
  }}
  return {{count: pictures.length, empty}};
}}
"""

# What the widget around a slider draws (its outputs, not its controls) and the slider's cell.
_DRAWN = """
(handle) => {
  const child = handle.closest('.jp-OutputArea-child');
  return Array.from(child.querySelectorAll(
    '.widget-html-content, .widget-htmlmath-content, .widget-image, .widget-output'))
    .map(el => el.outerHTML).join('\\n');
}
"""
_CELL_OF = """
(el) => Array.from(el.closest('.jp-Notebook').querySelectorAll('.jp-Cell'))
  .indexOf(el.closest('.jp-Cell'))
"""


class Browser:
    """Headless Chromium showing a running JupyterLab: one page, notebooks one after another."""

    def __init__(self, lab: JupyterLab, viewport: tuple[int, int] = (1280, 900)):
        self.lab = lab
        self.viewport = viewport
        self._playwright = self._chromium = self.page = None

    def start(self) -> Browser:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self._chromium = self._playwright.chromium.launch(
                executable_path=str(chromium()), args=list(CHROMIUM_ARGS)
            )
            width, height = self.viewport
            self.page = self._chromium.new_page(viewport={"width": width, "height": height})
            self.page.goto(f"{self.lab.url}/lab?token={self.lab.token}")
            self.page.wait_for_function(
                "window.jupyterapp && window.jupyterapp.started", timeout=SERVER_TIMEOUT * 1000
            )
            self.page.evaluate("window.jupyterapp.restored")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._chromium is not None:
            self._chromium.close()
            self._chromium = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def check(self, path: str, slider_timeout: float = SLIDER_TIMEOUT) -> LessonCheck:
        """Open the notebook at `path` (relative to the server's root), run it, look at it."""
        result = LessonCheck(path)
        start = time.perf_counter()
        panel = self.page.evaluate(_OPEN_AND_RUN, {"path": path, "ms": LESSON_TIMEOUT * 1000})
        self.page.wait_for_function(_IDLE, arg=panel, timeout=LESSON_TIMEOUT * 1000, polling=100)
        result.seconds = time.perf_counter() - start
        found = list(self.page.evaluate(_ERRORS, panel))
        widgets = self._rendered_widgets(panel)
        result.widgets = widgets["count"]
        found += widgets["broken"] + widgets["loading"]
        pictures = self.page.evaluate(_PICTURES, panel)
        result.pictures = pictures["count"]
        found += pictures["empty"]
        result.problems = [Problem(cell, what) for cell, what in found]
        result.slider, slider_problem = self._move_a_slider(panel, slider_timeout)
        if slider_problem:
            result.problems.append(slider_problem)
        return result

    def _rendered_widgets(self, panel: str) -> dict:
        deadline = time.monotonic() + WIDGET_TIMEOUT
        while True:
            widgets = self.page.evaluate(_WIDGETS, panel)
            if not widgets["loading"] or time.monotonic() > deadline:
                return widgets
            time.sleep(0.2)

    def _move_a_slider(self, panel: str, timeout: float) -> tuple[str, Problem | None]:
        """Press End (Home when already at the end) on the first slider; did its output change?"""
        handles = self.page.locator(f"#{panel} .widget-slider .noUi-handle")
        if handles.count() == 0:
            return "none", None
        handle = handles.first
        handle.scroll_into_view_if_needed()
        before, value = handle.evaluate(_DRAWN), handle.get_attribute("aria-valuenow")
        key = "Home" if value == handle.get_attribute("aria-valuemax") else "End"
        handle.focus()
        handle.press(key)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if handle.evaluate(_DRAWN) != before:
                return "changed", None
            time.sleep(0.1)
        moved = handle.get_attribute("aria-valuenow") != value
        why = "its output stayed the same" if moved else "the slider did not move"
        what = f"slider: pressed {key} on the first slider and {why}"
        return "unchanged", Problem(handle.evaluate(_CELL_OF), what)

    def screenshots(self, check: LessonCheck, folder: Path, most: int = 5) -> list[Path]:
        """Save the page, and each cell with a problem (at most `most`), as PNGs in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        stem = Path(check.path).stem
        saved = [folder / f"{stem}.png"]
        self.page.screenshot(path=str(saved[0]))
        cells = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")
        indices = sorted({p.cell for p in check.problems if p.cell is not None and p.cell >= 0})
        for index in indices[:most]:
            path = folder / f"{stem}-cell{index}.png"
            cells.nth(index).screenshot(path=str(path))
            saved.append(path)
        return saved
