"""What one event costs on each CPU: the cost model's constants (`costmodel`). Lesson 03.

Lessons 03, 04, 05 and 10 read these numbers through `vizlib.sim.costmodel`. Every number comes
from the table of published numbers (`vizlib.sim.published`): measured, derived from measured
ones, assumed, or fitted here. The fits are entered in that table too, with their sources.

The Pentium 4 column is Adams & Agesen's nanobenchmarks (ASPLOS 2006). They published no
nanobenchmarks for the Core 2, only its VM entry/exit latencies and forkwait times, so the Core 2
column is the Pentium 4 column scaled, one factor per family of costs (native work, software VMM,
hardware VMM), each fitted to forkwait. The modern column converts the PVM paper's microseconds
(SOSP 2023, Xeon Platinum 8269CY) to cycles. Paravirtualization's costs are assumptions, checked
against Barham et al.'s lmbench figures (SOSP 2003) in `costmodel.calibration`, except what Xen
adds when a process is created, fitted to their fork.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vizlib.sim.published import DERIVED, FITTED, add, value
from vizlib.sim.techniques import PROCESSORS


@dataclass(frozen=True)
class CpuCosts:
    """Costs of one CPU and its era's VMMs, in cycles per event. Lesson 03.

    Native costs are what bare metal pays. The `bt_`, `hw_` and `pv_` costs are what a software
    VMM (binary translation), a hardware VMM with shadow page tables, and a paravirtualized guest
    pay ON TOP of native, except the `*_io_access` costs, which replace the native device access.
    """

    name: str
    clock_hz: float
    cpi: float  # cycles per guest instruction, native
    # Native.
    syscall: float
    page_fault: float
    pte_write: float
    context_switch: float
    io_access: float
    page_walk: float  # a TLB miss: a native 4-level walk
    # Software VMM: binary translation of the guest kernel, shadow page tables.
    bt_syscall: float
    bt_page_fault: float
    bt_hidden_fault: float
    bt_pte_write: float
    bt_context_switch: float
    bt_io_access: float
    # Hardware VMM (first-generation VT-x / AMD-V) with shadow page tables.
    hw_syscall: float
    hw_page_fault: float
    hw_hidden_fault: float
    hw_pte_write: float
    hw_context_switch: float
    hw_io_access: float
    # Paravirtualization (Xen PV).
    pv_hypercall: float
    pv_syscall: float
    pv_page_fault: float
    pv_context_switch: float
    pv_pte_validate: float
    pv_address_space: float  # Xen validates (pins) a new process's page tables
    # Emulation, EPT and devices.
    emulation_factor: float  # emulated / native time for guest work
    ept_walk_factor: float  # two-dimensional / native page-walk latency
    device_model: float  # the device model's work for one emulated device access

    @property
    def description(self) -> str:
        """The processor in one line, in the course's language."""
        return PROCESSORS[self.name].description


def _v(bench: str, vmm: str) -> float:
    """Adams & Agesen's Pentium 4 nanobenchmark `bench` under `vmm`, in cycles."""
    return value(f"p4.{bench}.{vmm}")


def _extra(bench: str, vmm: str) -> float:
    """What `vmm` adds to `bench` over native (derived)."""
    return _v(bench, vmm) - _v(bench, "native")


P4_CLOCK = value("p4.clock")
CORE2_CLOCK = value("core2.clock")
MODERN_CLOCK = value("modern.clock")
PAGE_WALK = value("page-walk.native")
EMULATION_FACTOR = value("emulation.factor")
EPT_WALK_FACTOR = value("ept.walk-factor")
IO_ACCESS_SECONDS = add(
    "io-access.seconds",
    _v("in", "native") / P4_CLOCK,
    "s",
    DERIVED,
    "derived: Adams & Agesen's native `in` / the Pentium 4's clock; assumption: bus-bound, the "
    "same time on every CPU",
)
# A hypercall: assumption, a software interrupt into Xen and back, an IDT round trip like Adams &
# Agesen's native divzero. Xen's fault bounce and a context switch's hypercalls cost
# the same; Barham et al.'s lmbench checks all three (costmodel.calibration).
PV_HYPERCALL = _v("divzero", "native")

