"""The one model of virtualization: techniques, guest events, and how each technique treats each.

Lesson 01 introduces it; every simulator, figure, table and widget of the course reads it. A
**technique** has one id, a name in English and in Chinese, the year it reached x86 and the
processors of the cost model that had it. An **event** is something a guest does (a system call,
`CLI`, an `OUT` to a device). A **treatment** says what happens to one event under one technique:
one of TREATMENT_KINDS (runs directly, traps to the VMM, is translated inline, becomes a callout,
a hypercall, a VM exit handled in the kernel or one handed to user space), what the handler does,
and the source. `path` turns a treatment into the steps lesson 01 draws.

Sources: Popek & Goldberg 1974; Robin & Irvine 2000; Adams & Agesen, ASPLOS 2006; Barham et al.,
SOSP 2003; Bellard, USENIX 2005; Intel SDM vol. 3C; Linux arch/x86/kvm; the PVM paper, SOSP 2023.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from vizlib.i18n import N_, Verbatim, _, check_language, language
from vizlib.sim import published
from vizlib.sim.errors import not_one_of

# Who acts, as one of the course's diagram layers (see vizlib.diagrams.paths).
GUEST_USER, GUEST_KERNEL, CPU = N_("guest user"), N_("guest kernel"), N_("hardware")
VMM, EMULATOR = N_("hypervisor"), N_("emulator")


@dataclass(frozen=True)
class Name:
    """A name in English and in Chinese. Lesson 01."""

    en: str
    zh: str

    def __call__(self, lang: str | None = None) -> Verbatim:
        """The name in `lang`, "en" or "zh"; by default in the course's language. Already in its
        language, it passes through `_()` (a table's header) as it is."""
        lang = language() if lang is None else check_language(lang)
        return Verbatim(self.en if lang == "en" else self.zh)


@dataclass(frozen=True)
class Processor:
    """A processor of the cost model: what it is, when it came out, what it had. Lesson 03."""

    id: str
    name: str
    year: int
    vt_x: bool
    ept: bool
    note: str

    @property
    def clock_hz(self) -> float:
        """Its clock, from the table of published numbers."""
        return published.value(f"{self.id}.clock")

    @property
    def description(self) -> str:
        """Name, clock, year and what it had, in one line, in the course's language."""
        clock = f"{self.clock_hz / 1e9:g}"
        return _(
            "{name}, {clock} GHz ({year}), {note}",
            name=self.name,
            clock=clock,
            year=self.year,
            note=_(self.note),
        )


PROCESSORS = MappingProxyType(
    {
        p.id: p
        for p in (
            Processor("p4", "Intel Pentium 4 672", 2006, vt_x=True, ept=False,
                      note=N_("first-generation VT-x")),
            Processor("core2", "Intel Core 2 Duo", 2006, vt_x=True, ept=False,
                      note=N_("VT-x with faster VM entry and exit")),
            Processor("modern", "Intel Xeon Platinum 8269CY", 2019, vt_x=True, ept=True,
                      note=N_("VT-x with EPT (the PVM paper's machine)")),
        )
    }
)  # fmt: skip
CPUS = tuple(map(Verbatim, PROCESSORS))  # ids, the same in every language (a table's header)


@dataclass(frozen=True)
class Technique:
    """One way to run a guest. Lesson 01.

    `year` is when it reached x86 PCs (`first` says with what); `processors` are the cost model's
    CPUs that had it; `guest_modified`, `needs_hardware` and `foreign_isa` are what it asks of
    the guest and the hardware and whether the guest's CPU may differ from the host's.
    """

    id: str
    name: Name
    year: int | None
    first: str
    processors: tuple[str, ...]
    guest_modified: bool
    needs_hardware: bool
    foreign_isa: bool
    kernel_runs_in: str
    examples: tuple[str, ...]

    def row(self) -> tuple[str, str, bool, bool, bool]:
        """Its name, what brought it to x86 and what it asks of the guest and the hardware, in
        the course's language: a row under FEATURE_COLUMNS. Lesson 01."""
        return (
            self.name(),
            _(self.first),
            self.guest_modified,
            self.needs_hardware,
            self.foreign_isa,
        )


FEATURE_COLUMNS = (
    N_("Technique"),
    N_("Since"),
    N_("Guest modified"),
    N_("Needs VT-x"),
    N_("Guest CPU may differ"),
)


TECHNIQUES = MappingProxyType(
    {
        t.id: t
        for t in (
            Technique(
                "native",
                Name("native (no VMM)", "原生（无虚拟化）"),
                None,
                N_("the real machine, the baseline every slowdown is measured against"),
                CPUS,
                guest_modified=False,
                needs_hardware=False,
                foreign_isa=False,
                kernel_runs_in=N_("ring 0, owning the real CPU"),
                examples=("bare metal",),
            ),
            Technique(
                "emulation",
                Name("hardware emulation", "硬件模拟"),
                1994,
                N_("Bochs (1994); QEMU (2003)"),
                CPUS,
                guest_modified=False,
                needs_hardware=False,
                foreign_isa=True,
                kernel_runs_in=N_("nowhere on the real CPU: the emulator runs it, in user space"),
                examples=("QEMU (TCG)", "Bochs", "PearPC"),
            ),
            Technique(
                "trap-and-emulate",
                Name("trap-and-emulate", "陷入再模拟"),
                1974,
                N_(
                    "Popek & Goldberg's classic VMM; on x86 before VT-x it cannot be made "
                    "equivalent"
                ),
                (),  # no x86 processor of the model runs a guest correctly by trapping alone
                guest_modified=False,
                needs_hardware=False,
                foreign_isa=False,
                kernel_runs_in=N_("ring 1, deprivileged; its privileged instructions trap"),
                examples=("IBM VM/370 (on its own hardware)",),
            ),
            Technique(
                "binary-translation",
                Name("binary translation", "二进制翻译"),
                1999,
                N_("VMware Workstation (1999): full virtualization without hardware help"),
                CPUS,
                guest_modified=False,
                needs_hardware=False,
                foreign_isa=False,
                kernel_runs_in=N_("ring 1, deprivileged; its code is translated before it runs"),
                examples=("VMware Workstation (1999)", "VirtualBox (software mode)"),
            ),
            Technique(
                "paravirtualization",
                Name("paravirtualization", "半虚拟化"),
                2003,
                N_("Xen (2003): a guest kernel modified and rebuilt to call the hypervisor"),
                CPUS,
                guest_modified=True,
                needs_hardware=False,
                foreign_isa=False,
                kernel_runs_in=N_("ring 1 (x86-32) or ring 3 (x86-64), calling the hypervisor"),
                examples=("Xen PV guests (2003)", "PVM guests (2023)"),
            ),
            Technique(
                "hardware-assisted",
                Name("hardware assist (shadow paging)", "硬件辅助虚拟化（影子页表）"),
                2005,
                N_("Intel VT-x (2005), AMD-V (2006): a guest mode, no help for memory"),
                CPUS,
                guest_modified=False,
                needs_hardware=True,
                foreign_isa=False,
                kernel_runs_in=N_("ring 0 of VMX non-root (guest) mode"),
                examples=("KVM (2007) on first-generation VT-x", "VMware's hardware VMM (2006)"),
            ),
            Technique(
                "hardware-assisted-ept",
                Name("hardware assist + EPT", "硬件辅助虚拟化 + EPT"),
                2008,
                N_("AMD's nested page tables (Barcelona, 2007), Intel's EPT (Nehalem, 2008)"),
                tuple(p.id for p in PROCESSORS.values() if p.ept),
                guest_modified=False,
                needs_hardware=True,
                foreign_isa=False,
                kernel_runs_in=N_("ring 0 of VMX non-root (guest) mode, owning its page tables"),
                examples=("KVM", "Xen HVM and PVH", "Hyper-V", "VMware ESXi (today)"),
            ),
        )
    }
)


def available(cpu: str) -> tuple[str, ...]:
    """The techniques `cpu` (one of CPUS) had, in TECHNIQUES order. Lesson 10."""
    _check("cpu", cpu, CPUS)
    return tuple(t.id for t in TECHNIQUES.values() if cpu in t.processors)


@dataclass(frozen=True)
class Event:
    """Something a guest does. Lesson 01.

    `instructions` are the x86 instructions that cause it (names of `isa.X86`), if any; `actor`
    is who causes it; `does` says what happens, as the first step of its path.
    """

    id: str
    name: Name
    actor: str
    does: str
    instructions: tuple[str, ...] = ()


EVENTS = MappingProxyType(
    {
        e.id: e
        for e in (
            Event("instruction", Name("an ordinary instruction", "普通指令"), GUEST_USER,
                  N_("adds two numbers (ADD)"), ("ADD", "MOV")),
            Event("system-call", Name("system call", "系统调用"), GUEST_USER,
                  N_("makes a system call (SYSCALL)"), ("SYSCALL",)),
            Event("page-fault", Name("page fault", "缺页"), GUEST_USER,
                  N_("touches a page its page table does not map yet")),
            Event("page-table-write", Name("page-table write", "页表写入"), GUEST_KERNEL,
                  N_("writes one of its page-table entries")),
            Event("interrupt-flag", Name("CLI / STI / POPF", "CLI / STI / POPF"), GUEST_KERNEL,
                  N_("masks interrupts (CLI)"), ("CLI", "STI", "PUSHF", "POPF")),
            Event("cpuid", Name("CPUID", "CPUID"), GUEST_KERNEL,
                  N_("asks which processor it runs on (CPUID)"), ("CPUID",)),
            Event("port-io", Name("port I/O", "端口 I/O"), GUEST_KERNEL,
                  N_("writes a device register (OUT)"), ("IN", "OUT")),
            Event("mmio", Name("MMIO", "MMIO（内存映射 I/O）"), GUEST_KERNEL,
                  N_("stores to a device's memory-mapped register")),
            Event("hlt", Name("HLT", "HLT"), GUEST_KERNEL,
                  N_("has nothing to do and halts (HLT)"), ("HLT",)),
            Event("context-switch", Name("context switch", "上下文切换"), GUEST_KERNEL,
                  N_("switches process: loads CR3"), ("MOV_CR3",)),
            Event("tlb-miss", Name("TLB miss", "TLB 未命中"), GUEST_USER,
                  N_("uses an address the TLB does not hold")),
            Event("interrupt", Name("interrupt", "中断"), CPU,
                  N_("a device interrupts while the guest runs")),
        )
    }
)  # fmt: skip
EVENT_OF_INSTRUCTION = MappingProxyType({i: e.id for e in EVENTS.values() for i in e.instructions})


@dataclass(frozen=True)
class TreatmentKind:
    """One way an event can be handled. Lesson 01.

    `leaves_guest`: control passes to software outside the guest (hypervisor or emulator).
    `step` is what the hardware or the hypervisor does between the guest and the handler.
    """

    id: str
    name: Name
    leaves_guest: bool
    step: tuple[tuple[str, str], ...] = ()


TREATMENT_KINDS = MappingProxyType(
    {
        k.id: k
        for k in (
            TreatmentKind("native", Name("native", "原生执行"), False),
            TreatmentKind("direct", Name("direct", "直接执行"), False),
            TreatmentKind("emulated", Name("emulated", "软件模拟"), True),
            TreatmentKind(
                "trap",
                Name("trap to the VMM", "陷入 VMM"),
                True,
                ((CPU, N_("traps to the VMM in ring 0")),),
            ),
            TreatmentKind("inline", Name("translated inline", "内联翻译"), False),
            TreatmentKind(
                "callout",
                Name("callout", "调出"),
                True,
                ((CPU, N_("the translated code calls out to the VMM")),),
            ),
            TreatmentKind(
                "hypercall",
                Name("hypercall", "超级调用"),
                True,
                ((GUEST_KERNEL, N_("makes a hypercall into the hypervisor")),),
            ),
            TreatmentKind(
                "exit-kernel",
                Name("VM exit, handled in the kernel", "虚拟机退出，由内核处理"),
                True,
                ((CPU, N_("VM exit: saves the guest state into the VMCS")),),
            ),
            TreatmentKind(
                "exit-user",
                Name("VM exit to user space", "虚拟机退出，交给用户空间"),
                True,
                (
                    (CPU, N_("VM exit: saves the guest state into the VMCS")),
                    (VMM, N_("kvm.ko sees the exit reason and returns from KVM_RUN to user space")),
                ),
            ),
        )
    }
)


@dataclass(frozen=True)
class Treatment:
    """How one technique treats one event. Lesson 01.

    `kind` is one of TREATMENT_KINDS, `how` what the handler does, `source` where it is said.
    `not_equivalent` names instructions of the event that run directly instead and so break
    equivalence (trap-and-emulate's POPF). `exit_reason` is the VT-x exit reason of a VM exit.
    """

    kind: str
    how: str
    source: str
    not_equivalent: tuple[str, ...] = ()
    exit_reason: str | None = None

    @property
    def handler(self) -> str:
        """Who performs `how`: the hardware, the hypervisor or the emulator."""
        return _HANDLERS[self.kind]

    @property
    def shown_how(self) -> str:
        """`how` in the course's language."""
        return _(self.how)


_HANDLERS = {
    "native": CPU,
    "direct": CPU,
    "emulated": EMULATOR,
    "trap": VMM,
    "inline": CPU,
    "callout": VMM,
    "hypercall": VMM,
    "exit-kernel": VMM,
    "exit-user": EMULATOR,
}

_AA, _XEN, _SDM = "Adams & Agesen, ASPLOS 2006", "Barham et al., SOSP 2003", "Intel SDM vol. 3C"
_BELLARD, _KVM = "Bellard, USENIX 2005", "Linux arch/x86/kvm (vmx.c, x86.c)"
_T = Treatment


def _native() -> dict[str, Treatment]:
    return {e: _T("native", N_("runs on bare metal, no VMM"), "the baseline") for e in EVENTS}


def _emulation() -> dict[str, Treatment]:
    how = {
        "instruction": N_("decodes the instruction and performs it on its model of the CPU"),
        "system-call": N_("switches its virtual CPU to the guest kernel's entry point"),
        "page-fault": N_(
            "its soft MMU finds no mapping and delivers the fault to the guest kernel"
        ),
        "page-table-write": N_("its soft MMU drops the cached translations of that page"),
        "interrupt-flag": N_("clears the interrupt flag of its virtual CPU"),
        "cpuid": N_("answers with the virtual CPU it emulates"),
        "port-io": N_("calls the device model that owns the port"),
        "mmio": N_("its soft MMU sends the store to the device model that owns the address"),
        "hlt": N_("stops running the virtual CPU until its device models raise an interrupt"),
        "context-switch": N_("points its soft MMU at the new page table"),
        "tlb-miss": N_("its soft MMU walks the guest's page table in software"),
        "interrupt": N_("a device model raises the virtual CPU's interrupt line"),
    }
    return {e: _T("emulated", text, _BELLARD) for e, text in how.items()}


def _trap_and_emulate() -> dict[str, Treatment]:
    pg = "Popek & Goldberg 1974; Robin & Irvine 2000"
    return {
        "instruction": _T("direct", N_("runs directly on the real CPU (innocuous)"), pg),
        "system-call": _T("trap", N_("reflects it into the guest kernel's handler"), pg),
        "page-fault": _T(
            "trap", N_("reflects it into the guest kernel, or fills in its shadow"), pg
        ),
        "page-table-write": _T(
            "trap",
            N_(
                "the page is write-protected: keeps its shadow page table in step (shadow "
                "paging), then resumes the guest"
            ),
            pg,
        ),
        "interrupt-flag": _T(
            "trap",
            N_(
                "emulates CLI and STI on the guest's virtual interrupt flag; POPF does not trap "
                "and silently keeps the old flag"
            ),
            pg,
            not_equivalent=("PUSHF", "POPF"),
        ),
        "cpuid": _T(
            "direct",
            N_(
                "CPUID is sensitive but does not trap: the guest reads the real processor's "
                "identity"
            ),
            pg,
            not_equivalent=("CPUID",),
        ),
        "port-io": _T("trap", N_("emulates the device register (IOPL 0 makes OUT trap)"), pg),
        "mmio": _T(
            "trap", N_("leaves the device page unmapped; the store faults; emulates it"), pg
        ),
        "hlt": _T("trap", N_("idles the virtual CPU until its next virtual interrupt"), pg),
        "context-switch": _T("trap", N_("switches to the shadow table of the new process"), pg),
        "tlb-miss": _T("direct", N_("the CPU walks the VMM's shadow page table, as natively"), pg),
        "interrupt": _T(
            "trap", N_("takes the interrupt and delivers a virtual one to the guest"), pg
        ),
    }


def _binary_translation() -> dict[str, Treatment]:
    return {
        "instruction": _T("direct", N_("user code runs directly on the real CPU"), _AA),
        "system-call": _T(
            "trap",
            N_("the SYSCALL lands in the VMM in ring 0, which enters the translated guest kernel"),
            _AA,
        ),
        "page-fault": _T(
            "trap", N_("reflects it into the guest kernel, or fills in its shadow"), _AA
        ),
        "page-table-write": _T(
            "callout",
            N_(
                "updates guest and shadow entries (the store faulted until adaptive binary "
                "translation made it a callout)"
            ),
            _AA,
        ),
        "interrupt-flag": _T(
            "inline",
            N_("the translated code sets or clears the virtual CPU's interrupt flag, no trap"),
            _AA,
        ),
        "cpuid": _T(
            "callout", N_("fills in the guest's registers with the virtual CPU's identity"), _AA
        ),
        "port-io": _T(
            "inline",
            N_(
                "the translated code emulates the port access in the translation cache (216 cycles "
                "for an `in`, against 1254 for a callout), calling the device model only if needed"
            ),
            _AA,
        ),
        "mmio": _T(
            "trap", N_("leaves the device page unmapped; the store faults; emulates it"), _AA
        ),
        "hlt": _T("callout", N_("idles the virtual CPU until its next virtual interrupt"), _AA),
        "context-switch": _T(
            "callout", N_("switches to the cached shadow table of the process"), _AA
        ),
        "tlb-miss": _T("direct", N_("the CPU walks the VMM's shadow page table, as natively"), _AA),
        "interrupt": _T(
            "trap", N_("takes the interrupt and delivers a virtual one to the guest"), _AA
        ),
    }


def _paravirtualization() -> dict[str, Treatment]:
    ring = "Xen's split drivers (Barham et al., SOSP 2003; Xen's public io/ring.h)"
    return {
        "instruction": _T("direct", N_("runs directly on the real CPU"), _XEN),
        "system-call": _T(
            "direct",
            N_(
                "the CPU enters the guest kernel's handler through the fast trap it registered "
                "with Xen, without entering Xen (32-bit x86; a 64-bit PV kernel runs in ring 3 "
                "and its system calls pass through Xen)"
            ),
            _XEN,
        ),
        "page-fault": _T(
            "trap",
            N_("Xen takes the fault (only ring 0 may read CR2) and bounces it to the guest kernel"),
            _XEN,
        ),
        "page-table-write": _T(
            "hypercall",
            N_("the kernel queues its updates; Xen validates a batch of them in one mmu_update"),
            _XEN,
        ),
        "interrupt-flag": _T(
            "direct",
            N_(
                "the modified kernel sets its event mask in memory shared with Xen: a store, no "
                "trap"
            ),
            _XEN,
        ),
        "cpuid": _T(
            "trap",
            N_(
                "the kernel marks CPUID with Xen's forced-emulation prefix; it faults and Xen "
                "answers"
            ),
            "Xen's public arch-x86/xen.h (XEN_CPUID)",
        ),
        "port-io": _T(
            "hypercall",
            N_(
                "no device registers: the frontend driver queues a request on a ring shared with "
                "Dom0's backend and notifies it through an event channel"
            ),
            ring,
        ),
        "mmio": _T(
            "hypercall",
            N_(
                "no device registers: the frontend driver queues a request on a shared ring and "
                "notifies Dom0's backend through an event channel"
            ),
            ring,
        ),
        "hlt": _T("hypercall", N_("the kernel blocks in Xen with sched_op until an event"), _XEN),
        "context-switch": _T(
            "hypercall", N_("the kernel asks Xen with mmuext_op (new base)"), _XEN
        ),
        "tlb-miss": _T(
            "direct", N_("the CPU walks the guest's own page table, which Xen validated"), _XEN
        ),
        "interrupt": _T(
            "trap",
            N_("Xen takes the interrupt and sends the guest an event, delivered as an upcall"),
            _XEN,
        ),
    }


def _hardware_assisted(ept: bool) -> dict[str, Treatment]:
    kvm = f"{_SDM}; {_KVM}"
    shadow = {
        "page-fault": _T(
            "exit-kernel",
            N_(
                "KVM intercepts every page fault under shadow paging: fills in its shadow entry "
                "or reflects the fault into the guest"
            ),
            kvm,
            exit_reason="EXCEPTION_NMI",
        ),
        "page-table-write": _T(
            "exit-kernel",
            N_(
                "the guest's page table is write-protected: KVM keeps its shadow page table in "
                "step (shadow paging), then resumes the guest"
            ),
            kvm,
            exit_reason="EXCEPTION_NMI",
        ),
        "context-switch": _T(
            "exit-kernel",
            N_("KVM intercepts the CR3 load and points the CPU at the shadow table"),
            kvm,
            exit_reason="CR_ACCESS",
        ),
        "tlb-miss": _T("direct", N_("the CPU walks KVM's shadow page table, as natively"), kvm),
        "mmio": _T(
            "exit-user",
            N_("QEMU's device model performs the store (KVM found no memory behind the address)"),
            kvm,
            exit_reason="EXCEPTION_NMI",
        ),
    }
    nested = {
        "page-fault": _T(
            "direct", N_("the CPU delivers the guest's page fault to the guest kernel"), kvm
        ),
        "page-table-write": _T("direct", N_("a plain store: the guest owns its page tables"), kvm),
        "context-switch": _T("direct", N_("the guest loads its own CR3, no exit"), kvm),
        "tlb-miss": _T(
            "direct", N_("the CPU walks the guest's tables and the EPT: two dimensions"), kvm
        ),
        "mmio": _T(
            "exit-user",
            N_("QEMU's device model performs the store (the EPT maps no memory there)"),
            kvm,
            exit_reason="EPT_VIOLATION",
        ),
    }
    return {
        "instruction": _T("direct", N_("runs directly in non-root mode"), kvm),
        "system-call": _T(
            "direct",
            N_("the CPU enters the guest kernel inside guest mode, no exit"),
            f"{_AA}; {kvm}",
        ),
        "interrupt-flag": _T(
            "direct", N_("the CPU changes the guest's own interrupt flag in guest mode"), kvm
        ),
        "cpuid": _T(
            "exit-kernel", N_("KVM fills in the guest's registers (CPUID always exits)"), kvm,
            exit_reason="CPUID",
        ),
        "port-io": _T(
            "exit-user",
            N_("QEMU's device model emulates the register, then KVM_RUN resumes the guest"),
            kvm,
            exit_reason="IO_INSTRUCTION",
        ),
        "hlt": _T(
            "exit-kernel",
            N_("KVM blocks the vCPU thread until an interrupt is due (a VMM without an in-kernel "
            "interrupt controller, like lesson 07's, gets KVM_EXIT_HLT in user space instead)"),
            kvm,
            exit_reason="HLT",
        ),
        "interrupt": _T(
            "exit-kernel",
            N_("the host kernel handles its device's interrupt, then KVM resumes the guest"),
            kvm,
            exit_reason="EXTERNAL_INTERRUPT",
        ),
        **(nested if ept else shadow),
    }  # fmt: skip


TREATMENTS = MappingProxyType(
    {
        (technique, event): treatment
        for technique, table in (
            ("native", _native()),
            ("emulation", _emulation()),
            ("trap-and-emulate", _trap_and_emulate()),
            ("binary-translation", _binary_translation()),
            ("paravirtualization", _paravirtualization()),
            ("hardware-assisted", _hardware_assisted(ept=False)),
            ("hardware-assisted-ept", _hardware_assisted(ept=True)),
        )
        for event, treatment in table.items()
    }
)
# A 64-bit PV kernel runs in ring 3 beside its applications (x86-64 has no segment limits to keep
# a ring-1 kernel safe), so its system calls pass through Xen: the modern processor's treatment.
_PV64_SYSCALL = _T(
    "trap",
    N_(
        "the kernel runs in ring 3 on x86-64: the SYSCALL enters Xen, which switches to the guest "
        "kernel's page tables and bounces the call to its handler"
    ),
    "Xen 3.0 Interface Guide (x86-64 PV guests)",
)
# A Linux kernel with page-table isolation (KPTI, its Meltdown defence since 2018) loads CR3 on
# every kernel entry and exit; under shadow paging each load is a VM exit.
_KPTI_SYSCALL = _T(
    "exit-kernel",
    N_(
        "the guest kernel (with KPTI) loads CR3 on entry and on exit: KVM intercepts both loads "
        "under shadow paging"
    ),
    "PVM paper (SOSP 2023): getpid 0.22 us under kvm-ept, 2.09 us under kvm-spt",
    exit_reason="CR_ACCESS",
)
VARIANTS = MappingProxyType(
    {
        ("paravirtualization", "system-call", "modern"): _PV64_SYSCALL,
        ("hardware-assisted", "system-call", "modern"): _KPTI_SYSCALL,
    }
)


def _check(parameter: str, value, allowed) -> str:
    if value not in allowed:
        raise not_one_of(parameter, value, allowed)
    return value


def technique(technique_id: str) -> Technique:
    """The technique `technique_id` (one of TECHNIQUES). Lesson 01."""
    return TECHNIQUES[_check("technique", technique_id, TECHNIQUES)]


def name(technique_id: str, lang: str | None = None) -> Verbatim:
    """The name of the technique `technique_id`, in `lang` (by default the course's language):
    for a table's header or a row that would otherwise show the id. Lesson 01."""
    return technique(technique_id).name(lang)


def names(technique_ids) -> str:
    """The names of techniques as one list, in the course's language. Lesson 10."""
    return _(", ").join(map(name, technique_ids))


def treatment(technique_id: str, event: str, cpu: str | None = None) -> Treatment:
    """How `technique_id` treats `event`, on `cpu` when the processor matters. Lesson 01.

    `cpu` None means the technique as first built (32-bit x86 for paravirtualization).
    """
    _check("technique", technique_id, TECHNIQUES)
    _check("event", event, EVENTS)
    if cpu is not None:
        _check("cpu", cpu, CPUS)
    return VARIANTS.get((technique_id, event, cpu), TREATMENTS[(technique_id, event)])


def leaves_guest(technique_id: str, event: str, cpu: str | None = None) -> bool:
    """True when handling `event` passes control to the hypervisor or an emulator. Lesson 01."""
    return TREATMENT_KINDS[treatment(technique_id, event, cpu).kind].leaves_guest


@dataclass(frozen=True)
class PathStep:
    """One hop of an event's path: who acts (a layer, one of the actors above) and what it does,
    in the course's language. Lesson 01."""

    actor: str
    action: str

    @property
    def who(self) -> str:
        """The actor in the course's language."""
        return _(self.actor)


def path(technique_id: str, event: str, cpu: str | None = None) -> tuple[PathStep, ...]:
    """The steps an `event` takes under a technique, first to last, from its treatment.

    Lesson 01: the guest's action, what the hardware or the hypervisor does in between (the
    treatment kind's steps), and the handler's work, said in the course's language.
    """
    chosen = treatment(technique_id, event, cpu)
    e = EVENTS[event]
    kind = TREATMENT_KINDS[chosen.kind]
    does = _(e.does)
    if chosen.kind == "inline":
        does = _("{does}, rewritten by the binary translator", does=does)
    steps = [PathStep(e.actor, does), *(PathStep(a, _(text)) for a, text in kind.step)]
    steps.append(PathStep(chosen.handler, chosen.shown_how))
    return tuple(steps)


def table(
    technique_ids: tuple[str, ...] | None = None, lang: str | None = None, cpu: str | None = None
) -> tuple[list[str], list[tuple[str, ...]]]:
    """Header and rows for `vizlib.tables.show_table`: how each technique treats each event, in
    `lang` (by default the course's language), one row per event. Lesson 01."""
    chosen = tuple(TECHNIQUES) if technique_ids is None else technique_ids
    for technique_id in chosen:
        _check("technique", technique_id, TECHNIQUES)
    header = [Name("Event", "事件")(lang), *(TECHNIQUES[t].name(lang) for t in chosen)]
    rows = [
        (e.name(lang), *(TREATMENT_KINDS[treatment(t, e.id, cpu).kind].name(lang) for t in chosen))
        for e in EVENTS.values()
    ]
    return header, rows
