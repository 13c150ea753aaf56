"""Every module that describes a (technique, event) says what the one model says.

The model is `vizlib.sim.techniques`: how each technique treats each guest event. Each check below
lists the places where another module contradicts it: the trap simulator (lesson 02), the binary
translator (03), the cost model's breakdown (03-05, 10), the exit tables (05, 10), the figures in
English and Chinese, the glossary and lesson 10's workload builder. The `*_mutation` tests put back,
one at a time, the contradictions learners found in the course, and show that a check catches each.
"""

import re

import pytest

from vizlib import course, diagrams, system
from vizlib.diagrams.style import term
from vizlib.sim import bt, costmodel, isa, nested, techniques, trap, vmexit
from vizlib.sim.techniques import EVENT_OF_INSTRUCTION, EVENTS, TREATMENT_KINDS
from vizlib.widgets import choosing

OPERAND_EXAMPLES = {"IN": "port=0x3fd", "OUT": "port=0x3f8 value=72", "POPF": "if=1"}
OPERAND_EXAMPLES |= {"MOV_CR3": "value=0x200000"}


# --- the checks -----------------------------------------------------------------------------------


def trap_simulator_contradictions() -> list[str]:
    """Lesson 02's simulator against the model: how each event's instruction is handled, whether
    the guest stays equivalent, and what an inline translation costs."""
    found = []
    for technique in trap.TECHNIQUES:
        for instruction, event in EVENT_OF_INSTRUCTION.items():
            ring = "user" if event in ("instruction", "system-call") else "kernel"
            line = f"{ring}: {instruction} {OPERAND_EXAMPLES.get(instruction, '')}"
            result = trap.run(f"kernel: CLI\n{line}", technique)
            got = result.events[-1]
            want = techniques.treatment(technique, event)
            kind = "native" if technique == "native" else want.kind
            if instruction in want.not_equivalent:
                kind = "direct"
                if result.correct:
                    found.append(f"{technique} {instruction}: equivalent, the model says not")
            elif not result.correct:
                found.append(f"{technique} {instruction}: not equivalent, the model says it is")
            if got.handler != kind:
                found.append(f"{technique} {instruction}: simulator {got.handler}, model {kind}")
            if got.handler == "inline":
                unit = bt.translate(bt.parse(f"{BT_LISTING[instruction]}\nRET"), bt.BASE_ADDRESS)
                cost = bt.TRANSLATE + unit.instructions[0].cycles
                if got.cycles != cost:
                    found.append(
                        f"{technique} {instruction}: {got.cycles} cycles, translator {cost}"
                    )
    return found


# The event instructions the translator's routines can hold, as a listing writes them.
BT_LISTING = {
    "ADD": "ADD eax, ebx",
    "MOV": "MOV eax, ebx",
    **{name: name for name in ("CLI", "STI", "PUSHF", "POPF", "CPUID", "HLT")},
    "IN": "IN al, dx",
    "OUT": "OUT dx, al",
    "MOV_CR3": "MOV cr3, eax",
}


def translator_contradictions() -> list[str]:
    """Lesson 03's translator against the model's binary-translation treatments."""
    found = []
    method = {"inline": "INLINE", "callout": "CALLOUT", "direct": "IDENT"}
    for instruction, text in BT_LISTING.items():
        event = EVENT_OF_INSTRUCTION[instruction]
        unit = bt.translate(bt.parse(f"{text}\nRET"), bt.BASE_ADDRESS)
        want = method.get(techniques.treatment("binary-translation", event).kind)
        if unit.instructions[0].method != want:
            found.append(f"{instruction}: translator {unit.instructions[0].method}, model {want}")
    store = bt.parse("MOV [pte], eax\nRET")
    adapted = bt.translate(store, store.entry, adapted=[store.entry]).instructions[0].method
    want = method.get(techniques.treatment("binary-translation", "page-table-write").kind)
    if adapted != want:
        found.append(f"adapted page-table store: translator {adapted}, model {want}")
    return found


