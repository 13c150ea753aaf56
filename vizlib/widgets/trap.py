"""Step through a guest program under each technique and see where its view breaks. Lesson 02."""

from __future__ import annotations

import html

import ipywidgets as w

from vizlib.i18n import _
from vizlib.sim import techniques, trap
from vizlib.sim.errors import not_one_of

_BROKEN = "background:#f9d0d0"  # a row or state where the guest's view differs from native
_TEXT = "line-height:1.4"  # widget HTML is spaced for one-line labels; lessons read as prose
_CELL = "padding:2px 8px;border:1px solid #ccc;text-align:left;vertical-align:top"


def _table(header: list[str], rows: list[tuple[list[str], bool]]) -> str:
    """An HTML table of escaped cells; rows marked True are highlighted as broken."""
    head = "".join(f"<th style='{_CELL}'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        f"<tr style='{_BROKEN if broken else ''}'>"
        + "".join(f"<td style='{_CELL}'>{html.escape(cell)}</td>" for cell in cells)
        + "</tr>"
        for cells, broken in rows
    )
    return f"<table style='border-collapse:collapse;font-size:90%'><tr>{head}</tr>{body}</table>"


def _syntax() -> str:
    """How to write a guest program, as HTML."""
    return _(
        "One instruction per line, <code>ring: MNEMONIC operand=value</code>, e.g. "
        "<code>kernel: POPF if=1</code>, <code>user: SGDT</code>, "
        "<code>kernel: OUT port=0x3f8 value=72</code>; <code>#</code> starts a comment. "
        "Mnemonics: {mnemonics}. Edit, then click outside the box.",
        mnemonics=", ".join(trap.OPERANDS),
    )


def _ring(ring: int, technique: str) -> str:
    if technique == "hardware-assisted":
        return _("ring {ring}, non-root", ring=ring)
    return _("ring {ring}", ring=ring)


def _handler(handler: str, technique: str) -> str:
    """A treatment kind in words: "trap to the VMM (VMM in ring 0)", "direct (CPU, no VMM)"."""
    kind = techniques.TREATMENT_KINDS[handler]
    if not kind.leaves_guest:
        return _("{kind} (CPU, no VMM)", kind=kind.name())
    if handler == "exit-user":
        return _("{kind} (kvm.ko, then QEMU in root ring 3)", kind=kind.name())
    if technique == "hardware-assisted":
        return _("{kind} (VMM in root ring 0)", kind=kind.name())
    return _("{kind} (VMM in ring 0)", kind=kind.name())


def _summary(technique: str) -> str:
    """One sentence on how `technique` runs the guest kernel, from the model."""
    t = techniques.technique(technique)
    return _(
        "{first}. The guest kernel runs in {ring}.", first=_(t.first), ring=_(t.kernel_runs_in)
    )


def _number(label: str, value: int) -> str:
    return f"{label} = {value}" if label == "IF" else f"{label} = {value:#x}"


def _state_rows(here: trap.GuestView, native: trap.GuestView) -> list[tuple[list[str], bool]]:
    """What the guest can observe, under the technique and natively, one row per item."""
    items = {
        _("interrupt flag (IF)"): lambda v: str(v.interrupt_flag),
        _("GDT base it loaded"): lambda v: f"{v.gdt_base:#x}",
        _("page-table base (CR3)"): lambda v: f"{v.cr3:#x}",
        _("values it read"): lambda v: (
            "; ".join(
                _("line {line}: {value}", line=line, value=_number(label, value))
                for line, label, value in v.reads
            )
            or _("none")
        ),
        _("bytes written to ports"): lambda v: (
            " ".join(f"{value:#x}" for _port, value in v.output) or _("none")
        ),
        _("#GP faults at lines"): lambda v: ", ".join(map(str, v.faults)) or _("none"),
    }
    return [
        ([name, show(here), show(native)], show(here) != show(native))
        for name, show in items.items()
    ]


