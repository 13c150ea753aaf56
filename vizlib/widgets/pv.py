"""How big a batch of page-table updates must a paravirtualized guest send? Lesson 04."""

from __future__ import annotations

import ipywidgets as w

from vizlib.i18n import _
from vizlib.plots.costs import first_batch_beating, mark_batch, pte_update_costs
from vizlib.sim import costmodel, techniques
from vizlib.widgets.render import Overlay, new_figure, per_language

# Batch sizes the slider offers: every size up to 16, where the crossovers are, then coarser, up
# to XenoLinux's batch buffer.
BATCHES = (
    *range(1, 17),
    24,
    32,
    48,
    *(2**k for k in range(6, costmodel.MAX_PV_BATCH.bit_length())),
)
_OTHERS = ("binary-translation", "hardware-assisted", "hardware-assisted-ept")


@per_language
def _costs_plot(cpu: str) -> Overlay:
    """The CPU's plot, drawn once: the widget moves its batch mark."""
    return Overlay(new_figure(pte_update_costs, cpu, BATCHES[0]))


def batch_view(cpu: str, batch: int) -> tuple[bytes, str]:
    """The widget's plot (PNG) and summary (HTML) for one CPU and batch size. Lesson 04."""
    pv = costmodel.cost_per_pte_update("paravirtualization", cpu, batch)
    rows = []
    for technique in _OTHERS:
        cost = costmodel.cost_per_pte_update(technique, cpu)
        beats = first_batch_beating(technique, cpu)
        when = (
            _("never (up to {most})", most=costmodel.MAX_PV_BATCH)
            if beats is None
            else _("from batch {batch}", batch=beats)
        )
        name = techniques.TECHNIQUES[technique].name()
        rows.append(f"<tr><td>{name}</td><td>{cost:,.0f}</td><td>{when}</td></tr>")
    forkwait = costmodel.WORKLOADS["forkwait"]
    slowdown = {
        t: costmodel.predict(forkwait, t, cpu, pv_batch_size=batch).slowdown
        for t in ("paravirtualization", *_OTHERS)
    }
    others = _(", ").join(f"{techniques.TECHNIQUES[t].name()} {slowdown[t]:.2f}x" for t in _OTHERS)
    header = (_("technique"), _("cycles per update"), _("paravirtualization is cheaper"))
    summary = (
        "<p>"
        + _(
            "Paravirtualization with batches of {batch}: <b>{cycles} cycles</b> per update on "
            "the {cpu} CPU.",
            batch=batch,
            cycles=f"{pv:,.1f}",
            cpu=cpu,
        )
        + "</p><table><tr>"
        + "".join(f"<th>{h}</th>" for h in header)
        + "</tr>"
        + "".join(rows)
        + "</table><p>"
        + _(
            "forkwait runs {slowdown}x native under paravirtualization at this batch size "
            "({others}).",
            slowdown=f"{slowdown['paravirtualization']:.2f}",
            others=others,
        )
        + "</p>"
    )
    plot = _costs_plot(cpu)
    mark_batch(plot.figure, cpu, batch)
    return plot.png(), summary


def batch_explorer() -> w.VBox:
    """CPU and batch size; the cost per page-table update of each technique (Lesson 04).

    Each CPU's plot is drawn when the widget is built; a change then only moves the batch mark.
    """
    for name in costmodel.CPUS:
        _costs_plot(name)
    cpu = w.Dropdown(options=costmodel.CPUS, description="CPU")
    batch = w.SelectionSlider(options=BATCHES, value=32, description=_("Batch size"))
    image, summary = w.Image(format="png"), w.HTML()

    def update(_=None):
        image.value, summary.value = batch_view(cpu.value, batch.value)

    cpu.observe(update, "value")
    batch.observe(update, "value")
    update()
    return w.VBox([w.HBox([cpu, batch]), image, summary])