# Forkwait: events of ONE fork/wait (the cost model multiplies them by forkwait.iterations).
ITERATIONS = value("forkwait.iterations")
SYSCALLS = value("forkwait.syscalls")
CONTEXT_SWITCHES = value("forkwait.context-switches")
PAGE_FAULTS = value("forkwait.page-faults")
TLB_MISSES = value("forkwait.tlb-misses")
ADDRESS_SPACES = value("forkwait.address-spaces")


def _per_forkwait(cpu: str, vmm: str) -> float:
    """Cycles of one fork/wait under `vmm` on `cpu` (forkwait's seconds x clock / iterations)."""
    return value(f"{cpu}.forkwait.{vmm}") * value(f"{cpu}.clock") / ITERATIONS


# The page-table updates U and hidden page faults H of one fork/wait solve "software VMM overhead
# = 30.9 s" and "hardware VMM overhead = 100.4 s" (Adams & Agesen, P4: 36.9 - 6.0 and
# 106.4 - 6.0 s) with the Pentium 4's costs below: a U + b H = rhs, per VMM.
_SW_KNOWN = (
    SYSCALLS * _extra("syscall", "software")
    + PAGE_FAULTS * _extra("pgfault", "software")
    + CONTEXT_SWITCHES * value("p4.rdtsc.callout")
)
_HW_KNOWN = PAGE_FAULTS * _extra("pgfault", "hardware") + CONTEXT_SWITCHES * value(
    "p4.vm-round-trip"
)
_a1, _b1 = _extra("ptemod", "software"), _v("pgfault", "software")
_c1 = _per_forkwait("p4", "software") - _per_forkwait("p4", "native") - _SW_KNOWN
_a2, _b2 = _extra("ptemod", "hardware"), _v("pgfault", "hardware")
_c2 = _per_forkwait("p4", "hardware") - _per_forkwait("p4", "native") - _HW_KNOWN
_det = _a1 * _b2 - _a2 * _b1
_FIT = "fitted: solves forkwait's software and hardware VMM overheads on the Pentium 4 together"
PAGE_TABLE_UPDATES = add(
    "forkwait.page-table-updates",
    round((_c1 * _b2 - _c2 * _b1) / _det),
    "events",
    FITTED,
    f"{_FIT} (Adams & Agesen), rounded",
)
HIDDEN_PAGE_FAULTS = add(
    "forkwait.hidden-page-faults",
    round((_a1 * _c2 - _a2 * _c1) / _det),
    "events",
    FITTED,
    f"{_FIT} (Adams & Agesen), rounded",
)
# The guest's instructions fill what is left of a native fork/wait on the P4 (6.0 s) after its
# events' native costs, at the P4's CPI.
_P4_NATIVE_EVENTS = (
    SYSCALLS * _v("syscall", "native")
    + PAGE_FAULTS * _v("pgfault", "native")
    + PAGE_TABLE_UPDATES * _v("ptemod", "native")
    + CONTEXT_SWITCHES * value("p4.context-switch.native")
    + TLB_MISSES * PAGE_WALK
)
INSTRUCTIONS = add(
    "forkwait.instructions",
    round((_per_forkwait("p4", "native") - _P4_NATIVE_EVENTS) / value("p4.cpi")),
    "events",
    DERIVED,
    "derived: a native fork/wait on the P4 (6.0 s x 3.8 GHz / 40,000) minus its events' native "
    "costs, divided by the P4's CPI",
)


def _us(microseconds: float) -> float:
    """Microseconds on the modern machine, in its cycles."""
    return microseconds * 1e-6 * MODERN_CLOCK


