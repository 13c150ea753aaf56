"""QEMU runs on every accelerator this machine has, or stored ones, labelled. Lesson 08.

`everywhere(run, name)` runs a guest in QEMU with `-accel tcg` and, where /dev/kvm opens,
`-accel kvm`; where QEMU (or what the guest needs) is missing it reads the recording `name`
instead. A recording is a text file in `vizlib/machine/data/`: a header of `# key: value` lines
saying what was run, where (`host`) and when, then one section per run, opened by
`# accel: ...`, with QEMU's status, time and messages, the run's extra fields, and the guest's
COM1 output line by line, each line with the seconds after QEMU's start at which it arrived
(`[   1.234] text`). Its text stays in English; `label` shows it in the course's language.
`write` makes one from live runs; `read` gives the runs back.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vizlib.i18n import _
from vizlib.machine import kvm
from vizlib.machine.qemu import ACCELS, QemuRun, version
from vizlib.system import probe

_KEY = re.compile(r"^# ([a-z ]+): (.*)$")
_LINE = re.compile(r"^\[\s*(\d+\.\d+)\] (.*)$")


@dataclass(frozen=True)
class Recording:
    """Runs read from a recording: `about` holds its header (recorded on, the fields of `host`,
    qemu, and what its writer added), `runs` each accelerator's run and its extra fields.
    Lesson 08."""

    about: Mapping[str, str]
    runs: Mapping[str, tuple[QemuRun, Mapping[str, str]]]

    @property
    def label(self) -> str:
        """Where and when the runs were recorded, and that it was not here, in the course's
        language (the probe's verdict too: it is recorded as its English key)."""
        about = self.about
        return _(
            "Stored runs, recorded on {date} on a Linux machine ({arch}, {cpu}, {cores} cores, "
            "{system}) whose probe said: {verdict}, with {qemu}: not on this machine.",
            date=about["recorded on"],
            arch=about["arch"],
            cpu=about["cpu"],
            cores=about["cores"],
            system=about["system"],
            verdict=_(about["probe said"]),
            qemu=about["qemu"],
        )


@dataclass(frozen=True)
class Runs:
    """A guest run in QEMU on each accelerator, live or stored, and where the runs come from.

    Lesson 08. `runs` maps each accelerator to its run and the run's extra fields; `skipped`
    says why an accelerator was not tried.
    """

    runs: Mapping[str, tuple[QemuRun, Mapping[str, str]]]
    origin: str
    stored: bool
    skipped: Mapping[str, str]


RunOne = Callable[[str], tuple[QemuRun, Mapping[str, str]]]


def everywhere(run: RunOne, name: str, missing: str | None, together: bool = False) -> Runs:
    """`run(accel)` on tcg and, where /dev/kvm opens, on kvm (`together`: at the same time, each
    in a thread of its own); when `missing` says why they cannot run, the recording `name`
    instead, labelled. Lesson 08."""
    if missing:
        stored = read(name)
        origin = _("Not run here: {reason}. {label}", reason=missing, label=stored.label)
        return Runs(stored.runs, origin, True, {})
    kvm_reason = kvm.unavailable_reason()
    accels = [accel for accel in ACCELS if accel == "tcg" or kvm_reason is None]
    if together:
        with ThreadPoolExecutor(max_workers=len(accels)) as pool:
            results = dict(zip(accels, pool.map(run, accels), strict=True))
    else:
        results = {accel: run(accel) for accel in accels}
    skipped = {} if kvm_reason is None else {"kvm": kvm_reason}
    origin = _("Live, on this machine, with {qemu}.", qemu=version())
    return Runs(results, origin, False, skipped)


def host() -> dict[str, str]:
    """This machine, for a recording's header: architecture, CPU, cores, system, and what the
    probe said of its KVM (`HostReport.kind`, English in every language)."""
    report = probe()
    try:
        system = platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        system = platform.system()
    return {
        "arch": report.arch or platform.machine(),
        "cpu": report.cpu_model or "?",
        "cores": str(os.cpu_count()),
        "system": system,
        "probe said": report.kind,
    }


def path(name: str) -> Path:
    """Where the recording `name` lives: the package's data/ folder."""
    return Path(str(resources.files("vizlib.machine").joinpath("data", name)))


def write(name: str, title: str, about: Mapping[str, str], runs: Runs) -> Path:
    """Store live `runs` as the recording `name`, under `# title` lines, with today's date,
    this machine (`host`), QEMU's version and `about`. Returns its path. Lesson 08."""
    if runs.stored:
        raise ValueError(_("runs must be live to be recorded: {origin}", origin=runs.origin))
    lines = [f"# {line}" for line in title.splitlines()]
    header = {
        "recorded on": datetime.date.today().isoformat(),
        **host(),
        "qemu": version(),
        **about,
    }
    lines += [f"# {key}: {value}" for key, value in header.items()]
    for run, extra in runs.runs.values():
        lines += [
            f"# accel: {run.accel}",
            f"# status: {run.status}",
            f"# wall time: {run.wall_time:.3f}",
            f"# qemu said: {' / '.join(run.stderr.splitlines())}",
            f"# command: {shlex.join(run.command)}",
            *(f"# {key}: {value}" for key, value in extra.items()),
            *(f"[{seconds:8.3f}] {text}" for seconds, text in console(run)),
        ]
    target = path(name)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def console(run: QemuRun) -> tuple[tuple[float, str], ...]:
    """What the guest printed on COM1 as lines, each with the seconds after QEMU's start at which
    its first byte arrived; empty lines left out. Lesson 08."""
    lines, line, first = [], bytearray(), 0.0
    for byte, seconds in zip(run.serial, run.serial_times, strict=True):
        if byte == ord("\n"):
            if line:
                lines.append((first, line.decode(errors="replace")))
            line = bytearray()
        elif byte != ord("\r"):
            if not line:
                first = seconds
            line.append(byte)
    if line:
        lines.append((first, line.decode(errors="replace")))
    return tuple(lines)


def read(name: str) -> Recording:
    """The recording `name` from the package's data/ folder. Lesson 08."""
    about: dict[str, str] = {}
    sections: list[dict] = []
    for line in path(name).read_text(encoding="utf-8").splitlines():
        if match := _KEY.match(line):
            key, value = match.groups()
            if key == "accel":
                sections.append({"accel": value, "console": []})
            elif sections:
                sections[-1][key] = value
            else:
                about[key] = value
        elif (match := _LINE.match(line)) and sections:
            sections[-1]["console"].append((float(match[1]), match[2].encode()))
    runs = {}
    for section in sections:
        serial, times = b"", []
        for seconds, text in section.pop("console"):
            serial += text + b"\n"
            times += [seconds] * (len(text) + 1)
        run = QemuRun(
            accel=section.pop("accel"),
            command=tuple(shlex.split(section.pop("command"))),
            status=None if section["status"] == "None" else int(section["status"]),
            serial=serial,
            serial_times=tuple(times),
            stderr=section.pop("qemu said").replace(" / ", "\n"),
            wall_time=float(section.pop("wall time")),
        )
        section.pop("status")
        runs[run.accel] = (run, section)
    return Recording(about, runs)