def cost_model_contradictions() -> list[str]:
    """The cost model's breakdown against the model: an event the model handles directly costs
    nothing extra; one that enters the VMM costs something, in the cause of its treatment."""
    found = []
    for technique in costmodel.TECHNIQUES:
        for cpu in costmodel.CPUS:
            for field, event in costmodel.EVENT_OF_FIELD.items():
                if field in ("instructions", "hidden_page_faults"):
                    continue
                one = costmodel.Workload("one event", instructions=1, **{field: 1})
                extra = {
                    k: v
                    for k, v in costmodel.predict(one, technique, cpu).breakdown.items()
                    if v and k not in ("guest work", "device emulation")
                }
                kind = techniques.treatment(technique, event, cpu).kind
                if kind in ("native", "direct"):
                    allowed = {"page walks"} if field == "tlb_misses" else set()
                else:
                    allowed = {costmodel.CAUSE_OF_KIND[kind]}
                if not extra and kind not in ("native", "direct"):
                    found.append(f"{technique} {field} on {cpu}: free, the model says {kind}")
                elif set(extra) - allowed:
                    found.append(f"{technique} {field} on {cpu}: {sorted(extra)}, model {kind}")
    return found


def exit_table_contradictions() -> list[str]:
    """Lesson 05's exit tables, lesson 02's list of VT-x exits and lesson 10's nested steps."""
    found = []
    for paging, technique in (("ept", "hardware-assisted-ept"), ("shadow", "hardware-assisted")):
        for event in EVENTS.values():
            want = techniques.treatment(technique, event.id)
            exits = want.kind.startswith("exit")
            reason = vmexit.exit_reason(event.does, paging)
            if reason != (want.exit_reason if exits else None):
                found.append(f"{event.id} ({paging}): table {reason}, model {want.exit_reason}")
    port = techniques.treatment("hardware-assisted-ept", "port-io")
    in_user_space = port.kind == "exit-user"
    if ("user space" in vmexit.EXIT_REASONS["IO_INSTRUCTION"].cause) != in_user_space:
        found.append("IO_INSTRUCTION's cause disagrees on where port I/O is handled")
    if ("user space" in nested.trace("PIO", "kvm").steps[1].action) != in_user_space:
        found.append("the nested PIO round trip disagrees on where port I/O is handled")
    for instruction, event in EVENT_OF_INSTRUCTION.items():
        want = techniques.treatment("hardware-assisted", event)
        listed = trap.vt_x_exits().get(instruction, "")
        if want.kind.startswith("exit") != bool(listed) or (
            listed and want.exit_reason not in listed
        ):
            found.append(f"vt_x_exits() {instruction}: {listed!r}, model {want.exit_reason}")
    return found


def _clusters_of(source: str) -> dict[str, list[str]]:
    """Each node of a DOT source with the clusters it is drawn inside, outermost first."""
    stack, where = [], {}
    for line in source.splitlines():
        opened = re.match(r"\s*subgraph (cluster_\w+) \{", line)
        if opened:
            stack.append(opened.group(1))
        elif line.strip() == "}" and stack:
            stack.pop()
        else:
            node = re.match(r"\s*(\w+) \[label=", line)
            if node:
                where[node.group(1)] = list(stack)
    return where


def figure_contradictions() -> list[str]:
    """The figures' words for traps, hypercalls, VM exits and entries are the glossary's, in
    English and Chinese; who handles a guest's OUT and where the guest runs follow the model."""
    found = []
    labelled = {
        "full_virtualization": ("trap",),
        "paravirtualization": ("hypercall",),
        "xen_architecture": ("hypercall", "VM exit"),
        "kvm_qemu_relationship": ("VM exit", "VM entry"),
        "vmx_modes": ("VM exit", "VM entry"),
        "guest_types": ("hypercall", "VM exit"),
        "binary_translation": ("callout",),
    }
    for name, words in labelled.items():
        for lang in diagrams.LANGS:
            source = diagrams.ALL_FIGURES[name](lang).source
            for word in words:
                if f" {term(word, lang)} " not in source:
                    found.append(f"{name} ({lang}) lacks the glossary's {word!r}")
            if lang == "zh" and re.search(r'label=" (VM exit|VM entry|trap|hypercall)s? "', source):
                found.append(f"{name} (zh) keeps an English label")
    port = techniques.treatment("hardware-assisted-ept", "port-io")
    for lang in diagrams.LANGS:
        source = diagrams.vm_exit_path(lang).source
        if TREATMENT_KINDS[port.kind].name(lang) not in source:
            found.append(f"vm_exit_path ({lang}) does not say {port.kind}")
        if ("QEMU" in source) != (port.kind == "exit-user"):
            found.append(f"vm_exit_path ({lang}): who emulates the OUT disagrees with the model")
    where = _clusters_of(diagrams.kvm_architecture().source)
    for node in ("os1", "os2", "app1", "app2"):
        if "cluster_user" in where[node]:
            found.append(f"kvm_architecture draws {node} in host user space")
    type2 = diagrams.hypervisor_types().source
    for emulator in techniques.TECHNIQUES["emulation"].examples:
        if emulator in type2:
            found.append(f"hypervisor_types gives the emulator {emulator} as a type-2 hypervisor")
    return found


