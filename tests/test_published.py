"""The one table of published numbers: every entry sourced, derived ones worked by hand, and no
published number typed again anywhere else in vizlib or in a lesson's code."""

import io
import tokenize

import nbformat
import pytest

from vizlib.course import ROOT
from vizlib.sim import published
from vizlib.sim.published import value

# Published numbers that are also ordinary sizes, counts and limits in code (a figure's height,
# a benchmark's repetitions): a literal equal to one of them is not taken for a retyped figure.
ORDINARY = {100, 200, 500, 1500, 0.45, 2.5}


def _scanned(number: published.Number) -> bool:
    """Published numbers worth looking for: measured or assumed, and not a small round count."""
    v = number.value
    return (
        number.kind in ("measured", "assumption")
        and (v >= 100 or v != int(v))
        and (v not in ORDINARY)
    )


def _literals(source: str):
    """(line, text, value) of each number literal of a piece of Python (strings do not count)."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NUMBER:
            yield token.start[0], token.string, float(eval(token.string))  # a literal only


def _code() -> dict[str, str]:
    """Every piece of code the course runs: vizlib's modules and the lessons' code cells."""
    code = {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "vizlib").rglob("*.py"))
        if path.name != "published.py"
    }
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code":
                lines = [
                    x for x in cell.source.splitlines() if not x.lstrip().startswith(("%", "!"))
                ]
                code[f"{path.relative_to(ROOT)} cell {i}"] = "\n".join(lines)
    return code


def test_no_published_number_is_typed_again():
    wanted = {}
    for number in published.table().values():
        if _scanned(number):
            wanted.setdefault(number.value, []).append(number.key)
    found = [
        f"{where}:{line}: {text} is {', '.join(wanted[v])}"
        for where, source in _code().items()
        for line, text, v in _literals(source)
        if v in wanted
    ]
    assert found == [], "read these from vizlib.sim.published instead:\n" + "\n".join(found)


def test_the_scan_would_find_a_retyped_constant():
    assert _scanned(published.number("bt.translate"))
    retyped = "TRANSLATE = 2300  # the translator, per instruction\n"
    assert [v for _, _, v in _literals(retyped)] == [2300]
    assert list(_literals('LABEL = "~2300 cycles"\n')) == []  # text is not code


def test_every_entry_has_a_kind_a_unit_and_a_source():
    table = published.table()
    assert len(table) > 100
    for key, number in table.items():
        assert number.key == key and number.unit and number.source
        assert number.kind in published.KINDS
        if number.kind in ("derived", "fitted"):
            assert number.source.startswith(number.kind), key
    assert {n.kind for n in table.values()} == set(published.KINDS)


def test_derived_entries_worked_by_hand():
    # Adams & Agesen: page-fault VM exit + VM entry + 10 VMCS reads.
    assert value("p4.vm-round-trip") == 1931 + 2409 + 10 * 178 == 6120
    assert value("core2.vm-round-trip") == 1186 + 937 + 10 * 52 == 2643
    # Sugerman et al.: 30.65 us of world switches and host work, of which 17.55 us is the real
    # transmit: the hosted architecture adds 13.10 us, about 41 % of a 31.63 us packet.
    assert value("nic.hosted-overhead") == pytest.approx(13.10)
    assert value("nic.hosted-overhead") / value("nic.packet") == pytest.approx(0.414, abs=1e-3)
    assert value("emulation.factor") == 8  # Bellard: ~4x, ~2x more for the soft MMU
    assert value("ept.walk-factor") == pytest.approx(4.25)  # midpoint of 3.9-4.6
    assert value("io-access.seconds") == pytest.approx(3209 / 3.8e9)


def test_fitted_forkwait_counts_worked_by_hand():
    # A native fork/wait on the P4: 6.0 s x 3.8 GHz / 40,000 = 570,000 cycles, less 3 system
    # calls (242), 10 page faults (1093), 97 PTE stores (1), 2 context switches (500) and 200
    # walks (40), at 2.5 cycles per instruction.
    rest = 570_000 - (3 * 242 + 10 * 1093 + 97 * 1 + 2 * 500 + 200 * 40)
    assert value("forkwait.instructions") == round(rest / 2.5) == 219_699
    # Paravirtualization, fitted to Barham et al.'s fork (110 -> 198 us): 0.8 x 570,000 cycles
    # less 10 faults and 2 switches at 889 and 97 updates at 889 / 32 + 100.
    xen = 0.8 * 570_000 - (10 * 889 + 2 * 889 + 97 * (889 / 32 + 100))
    assert value("p4.pv.address-space") == pytest.approx(xen)


def test_bad_keys_and_entries_are_refused():
    with pytest.raises(ValueError, match="key must be one of the table's keys"):
        value("p4.sycall.native")
    with pytest.raises(ValueError, match="already in the table"):
        published.add("p4.clock", 3.8e9, "Hz", "measured", "twice")
    with pytest.raises(ValueError, match="kind must be one of measured, derived"):
        published.add("p4.new", 1, "x", "guessed", "nowhere")
    with pytest.raises(ValueError, match="must be a finite number"):
        published.add("p4.nan", float("nan"), "x", "assumption", "nowhere")
