"""What the lessons' code cells show comes from the models in the course's language: tables,
sentences and names, with no message missing from the catalogue and the keys still English."""

import pytest

from vizlib import i18n
from vizlib.i18n import use
from vizlib.machine import experiments, linux, recordings
from vizlib.sim import (
    bt,
    costmodel,
    hypervisors,
    isa,
    nested,
    paging,
    paging_costs,
    techniques,
    trap,
    vmexit,
    xen_guests,
    xenring,
)
from vizlib.system import HostReport, can_run_rows, clock_sources
from vizlib.tables import markdown_table


def _everything() -> list[str]:
    """Every table and sentence the lessons' cells take from the models, as shown."""
    run = bt.run(bt.parse(bt.EXAMPLES["map-pages"]), iterations=4)
    timeline = vmexit.simulate("linux guest", "modern", exits=40, mean_run_us=10, seed=0)
    stored = recordings.everywhere(None, linux.STORED_LOG, "no QEMU here")
    tables = [
        (techniques.FEATURE_COLUMNS, [t.row() for t in techniques.TECHNIQUES.values()]),
        (costmodel.CALIBRATION_COLUMNS, [c.row() for c in costmodel.calibration()]),
        (xen_guests.RUNNING_COLUMNS, [g.running_row() for g in xen_guests.GUEST_TYPES]),
        (["What", "Cycles", "Source"], trap.cost_rows()),
        (["", *hypervisors.HYPERVISORS], hypervisors.comparison_rows()),
        (["Workload", *costmodel.CPUS], []),
        ([techniques.name(t) for t in techniques.TECHNIQUES], []),
        linux.timing_rows(stored),
        linux.facts_rows(stored),
    ]
    shown = [markdown_table(*table) for table in tables]
    shown += [isa.kind(e) + e.shown_note for e in isa.X86.values()]
    shown += [isa.robin_irvine(), run.summary, timeline.summary, str(run.breakdown_rows())]
    shown += [
        str(trap.vt_x_exits()),
        str(vmexit.guest_event_rows()),
        str(xen_guests.example_rows()),
    ]
    shown += [str(xen_guests.xen_and_kvm_rows()), str([c.row() for c in hypervisors.CLAIMS])]
    shown += [r.shown_cause for r in vmexit.EXIT_REASONS.values()]
    shown += [str(paging.example().outcomes(mode)) for mode in paging.MODES]
    shown += [r.shown_winner for r in paging_costs.workload_rates()]
    shown += [nested.setup_name(s) for s in (*nested.SETUPS, None)]
    shown += [nested.event_name(e) for e in nested.EVENTS]
    shown += [str(p.row()) for p in nested.PAGING_SCHEMES]
    shown += [s.who + s.where for s in xenring.one_request()]
    shown += [step.who for step in techniques.path("binary-translation", "interrupt-flag")]
    shown += [techniques.treatment("hardware-assisted-ept", "interrupt").shown_how]
    shown += [techniques.names(("binary-translation", "paravirtualization"))]
    shown += [str(can_run_rows(HostReport(kvm_device="usable"))), clock_sources("/nonexistent")]
    return shown


def test_the_models_show_the_lessons_text_with_no_message_missing_in_chinese():
    before = set(i18n.missing())
    with use("zh"):
        chinese = _everything()
    assert [m for lang, m in set(i18n.missing()) - before if lang == "zh"] == []
    assert chinese != _everything()


@pytest.mark.parametrize(
    ("show", "english", "chinese"),
    [
        (lambda: isa.kind(isa.X86["POPF"]), "**sensitive, not privileged**", "**敏感，但非特权**"),
        (
            lambda: trap.vt_x_exits()["HLT"],
            "HLT (VM exit, handled in the kernel)",
            "HLT（虚拟机退出，由内核处理）",
        ),
        (lambda: nested.setup_name(None), "no KVM, or cannot tell", "没有 KVM，或无法判断"),
        (
            lambda: xen_guests.example_rows()[-1],
            ("Windows, no QEMU allowed", "none"),
            ("Windows，不允许使用 QEMU", "无"),
        ),
        (
            lambda: techniques.names(("native", "emulation")),
            "native (no VMM), hardware emulation",
            "原生（无虚拟化）、硬件模拟",
        ),
        (
            lambda: (
                vmexit.simulate("linux guest", "modern", exits=40, mean_run_us=10, seed=0).summary
            ),
            "5.3% of 434 µs in root mode",
            "434 µs 中有 5.3% 处于根模式",
        ),
        (
            lambda: markdown_table(*experiments.runs_table({})).splitlines()[2:],
            ["| printed on COM1 |", "| on the display |", "| exits |", "| µs |"],
            ["| COM1 上的输出 |", "| 显示屏上的内容 |", "| 退出次数 |", "| µs |"],
        ),
    ],
)
def test_sentences_worked_by_hand(show, english, chinese):
    assert show() == english
    with use("zh"):
        assert show() == chinese


def test_the_keys_stay_english_in_chinese():
    with use("zh"):
        assert vmexit.HANDLED_WITH_EPT["writes a device register (OUT)"] == "exit-user"
        assert paging_costs.compare(tlb_misses=1000, pte_updates=20).winner == "shadow paging"
        assert set(paging.example().outcomes("native")) == {
            "已映射",
            "宿主机没有为它分配内存",
            "客户机没有映射",
        }
        assert nested.OPERATIONS[-1] == "PIO" and costmodel.CPUS == ("p4", "core2", "modern")