def vocabulary_contradictions() -> list[str]:
    """One name per concept: the model's Chinese names use the glossary's words, and every other
    module names techniques by the model's ids."""
    found = []
    words = {
        "binary-translation": "binary translation",
        "paravirtualization": "paravirtualization",
        "emulation": "hardware emulation",
        "trap-and-emulate": "trap-and-emulate",
        "hardware-assisted": "hardware-assisted virtualization",
        "hardware-assisted-ept": "hardware-assisted virtualization",
    }
    for technique, word in words.items():
        if course.term(word).zh not in techniques.TECHNIQUES[technique].name.zh:
            found.append(f"technique {technique}: {techniques.TECHNIQUES[technique].name.zh}")
    kinds = {"trap": "trap", "callout": "callout", "hypercall": "hypercall"}
    kinds |= {"exit-kernel": "VM exit", "exit-user": "VM exit"}
    for kind, word in kinds.items():
        if course.term(word).zh not in TREATMENT_KINDS[kind].name.zh:
            found.append(f"treatment {kind}: {TREATMENT_KINDS[kind].name.zh}")
    for where, ids in (
        ("trap", trap.TECHNIQUES),
        ("costmodel", costmodel.TECHNIQUES),
        ("system", system.TECHNIQUES),
    ):
        if set(ids) - set(techniques.TECHNIQUES):
            found.append(f"{where} names techniques the model does not know: {ids}")
    return found


def workload_builder_contradictions() -> list[str]:
    """Lesson 10's builder offers what each processor had and names every technique of a tie."""
    found = []
    zero = choosing.build_workload(dict.fromkeys(choosing.EVENTS, 0))
    for cpu in costmodel.CPUS:
        _, page = choosing.workload_view(cpu, dict.fromkeys(choosing.EVENTS, 0))
        p = techniques.PROCESSORS[cpu]
        offered = [
            t
            for t in costmodel.TECHNIQUES[1:]
            if not techniques.TECHNIQUES[t].needs_hardware
            or (p.vt_x and (t != "hardware-assisted-ept" or p.ept))
        ]
        for t in costmodel.TECHNIQUES[1:]:
            shown = f"<td>{techniques.TECHNIQUES[t].name.en}</td>" in page
            if shown != (t in offered):
                found.append(f"{cpu}: {t} {'offered' if shown else 'missing'}")
        slowdowns = [costmodel.predict(zero, t, cpu).slowdown for t in offered]
        if slowdowns.count(min(slowdowns)) > 1 and "tie" not in page.lower():
            found.append(f"{cpu}: an all-zero workload is not called a tie")
    return found


CHECKS = (
    trap_simulator_contradictions,
    translator_contradictions,
    cost_model_contradictions,
    exit_table_contradictions,
    figure_contradictions,
    vocabulary_contradictions,
    workload_builder_contradictions,
)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_every_module_says_what_the_model_says(check):
    assert check() == []


def test_theorem_1_violations_break_equivalence_under_trap_and_emulate():
    violations = isa.popek_goldberg(isa.X86).violations
    assert "CPUID" in violations
    for instruction in ("CPUID", "SGDT", "SIDT", "SMSW", "STR"):
        assert instruction in violations
        assert not trap.run(f"kernel: {instruction}", "trap-and-emulate").correct, instruction


# --- the contradictions learners found, put back one at a time ------------------------------------


def _route_as(kind_for):
    """A stand-in for trap._kind that changes one answer, as the course's old code did."""
    original = trap._kind

    def patched(step, technique):
        changed = kind_for(step, technique)
        return changed or original(step, technique)

    return patched


