"""Lesson 05's widgets: a guest's exits over time, a page walk step by step, shadow vs EPT."""

from __future__ import annotations

import functools
import html
import math

import ipywidgets as w

from vizlib.diagrams.hwassist import page_walk
from vizlib.display import to_html
from vizlib.i18n import _
from vizlib.plots.hwassist import crossover_map, exit_timeline, mark_workload
from vizlib.sim import paging, paging_costs, vmexit
from vizlib.sim.errors import not_one_of
from vizlib.widgets.render import Overlay, new_figure, per_language, png

TIMELINE_EXITS = 40  # exits drawn per timeline: enough to see the mix, few enough to see each
PNG_DPI = 96


def _html_table(header, rows) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def timeline_view(mix: str, cpu: str, mean_run_us: float, seed: int) -> tuple[bytes, str]:
    """The timeline plot (PNG) and a table of where root-mode time went. Lesson 05."""
    timeline = vmexit.simulate(mix, cpu, exits=TIMELINE_EXITS, mean_run_us=mean_run_us, seed=seed)
    spent = timeline.exit_us_by_reason()
    rows = [
        (reason, count, f"{spent[reason]:.2f}", f"{spent[reason] / timeline.total_us:.1%}")
        for reason, count in timeline.counts().items()
    ]
    summary = _(
        "{exits} exits in {total} µs: <b>{share}</b> of the time in root mode ({root} µs). "
        "Mix: {mix}.",
        exits=TIMELINE_EXITS,
        total=f"{timeline.total_us:.1f}",
        share=f"{timeline.fraction_in_exits:.1%}",
        root=f"{timeline.exit_us:.1f}",
        mix=html.escape(_(vmexit.EXIT_MIXES[mix][1])),
    )
    header = [_("exit reason"), _("exits"), _("µs in root mode"), _("share of the run")]
    table = _html_table(header, rows)
    return png(exit_timeline(timeline), PNG_DPI), f"<p>{summary}</p>" + table


def exit_timeline_explorer() -> w.VBox:
    """Exit mix, CPU generation, run length and seed -> the guest's timeline (Lesson 05)."""
    mix = w.Dropdown(
        options=[(_(name), name) for name in vmexit.EXIT_MIXES], description=_("Exit mix")
    )
    cpu = w.Dropdown(options=list(vmexit.CPUS), value="modern", description="CPU")
    run = w.FloatLogSlider(
        value=10, base=10, min=-1, max=3, step=0.1, description=_("Run (µs)"), readout_format=".3g"
    )
    seed = w.IntSlider(value=0, min=0, max=99, description=_("Seed"))
    image, text = w.Image(format="png"), w.HTML()

    def update(_=None):
        image.value, text.value = timeline_view(mix.value, cpu.value, run.value, seed.value)

    for control in (mix, cpu, run, seed):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([mix, cpu]), w.HBox([run, seed]), image, text])


CASES = tuple(paging.EXAMPLE_ADDRESSES)
_example = functools.cache(paging.example)  # the widget only reads the example's tables


def _walk(mode: str, levels: int, case: str) -> paging.Walk:
    if case not in paging.EXAMPLE_ADDRESSES:
        raise not_one_of("case", case, CASES)
    return _example(levels).walk(mode, paging.EXAMPLE_ADDRESSES[case])


def walk_view(mode: str, levels: int, case: str, step: int) -> tuple[str, int]:
    """The walk grid up to `step` and the reference made at it, as HTML; and the walk's length.

    Lesson 05. `step` beyond the walk's end shows the whole walk.
    """
    walk = _walk(mode, levels, case)
    total = len(walk.references)
    step = min(max(step, 0), total)
    if step == 0:
        said = _(
            "Press play or move the step slider: this walk makes {total} references.", total=total
        )
    else:
        r = walk.references[step - 1]
        host = f"{r.host_address:#x}"
        where = (
            _("host-physical {host}", host=host)
            if r.entry_address == r.host_address
            else _(
                "guest-physical {guest}, host-physical {host}",
                guest=f"{r.entry_address:#x}",
                host=host,
            )
        )
        said = _(
            "Reference {step} of {total}: <b>{label}</b>, index {index}, entry at {where}: "
            "{value} ({state}).",
            step=step,
            total=total,
            label=html.escape(r.label),
            index=r.index,
            where=where,
            value=f"{r.value:#x}",
            state=_("present") if r.present else _("NOT present"),
        )
    if step == total and walk.fault is not None:
        said += f"<br>{html.escape(str(walk.fault))}."
    return f"<p>{said}</p>" + to_html(page_walk(walk, step)), total


