"""Traps and cycles of one guest program under each technique. Lesson 02."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from vizlib.diagrams.style import LAYERS
from vizlib.i18n import N_, _
from vizlib.sim import trap

TICKS = {
    "native": N_("native"),
    "trap-and-emulate": N_("trap-and-\nemulate"),
    "binary-translation": N_("binary\ntranslation"),
    "paravirtualization": N_("paravirtu-\nalization"),
    "hardware-assisted": N_("hardware\nassist"),
}
EQUIVALENT = LAYERS["host_kernel"]  # a run the guest cannot tell from native
BROKEN = "#FFFFFF"  # hatched: the guest's view differs from native
BROKEN_EDGE = "#994455"  # the course's colour for a trap edge (diagrams.style.EDGES)


def technique_costs(program: str, title: str | None = None) -> Figure:
    """Bars of VMM entries and of cycles per technique for one guest program. Lesson 02.

    `program` is a guest program, or the name of one of `trap.EXAMPLES`, then titled with its
    `trap.EXAMPLE_TITLES` in the course's language. `title`, shown above both panels, is the
    caller's text, shown as it is given.

    Runs that break equivalence are hatched. Cycles come from `vizlib.sim.trap`'s constants
    (Adams & Agesen 2006, Pentium 4, with the illustrative ones its comments name).
    """
    if program in trap.EXAMPLES:
        program, title = trap.EXAMPLES[program], title or _(trap.EXAMPLE_TITLES[program])
    results = [trap.run(program, technique) for technique in trap.TECHNIQUES]
    fig, (traps_ax, cycles_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    panels = (
        (traps_ax, [r.traps for r in results], _("VMM entries"), "{:d}"),
        (cycles_ax, [r.cycles for r in results], _("cycles (model)"), "{:,.0f}"),
    )
    for ax, values, label, form in panels:
        bars = ax.bar(
            [_(TICKS[r.technique]) for r in results],
            values,
            color=[EQUIVALENT if r.correct else BROKEN for r in results],
            edgecolor=["#333333" if r.correct else BROKEN_EDGE for r in results],
        )
        for bar, result in zip(bars, results, strict=True):
            if not result.correct:
                bar.set_hatch("//")
        ax.bar_label(bars, labels=[form.format(v) for v in values], fontsize=8, padding=2)
        ax.set_ylabel(label)
        ax.set_ylim(0, max(max(values), 1) * 1.18)
        ax.tick_params(axis="x", labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    traps_ax.set_title(
        _("Times the VMM steps in\n(traps, callouts, hypercalls, VM exits)"), fontsize=9
    )
    cycles_ax.set_title(_("Cycles for the whole program"), fontsize=9)
    same = _("guest sees what it sees natively")
    handles = [
        Patch(facecolor=EQUIVALENT, edgecolor="#333333", label=same),
        Patch(facecolor=BROKEN, edgecolor=BROKEN_EDGE, hatch="//", label=_("guest's view breaks")),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    plt.close(fig)
    return fig