# How many modern cycles native work takes per P4 cycle: the PVM paper's fork under kvm-ept
# (82 us), taken as native plus the 2D walks of forkwait's TLB misses, minus its system calls and
# page faults at their kvm-ept prices (taken as native), over the P4's native instructions and
# context switches.
MODERN_NATIVE_SCALE = add(
    "modern.native-scale",
    (
        _us(value("kvm-ept.fork"))
        - SYSCALLS * _us(value("kvm-ept.getpid"))
        - PAGE_FAULTS * _us(value("kvm-ept.page-fault"))
        - PAGE_TABLE_UPDATES * _v("ptemod", "native")
        - TLB_MISSES * PAGE_WALK * EPT_WALK_FACTOR
    )
    / (INSTRUCTIONS * value("p4.cpi") + CONTEXT_SWITCHES * value("p4.context-switch.native")),
    "x",
    FITTED,
    "fitted: the PVM paper's fork under kvm-ept (82 us) as forkwait's native work on the modern "
    "CPU, per P4 cycle",
)
# derived: the PVM paper's PIO round trip on bare-metal KVM minus a simple exit (CPUID) is the
# device model's share: 3.79 - 0.54 = 3.25 us.
MODERN_DEVICE_MODEL = _us(value("pvm.PIO.kvm") - value("pvm.CPUID.kvm"))

# What Xen adds when a process is created: it validates and pins the new address space's page
# tables. Fitted so that forkwait under paravirtualization runs as many times slower than native
# as lmbench's fork under Xen (Barham et al.: 110 -> 198 us), after its page faults, batched
# page-table updates and context switches.
_PV_FORKWAIT = (
    PAGE_FAULTS * PV_HYPERCALL
    + PAGE_TABLE_UPDATES * (PV_HYPERCALL / value("linux.mc-batch") + value("pv.pte-validate"))
    + CONTEXT_SWITCHES * PV_HYPERCALL
)
_FORK_RATIO = value("lmbench.fork.xen") / value("lmbench.fork.linux")
PV_ADDRESS_SPACE = add(
    "p4.pv.address-space",
    ((_FORK_RATIO - 1) * _per_forkwait("p4", "native") - _PV_FORKWAIT) / ADDRESS_SPACES,
    "cycles",
    FITTED,
    "fitted: forkwait under paravirtualization as much slower than native as lmbench's fork "
    "under Xen (Barham et al., SOSP 2003, Table 3: 110 -> 198 us)",
)