def step_view(program: str, technique: str, step: int) -> tuple[str, int]:
    """The explorer's HTML after `step` instructions of `program` (clamped to 0..n) and n.

    A program that does not parse gives its error message and n = 0. Lesson 02.
    """
    try:
        result = trap.run(program, technique)
    except ValueError as error:
        if technique not in trap.TECHNIQUES:
            raise
        problem = _("<b>This program does not parse:</b> {error}", error=html.escape(str(error)))
        return f"<div style='{_TEXT}'><p style='color:#994455'>{problem}</p></div>", 0
    count = len(result.events)
    step = max(0, min(step, count))
    shown = result.events[:step]
    prefix = "\n".join(program.splitlines()[: shown[-1].line]) if shown else ""
    so_far, native = trap.run(prefix, technique), trap.run(prefix, "native")
    broken = result.divergence.line if result.divergence else None
    name = techniques.technique(technique).name()
    parts = [f"<p><b>{html.escape(name)}</b>: {html.escape(_summary(technique))}</p>"]
    if shown:
        e = shown[-1]
        said = _(
            "<b>Step {step} of {count}</b>: line {line}, <code>{text}</code> in {ring}: {what}.",
            step=step,
            count=count,
            line=e.line,
            text=html.escape(e.text),
            ring=_ring(e.ring, technique),
            what=html.escape(e.what),
        )
    else:
        said = _("<b>Step 0 of {count}</b>: nothing has run yet; move the slider.", count=count)
    parts.append(f"<p>{said}</p>")
    rows = [
        (
            [str(i), str(e.line), _ring(e.ring, technique), e.text, e.what]
            + [_handler(e.handler, technique), f"{e.cycles:,.0f}"],
            e.line == broken,
        )
        for i, e in enumerate(shown, start=1)
    ]
    header = [
        _("step"),
        _("line"),
        _("runs in"),
        _("instruction"),
        _("what happened"),
        _("handled by"),
        _("cycles"),
    ]
    parts.append(_table(header, rows))
    cycles = {"cycles": f"{so_far.cycles:,.0f}", "native": f"{native.cycles:,.0f}"}
    if so_far.traps == 1:
        so_far_said = _(
            "So far: the VMM stepped in once; {cycles} cycles (natively {native}).", **cycles
        )
    else:
        so_far_said = _(
            "So far: the VMM stepped in {count} times; {cycles} cycles (natively {native}).",
            count=so_far.traps,
            **cycles,
        )
    parts.append(f"<p>{so_far_said}</p>")
    parts.append(f"<p><b>{_('What the guest can see')}</b></p>")
    columns = ["", techniques.technique(technique).name(), techniques.technique("native").name()]
    parts.append(_table(columns, _state_rows(so_far.view, native.view)))
    if broken is not None and any(e.line == broken for e in shown):
        breaks = _(
            "✗ <b>The guest's view breaks at line {line}</b> (<code>{text}</code>): {reason}.",
            line=broken,
            text=html.escape(result.divergence.text),
            reason=html.escape(result.divergence.reason),
        )
        parts.append(f"<p style='{_BROKEN};padding:4px'>{breaks}</p>")
    elif step == count and count:
        equivalent = _(
            "✓ <b>Equivalent:</b> after every instruction the guest saw exactly what it sees "
            "natively."
        )
        parts.append(f"<p>{equivalent}</p>")
    return f"<div style='{_TEXT}'>{''.join(parts)}</div>", count


def trap_explorer(example: str = "cli-popf", technique: str = "trap-and-emulate") -> w.VBox:
    """Choose or edit a guest program and a technique, then step through it (Lesson 02)."""
    if example not in trap.EXAMPLES:
        raise not_one_of("example", example, trap.EXAMPLES)
    if technique not in trap.TECHNIQUES:
        raise not_one_of("technique", technique, trap.TECHNIQUES)
    examples = w.Dropdown(options=list(trap.EXAMPLES), value=example, description=_("Example"))
    menu = w.Dropdown(
        options=[(techniques.TECHNIQUES[t].name(), t) for t in trap.TECHNIQUES],
        value=technique,
        description=_("Technique"),
        layout=w.Layout(width="22em"),
    )
    text = w.Textarea(
        value=trap.EXAMPLES[example],
        rows=9,
        continuous_update=False,
        layout=w.Layout(width="34em"),
    )
    step = w.IntSlider(value=0, min=0, max=0, description=_("Step"))
    play = w.Play(value=0, min=0, max=0, interval=1500, description=_("Play"))
    w.jslink((play, "value"), (step, "value"))
    out = w.HTML()

    def update(_=None):
        page, count = step_view(text.value, menu.value, step.value)
        if step.max != count:
            step.max = play.max = count  # lowering max clamps the value, which updates again
        out.value = page

    def choose(_=None):
        text.value = trap.EXAMPLES[examples.value]
        step.value = 0

    examples.observe(choose, "value")
    for control in (text, menu, step):
        control.observe(update, "value")
    update()
    syntax = w.HTML(f"<p style='font-size:85%;max-width:28em;{_TEXT}'>{_syntax()}</p>")
    return w.VBox([w.HBox([examples, menu]), w.HBox([text, syntax]), w.HBox([play, step]), out])
