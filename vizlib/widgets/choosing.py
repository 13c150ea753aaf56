"""Lesson 10's widget: build your own workload and see what each technique makes of it."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import ipywidgets as w
from matplotlib.figure import Figure

from vizlib.i18n import N_, _, sentences
from vizlib.plots.choosing import offered, show_slowdowns, technique_bars
from vizlib.sim import costmodel, techniques
from vizlib.sim.costmodel import CPUS, WORKLOADS, Workload
from vizlib.sim.errors import not_one_of
from vizlib.widgets.render import new_figure, per_language, png, relayout

PER = 1_000_000  # the sliders count events per million guest instructions
# Slider steps: zero, then about three per decade up to one event every ten instructions.
RATE_STEPS = (0, 1, 3, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)
EVENTS = {
    "syscalls": N_("system calls"),
    "page_faults": N_("page faults"),
    "page_table_updates": N_("page-table updates"),
    "context_switches": N_("context switches"),
    "io_operations": N_("device accesses"),
    "tlb_misses": N_("TLB misses"),
    "hidden_page_faults": N_("hidden page faults"),
    "address_spaces": N_("new address spaces"),
}
CUSTOM = N_("(your own)")  # the start menu's value for a workload of your own
PNG_DPI = 96
# Slowdowns closer than this are ties the model cannot tell apart: it misses SPECint by 3-4 %
# (costmodel.calibration), so 5 %.
NEAR = 0.05


@per_language
def _bars(cpu: str) -> Figure:
    """The widget's figure for one CPU (its techniques only), drawn again for each workload."""
    return new_figure(technique_bars, WORKLOADS["compute"], cpu, dpi=PNG_DPI)


def _names(ids) -> str:
    """ "a", "a and b", "a, b and c", each technique by its name, in bold."""
    names = [f"<b>{html.escape(techniques.TECHNIQUES[t].name())}</b>" for t in ids]
    if len(names) == 1:
        return names[0]
    return _("{some} and {last}", some=_(", ").join(names[:-1]), last=names[-1])


def verdict(workload: Workload, cpu: str) -> str:
    """Which technique the CPU had runs `workload` fastest, in words, ties named. Lesson 10."""
    fastest = costmodel.fastest(workload, cpu)
    best = costmodel.predict(workload, fastest[0], cpu).slowdown
    near = [t for t in costmodel.fastest(workload, cpu, tolerance=NEAR) if t not in fastest]
    fields = {"cpu": html.escape(cpu), "names": _names(fastest), "best": f"{best:.3f}"}
    if len(fastest) == 1:
        text = _("Fastest on the {cpu} CPU: {names}, {best} times the native run time.", **fields)
    else:
        text = _(
            "A tie on the {cpu} CPU: {names} run it equally fast, {best} times the native run "
            "time.",
            **fields,
        )
    if near:
        close = _(
            "Within {near} of that, closer than the model can tell: {names}.",
            near=f"{NEAR:.0%}",
            names=_names(near),
        )
        text = sentences(text, close)
    return f"<p>{text}</p>"


def snap(rate: float) -> int:
    """The slider step nearest to `rate` on a log scale; below 0.5, zero. Lesson 10."""
    if rate < 0.5:
        return 0
    positive = RATE_STEPS[1:]
    return min(positive, key=lambda step: abs(math.log(step) - math.log(rate)))


def rates_of(name: str) -> dict[str, int]:
    """A named workload's events per million instructions, snapped to the slider steps."""
    if name not in WORKLOADS:
        raise not_one_of("name", name, WORKLOADS)
    workload = WORKLOADS[name]
    return {e: snap(getattr(workload, e) / workload.instructions * PER) for e in EVENTS}


def build_workload(rates: Mapping[str, float]) -> Workload:
    """A workload of a million instructions with `rates` events of each kind. Lesson 10."""
    unknown = set(rates) - set(EVENTS)
    if unknown:
        raise ValueError(
            _(
                "rates keys must be among {allowed}; got {unknown}",
                allowed=", ".join(EVENTS),
                unknown=sorted(unknown),
            )
        )
    return Workload("your workload", instructions=PER, **rates)


def workload_view(cpu: str, rates: Mapping[str, float]) -> tuple[bytes, str]:
    """The bar chart (PNG) and a table of slowdowns for a workload built from `rates`.

    Lesson 10.
    """
    workload = build_workload(rates)
    predictions = [costmodel.predict(workload, t, cpu) for t in offered(cpu)]
    rows = "".join(
        f"<tr><td>{html.escape(techniques.TECHNIQUES[p.technique].name())}</td>"
        f"<td>{p.slowdown:.3f}x</td><td>{p.relative_speed:.1%}</td></tr>"
        for p in predictions
    )
    summary = verdict(workload, cpu)
    header = (_("technique"), _("slowdown"), _("share of native speed"))
    head = "".join(f"<th>{h}</th>" for h in header)
    table = f"<table><tr>{head}</tr>{rows}</table>"
    figure = _bars(cpu)
    show_slowdowns(figure, predictions, _("your workload on the {cpu} CPU", cpu=cpu))
    relayout(figure)
    return png(figure, PNG_DPI), summary + table


def workload_builder() -> w.VBox:
    """A CPU, a starting workload and one slider per event -> slowdown per technique (Lesson 10).

    Only the techniques the chosen CPU had are offered. Choosing a named workload moves the
    sliders to its rates (rounded to the slider's steps); moving a slider makes the workload your
    own.
    """
    cpu = w.Dropdown(options=list(CPUS), value="modern", description="CPU")
    start = w.Dropdown(
        options=[(_(CUSTOM), CUSTOM), *((name, name) for name in WORKLOADS)],
        value=CUSTOM,
        description=_("Start from"),
    )
    style = {"description_width": "11em"}
    sliders = {
        event: w.SelectionSlider(
            options=RATE_STEPS,
            value=0,
            description=_("{events} / M instr.", events=_(label)),
            style=style,
            layout=w.Layout(width="32em"),
        )
        for event, label in EVENTS.items()
    }
    image, text = w.Image(format="png"), w.HTML()
    loading = []  # set while a named workload moves the sliders

    def update(_=None):
        rates = {event: slider.value for event, slider in sliders.items()}
        image.value, text.value = workload_view(cpu.value, rates)

    def slider_moved(_=None):
        if loading:
            return
        if start.value == CUSTOM:
            update()
        else:
            start.value = CUSTOM  # load() redraws

    def load(_=None):
        if start.value != CUSTOM:
            loading.append(True)
            for event, rate in rates_of(start.value).items():
                sliders[event].value = rate
            loading.clear()
        update()

    cpu.observe(update, "value")
    start.observe(load, "value")
    for slider in sliders.values():
        slider.observe(slider_moved, "value")
    start.value = "syscall-heavy"
    return w.VBox([w.HBox([cpu, start]), *sliders.values(), image, text])