P4 = CpuCosts(
    name="p4",
    clock_hz=P4_CLOCK,
    cpi=value("p4.cpi"),
    syscall=_v("syscall", "native"),
    page_fault=_v("pgfault", "native"),
    pte_write=_v("ptemod", "native"),
    context_switch=value("p4.context-switch.native"),
    io_access=_v("in", "native"),
    page_walk=PAGE_WALK,
    bt_syscall=_extra("syscall", "software"),
    bt_page_fault=_extra("pgfault", "software"),
    # assumption: a hidden fault costs the whole round trip Adams & Agesen measured for pgfault
    # under each VMM (the fault is delivered to the VMM, which walks the guest table and fills in
    # the shadow entry); natively it does not happen at all.
    bt_hidden_fault=_v("pgfault", "software"),
    bt_pte_write=_extra("ptemod", "software"),
    # assumption: the translated `mov cr3` is a callout into the VMM, like Adams & Agesen's rdtsc
    # callout; the VMM switches to a cached shadow table.
    bt_context_switch=value("p4.rdtsc.callout"),
    bt_io_access=_v("in", "software"),
    # No exit: a system call stays in guest mode (Adams & Agesen: 246 cycles against 242).
    hw_syscall=0,
    hw_page_fault=_extra("pgfault", "hardware"),
    hw_hidden_fault=_v("pgfault", "hardware"),  # assumption: as bt_hidden_fault
    hw_pte_write=_extra("ptemod", "hardware"),
    # derived: a CR3-load exit is a VM exit and entry with the ~10 VMCS reads of a typical exit.
    hw_context_switch=value("p4.vm-round-trip"),
    hw_io_access=_v("in", "hardware"),
    pv_hypercall=PV_HYPERCALL,
    # 32-bit Xen PV: the guest's system calls enter its kernel through the fast trap it
    # registered with Xen, without Xen (Barham et al.): nothing extra.
    pv_syscall=0,
    pv_page_fault=PV_HYPERCALL,  # assumption: Xen takes the fault first (CR2) and bounces it
    pv_context_switch=PV_HYPERCALL,  # assumption: one mmuext_op hypercall for the new CR3
    pv_pte_validate=value("pv.pte-validate"),
    pv_address_space=PV_ADDRESS_SPACE,
    emulation_factor=EMULATION_FACTOR,
    ept_walk_factor=EPT_WALK_FACTOR,
    # assumption: the device model is ordinary software doing the same work on every CPU, so its
    # cycles scale like native work: 3.25 us on the modern machine / the modern native scale.
    device_model=MODERN_DEVICE_MODEL / MODERN_NATIVE_SCALE,
)
# The Core 2 forkwait (Adams & Agesen): native 2.62 s, software VMM 18.4 s, hardware VMM 38.9 s
# at 2.66 GHz, against the P4's 6.0 / 36.9 / 106.4 s at 3.8 GHz, per fork/wait in each CPU's
# cycles. The TLB misses' walks are not scaled: PAGE_WALK is the same on every CPU.
_WALKS = TLB_MISSES * PAGE_WALK
CORE2_NATIVE_SCALE = add(
    "core2.native-scale",
    (_per_forkwait("core2", "native") - _WALKS) / (_per_forkwait("p4", "native") - _WALKS),
    "x",
    FITTED,
    "fitted: Core 2 cycles of native work per P4 cycle, from forkwait's native times",
)
CORE2_SW_SCALE = add(
    "core2.software-scale",
    (_per_forkwait("core2", "software") - _per_forkwait("core2", "native"))
    / (_per_forkwait("p4", "software") - _per_forkwait("p4", "native")),
    "x",
    FITTED,
    "fitted: Core 2 cycles of software-VMM work per P4 cycle, from forkwait's overheads",
)
# The hardware VMM's overhead other than its context switches, whose exits come from the VM
# entry/exit table (Core 2: 2643 cycles, P4: 6120). Exits alone fell to 0.43 of the P4's cycles;
# the fit makes the VMM's other work fall further (to ~0.25): our sources do not say why.
CORE2_HW_SCALE = add(
    "core2.hardware-scale",
    (
        _per_forkwait("core2", "hardware")
        - _per_forkwait("core2", "native")
        - CONTEXT_SWITCHES * value("core2.vm-round-trip")
    )
    / (
        _per_forkwait("p4", "hardware")
        - _per_forkwait("p4", "native")
        - CONTEXT_SWITCHES * value("p4.vm-round-trip")
    ),
    "x",
    FITTED,
    "fitted: Core 2 cycles of hardware-VMM work (world switches aside) per P4 cycle, from "
    "forkwait's overheads",
)


def _scaled(costs: CpuCosts, prefix: str, scale: float) -> dict[str, float]:
    return {k: v * scale for k, v in costs.__dict__.items() if k.startswith(prefix)}


CORE2 = replace(
    P4,
    **{
        "name": "core2",
        "clock_hz": CORE2_CLOCK,
        "io_access": IO_ACCESS_SECONDS * CORE2_CLOCK,  # bus-bound
        **{
            k: getattr(P4, k) * CORE2_NATIVE_SCALE
            for k in ("cpi", "syscall", "page_fault", "context_switch", "device_model")
        },
        **_scaled(P4, "bt_", CORE2_SW_SCALE),
        **_scaled(P4, "hw_", CORE2_HW_SCALE),
        "hw_context_switch": value("core2.vm-round-trip"),
        # A hypercall, Xen's checks and its page-table validation are ordinary software.
        **_scaled(P4, "pv_", CORE2_NATIVE_SCALE),
    },
)