def page_walk_explorer() -> w.VBox:
    """Mode, levels, address and a step slider (with play) -> the walk so far (Lesson 05)."""
    mode = w.Dropdown(
        options=[(_(m), m) for m in paging.MODES], value="nested", description=_("Mode")
    )
    levels = w.Dropdown(options=[4, 5], description=_("Levels"))
    case = w.Dropdown(
        options=[(_(c), c) for c in CASES], description=_("Address"), layout=w.Layout(width="24em")
    )
    step = w.IntSlider(value=0, min=0, max=24, description=_("Step"))
    play = w.Play(value=0, min=0, max=24, interval=700, description=_("Play"))
    w.jslink((play, "value"), (step, "value"))
    out = w.HTML()
    busy = []  # set while update() moves the slider itself

    def update(_=None):
        if busy:
            return
        busy.append(True)
        try:
            total = len(_walk(mode.value, levels.value, case.value).references)
            step.value = min(step.value, total)
            step.max = play.max = total
            out.value, _ = walk_view(mode.value, levels.value, case.value, step.value)
        finally:
            busy.clear()

    for control in (mode, levels, case, step):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([mode, levels, case]), w.HBox([play, step]), out])


@per_language
def _crossover_map() -> Overlay:
    """The map, drawn once: the widget moves its star."""
    chart = new_figure(crossover_map, paging_costs.standard_grid(), (0, 1), dpi=PNG_DPI)
    return Overlay(chart)


def crossover_view(tlb_misses: float, pte_updates: float) -> tuple[bytes, str]:
    """The shadow-vs-EPT map with this workload marked (PNG), and the verdict (HTML). Lesson 05."""
    c = paging_costs.compare(tlb_misses, pte_updates)
    picture = _crossover_map()
    mark_workload(picture.figure, (tlb_misses, max(pte_updates, 1)))
    even = paging_costs.break_even_updates(tlb_misses)
    verdict = (
        _("they tie")
        if c.winner == paging_costs.TIE
        else _(
            "<b>{winner}</b> wins, shadow / EPT = {ratio}",
            winner=_(c.winner),
            ratio=f"{c.ratio:.2f}",
        )
    )
    text = _(
        "{misses} TLB misses and {updates} page-table updates per million instructions: "
        "{verdict} (shadow {shadow}, EPT {ept} cycles). At this miss rate they tie at {even} "
        "updates per million.",
        misses=f"{tlb_misses:,.0f}",
        updates=f"{pte_updates:,.1f}",
        verdict=verdict,
        shadow=f"{c.shadow_cycles:,.0f}",
        ept=f"{c.ept_cycles:,.0f}",
        even=f"{even:,.1f}",
    )
    text = f"<p>{text}</p>"
    return picture.png(), text


def crossover_explorer() -> w.VBox:
    """TLB misses and page-table updates per million instructions -> who wins (Lesson 05)."""
    misses = w.IntSlider(
        value=1000, min=0, max=paging_costs.MAX_TLB_MISSES, step=10, description=_("TLB misses")
    )
    updates = w.FloatLogSlider(
        value=20,
        base=10,
        min=0,
        max=math.log10(paging_costs.MAX_PTE_UPDATES),
        step=0.05,
        description=_("PT updates"),
        readout_format=".3g",
    )
    image, text = w.Image(format="png"), w.HTML()

    def update(_=None):
        image.value, text.value = crossover_view(misses.value, updates.value)

    misses.observe(update, "value")
    updates.observe(update, "value")
    update()
    return w.VBox([w.HBox([misses, updates]), image, text])