def test_cli_as_a_3554_cycle_callout_mutation(monkeypatch):
    # Lesson 02 once made CLI/STI/PUSHF/POPF callouts under binary translation (2300 + 1254).
    def old(step, technique):
        if technique == "binary-translation" and step.mnemonic in ("CLI", "STI", "PUSHF", "POPF"):
            return "callout", "translated to a callout"
        return None

    monkeypatch.setattr(trap, "_kind", _route_as(old))
    assert any("CLI: simulator callout, model inline" in c for c in trap_simulator_contradictions())


def test_inline_costing_a_callout_mutation(monkeypatch):
    monkeypatch.setattr(trap, "BT_INLINE", trap.BT_CALLOUT)
    assert any("cycles, translator" in c for c in trap_simulator_contradictions())


def test_pv_system_call_leaving_the_guest_mutation(monkeypatch):
    # Lesson 01's grid once said a paravirtualized system call leaves the guest.
    treatments = dict(techniques.TREATMENTS)
    treatments["paravirtualization", "system-call"] = techniques.Treatment("trap", "bounce", "x")
    monkeypatch.setattr(techniques, "TREATMENTS", treatments)
    # The trap simulator reads the model; the cost model, which prices the call, disagrees.
    found = cost_model_contradictions()
    assert any("paravirtualization syscalls on p4: free" in c for c in found)


def _redraw(monkeypatch, figure: str, old: str, new: str) -> None:
    """Make `diagrams.<figure>` draw `new` where it draws `old`, as an older version did."""
    original = getattr(diagrams, figure)

    def patched(lang="en"):
        g = original(lang)
        g.body = [line.replace(old, new) for line in g.body]
        g.comment = g.comment.replace(old, new)
        return g

    monkeypatch.setattr(diagrams, figure, patched)


def test_kvm_emulating_out_itself_mutation(monkeypatch):
    # Lesson 05's figure once said "KVM reads the reason, emulates OUT".
    _redraw(monkeypatch, "vm_exit_path", "QEMU", "KVM")
    assert any("who emulates the OUT" in c for c in figure_contradictions())


def test_cpuid_equivalent_under_trap_and_emulate_mutation(monkeypatch):
    # The simulator once ran CPUID directly without anything to read: "Equivalent".
    monkeypatch.delitem(trap._READS, "CPUID")
    found = trap_simulator_contradictions()
    assert any("trap-and-emulate CPUID: equivalent, the model says not" in c for c in found)


def test_guest_os_in_host_user_space_mutation(monkeypatch):
    _redraw(monkeypatch, "kvm_architecture", "subgraph cluster_guests {", "subgraph cluster_user {")
    assert any("in host user space" in c for c in figure_contradictions())


def test_qemu_tcg_as_a_type_2_hypervisor_mutation(monkeypatch):
    _redraw(monkeypatch, "hypervisor_types", "VMware Workstation", "QEMU (TCG)")
    assert any("QEMU (TCG)" in c for c in figure_contradictions())


def test_ept_offered_on_the_pentium_4_mutation(monkeypatch):
    # Lesson 10's builder once offered (and crowned) EPT on the Pentium 4.
    monkeypatch.setattr(techniques, "available", lambda cpu: costmodel.TECHNIQUES)
    monkeypatch.setattr(choosing, "_bars", choosing._bars.__wrapped__)
    assert any("p4: hardware-assisted-ept offered" in c for c in workload_builder_contradictions())


def test_ties_broken_arbitrarily_mutation(monkeypatch):
    monkeypatch.setattr(costmodel, "fastest", lambda workload, cpu, **_: ("binary-translation",))
    assert any("not called a tie" in c for c in workload_builder_contradictions())


def test_english_vm_exit_in_a_chinese_figure_mutation(monkeypatch):
    real = course.term

    def old(name, *args):
        entry = real(name, *args)
        return entry.__class__(entry.term, entry.term, entry.definition, entry.lesson)

    monkeypatch.setattr(course, "term", old)
    assert any("keeps an English label" in c for c in figure_contradictions())


def test_a_third_technique_vocabulary_mutation(monkeypatch):
    monkeypatch.setattr(system, "TECHNIQUES", ("hardware-assisted KVM", "emulation"))
    assert any("system names techniques" in c for c in vocabulary_contradictions())