# The modern machine's shadow paging (kvm-spt) against EPT (kvm-ept), PVM paper, bare metal.
_MODERN_SPT_SYSCALL = _us(value("kvm-spt.getpid") - value("kvm-ept.getpid"))
_MODERN_SPT_PAGE_FAULT = _us(value("kvm-spt.page-fault") - value("kvm-ept.page-fault"))
# Half the getpid surplus: a guest kernel that switches page tables on kernel entry and exit
# (page-table isolation, KPTI, Linux's Meltdown defence since 2018) takes two CR3-load exits per
# system call under shadow paging, and one per context switch.
_MODERN_SPT_CONTEXT_SWITCH = _MODERN_SPT_SYSCALL / 2
# assumption: a write to a write-protected guest page table costs what the PVM paper's protection
# fault does on top of kvm-ept.
_MODERN_SPT_PTE_WRITE = _us(value("kvm-spt.protection-fault") - value("kvm-ept.protection-fault"))
_MODERN_NATIVE_FORK = _us(value("kvm-ept.fork")) - TLB_MISSES * PAGE_WALK * (EPT_WALK_FACTOR - 1)
MODERN_HIDDEN_FAULT = add(
    "modern.spt.hidden-fault",
    (
        _us(value("kvm-spt.fork"))
        - _MODERN_NATIVE_FORK
        - SYSCALLS * _MODERN_SPT_SYSCALL
        - PAGE_FAULTS * _MODERN_SPT_PAGE_FAULT
        - CONTEXT_SWITCHES * _MODERN_SPT_CONTEXT_SWITCH
        - PAGE_TABLE_UPDATES * _MODERN_SPT_PTE_WRITE
    )
    / HIDDEN_PAGE_FAULTS,
    "cycles",
    FITTED,
    "fitted: the PVM paper's fork under kvm-spt (505 us) minus native and the other shadow-"
    "paging costs, shared among forkwait's hidden faults",
)
_PVM_HYPERCALL = _us(value("pvm.hypercall.pvm"))

MODERN = CpuCosts(
    name="modern",
    clock_hz=MODERN_CLOCK,
    cpi=P4.cpi * MODERN_NATIVE_SCALE,
    syscall=_us(value("kvm-ept.getpid")),  # getpid under kvm-ept takes no exit: taken as native
    page_fault=_us(value("kvm-ept.page-fault")),  # taken as native
    pte_write=P4.pte_write,  # a store
    context_switch=P4.context_switch * MODERN_NATIVE_SCALE,
    io_access=IO_ACCESS_SECONDS * MODERN_CLOCK,  # bus-bound
    page_walk=PAGE_WALK,
    # assumption: no modern measurement of a binary-translating VMM in our sources; its software
    # paths take the Core 2's cycles.
    **{k: v for k, v in CORE2.__dict__.items() if k.startswith("bt_")},
    # A KPTI guest kernel loads CR3 on every kernel entry and exit: two exits per system call
    # under shadow paging (techniques.VARIANTS).
    hw_syscall=_MODERN_SPT_SYSCALL,
    hw_page_fault=_MODERN_SPT_PAGE_FAULT,
    hw_hidden_fault=MODERN_HIDDEN_FAULT,
    hw_pte_write=_MODERN_SPT_PTE_WRITE,
    hw_context_switch=_MODERN_SPT_CONTEXT_SWITCH,
    hw_io_access=_us(value("pvm.CPUID.kvm")),  # a simple exit and entry on bare-metal KVM
    # assumption: PVM's hypercall (measured nested) is a software switch into a hypervisor like
    # Xen PV's; it overstates a bare-metal Xen PV hypercall.
    pv_hypercall=_PVM_HYPERCALL,
    # A 64-bit Xen PV kernel runs in ring 3, so each system call and page fault passes through
    # the hypervisor (techniques.VARIANTS): one hypercall-like switch each.
    pv_syscall=_PVM_HYPERCALL,
    pv_page_fault=_PVM_HYPERCALL,
    pv_context_switch=_PVM_HYPERCALL,
    pv_pte_validate=P4.pv_pte_validate * MODERN_NATIVE_SCALE,  # ordinary software
    pv_address_space=P4.pv_address_space * MODERN_NATIVE_SCALE,  # ordinary software
    emulation_factor=EMULATION_FACTOR,
    ept_walk_factor=EPT_WALK_FACTOR,
    device_model=MODERN_DEVICE_MODEL,
)

COSTS = {c.name: c for c in (P4, CORE2, MODERN)}
