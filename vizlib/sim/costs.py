"""What one event costs on each CPU: the constants table of the cost model (`costmodel`).

Lessons 03, 04, 05 and 10 read these numbers through `vizlib.sim.costmodel`. Every number says
where it comes from: a published measurement (with its paper), "derived" (arithmetic on published
numbers, shown), or "assumption" (with the reasoning). Cycles unless a name says otherwise.

The Pentium 4 column is Adams & Agesen's nanobenchmarks (ASPLOS 2006). They published no
nanobenchmarks for the Core 2, only its VM entry/exit latencies and forkwait times, so the Core 2
column is the Pentium 4 column scaled, one factor per family of costs (native work, software VMM,
hardware VMM), each derived from forkwait. The modern column converts the PVM paper's microseconds
(SOSP 2023, Xeon Platinum 8269CY) to cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

# Adams & Agesen's forkwait: 40,000 fork/wait pairs. Events of ONE fork/wait (derived or assumed
# here; the cost model multiplies them by FORKWAIT_ITERATIONS). The CPU columns below are derived
# from these counts, so they live here.
FORKWAIT_ITERATIONS = 40_000  # Adams & Agesen 2006
FORKWAIT_SYSCALLS = 3  # assumption: fork, exit (in the child), wait4
FORKWAIT_CONTEXT_SWITCHES = 2  # assumption: parent -> child when the parent waits, child -> parent
FORKWAIT_PAGE_FAULTS = 10  # assumption: copy-on-write faults of parent and child (stack, data)
FORKWAIT_TLB_MISSES = 200  # assumption: the child's TLB starts empty after the address-space switch
# The page-table updates U and hidden page faults H solve the two equations "software VMM
# overhead = 30.9 s" and "hardware VMM overhead = 100.4 s" (Adams & Agesen, P4: 36.9 - 6.0 and
# 106.4 - 6.0 s) with the P4 costs below, per fork/wait (x 3.8 GHz / 40,000):
#   3*2000 + 10*2834 + 2*1254 + 390 U + 3927 H = 2,935,500
#   10*10149 + 2*6120 + 12732 U + 11242 H = 9,538,000
# derived: U = 96.95, H = 728.5, rounded.
FORKWAIT_PAGE_TABLE_UPDATES = 97
FORKWAIT_HIDDEN_PAGE_FAULTS = 729
# The guest's instructions fill what is left of the native 6.0 s on the P4 (Adams & Agesen):
# 6.0 s * 3.8 GHz / 40,000 = 570,000 cycles per fork/wait; minus the native event costs below
# (3*889 + 10*1093 + 97*1 + 2*500 + 200*40 = 22,694) leaves 547,306 cycles; / CPI 2.5 (derived).
FORKWAIT_INSTRUCTIONS = 218_922


@dataclass(frozen=True)
class CpuCosts:
    """Costs of one CPU and its era's VMMs, in cycles per event. Lesson 03.

    Native costs are what bare metal pays. The `bt_`, `hw_` and `pv_` costs are what a software
    VMM (binary translation), a hardware VMM with shadow page tables, and a paravirtualized guest
    pay ON TOP of native, except the `*_io_access` costs, which replace the native device access.
    """

    name: str
    description: str
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
    pv_pte_validate: float
    # Emulation, EPT and devices.
    emulation_factor: float  # emulated / native time for guest work
    ept_walk_factor: float  # two-dimensional / native page-walk latency
    device_model: float  # the device model's work for one emulated device access


# Both from Bellard (USENIX 2005 FREENIX): user-mode QEMU ~4x slower than native on integer code,
# soft MMU ~2x more in full-system mode. derived: 4 * 2. assumption: holds on every host.
EMULATION_FACTOR = 8.0
# Bhargava et al. (ASPLOS 2008): a 2D walk takes 3.9-4.6x a native walk's latency (no walk
# caches). derived: midpoint. assumption: the same on every CPU (walk caches would lower it).
EPT_WALK_FACTOR = 4.25
# assumption: a native TLB miss walks 4 levels in about 40 cycles when the page-table entries are
# in the caches; the same on every CPU (walk latency is bound by the caches, not the core).
PAGE_WALK = 40.0
# derived: Adams & Agesen's native `in` (3209 cycles at 3.8 GHz) lasts 0.8445 us. assumption: a
# device register access is bound by the bus, so it lasts as long on every CPU.
IO_ACCESS_SECONDS = 3209 / 3.8e9

P4_CLOCK = 3.8e9  # Adams & Agesen 2006: Pentium 4 672, 3.8 GHz
P4_CPI = 2.5  # assumption: NetBurst on kernel-heavy code; only scales instructions to cycles
P4_CONTEXT_SWITCH = 500.0  # assumption: a CR3 load and TLB flush (refills count as TLB misses)

# Modern: the machine of the PVM paper (SOSP 2023, Table 1 and its kvm-ept / kvm-spt table).
# Xeon Platinum 8269CY: nominal 2.5 GHz, as its brand string says ("@ 2.50GHz"). assumption: the
# PVM paper's microseconds were measured at that clock (cloud instances turbo up to 3.2 GHz).
MODERN_CLOCK = 2.5e9


def _us(microseconds: float) -> float:
    """Microseconds on the modern machine, in its cycles."""
    return microseconds * 1e-6 * MODERN_CLOCK


# How many modern cycles native work takes per P4 cycle. derived from the PVM paper's fork under
# kvm-ept (82 us, taken as native plus the 2D walks of forkwait's TLB misses): 82 us = 205,000
# cycles = 0.22 us * 3 + 0.15 us * 10 (syscalls, page faults: kvm-ept, taken as native) + 97 PTE
# stores + 200 * 40 * 4.25 (walks under EPT) + s * (218,922 * 2.5 + 2 * 500), so s = 0.3018.
MODERN_NATIVE_SCALE = (
    _us(82)
    - FORKWAIT_SYSCALLS * _us(0.22)
    - FORKWAIT_PAGE_FAULTS * _us(0.15)
    - FORKWAIT_PAGE_TABLE_UPDATES * 1
    - FORKWAIT_TLB_MISSES * PAGE_WALK * EPT_WALK_FACTOR
) / (FORKWAIT_INSTRUCTIONS * P4_CPI + FORKWAIT_CONTEXT_SWITCHES * P4_CONTEXT_SWITCH)
# derived: the PVM paper's PIO round trip on bare-metal KVM (3.79 us) minus a simple exit (CPUID,
# 0.54 us) is the device model's share: 3.25 us.
MODERN_DEVICE_MODEL = _us(3.79 - 0.54)

P4 = CpuCosts(
    name="p4",
    description="Intel Pentium 4 672, 3.8 GHz (2006), first-generation VT-x",
    clock_hz=P4_CLOCK,
    cpi=P4_CPI,
    # assumption: Adams & Agesen's syscall row gives no native figure in our notes; a system call
    # through the IDT costs about what their divzero exception round trip does natively (889).
    syscall=889,
    page_fault=1093,  # Adams & Agesen: pgfault, native
    pte_write=1,  # Adams & Agesen: ptemod, native (~1, a store)
    context_switch=P4_CONTEXT_SWITCH,
    io_access=3209,  # Adams & Agesen: in (port 0x80), native
    page_walk=PAGE_WALK,
    bt_syscall=2000,  # Adams & Agesen: syscall, ~native + 2000 under the software VMM
    bt_page_fault=3927 - 1093,  # derived: Adams & Agesen pgfault, software VMM minus native
    # assumption: a hidden fault costs the whole round trip Adams & Agesen measured for pgfault
    # under each VMM (the fault is delivered to the VMM, which walks the guest table and fills in
    # the shadow entry); natively it does not happen at all.
    bt_hidden_fault=3927,
    bt_pte_write=391 - 1,  # derived: Adams & Agesen ptemod, software VMM minus native
    # assumption: the translated `mov cr3` is a callout into the VMM, like Adams & Agesen's rdtsc
    # callout (1254 cycles); the VMM switches to a cached shadow table.
    bt_context_switch=1254,
    bt_io_access=214,  # derived: Adams & Agesen, in under the software VMM ("15x faster")
    hw_syscall=0,  # Adams & Agesen: syscall runs at native speed under VT-x (no exit)
    hw_page_fault=11242 - 1093,  # derived: Adams & Agesen pgfault, hardware VMM minus native
    hw_hidden_fault=11242,  # assumption: as bt_hidden_fault, with the hardware VMM's pgfault
    hw_pte_write=12733 - 1,  # derived: Adams & Agesen ptemod, hardware VMM minus native
    # derived: a CR3-write exit = page-fault VM exit (1931) + VM entry (2409) + the ~10 VMCS reads
    # (178 each) a typical exit needs (Adams & Agesen).
    hw_context_switch=1931 + 2409 + 10 * 178,
    hw_io_access=15826,  # Adams & Agesen: in under the hardware VMM
    # assumption: a hypercall is a software interrupt into Xen and back, the same IDT round trip
    # as Adams & Agesen's divzero natively (889).
    pv_hypercall=889,
    # assumption: 32-bit Xen PV installs a fast system-call trap that enters the guest kernel
    # without passing through Xen (Barham et al., SOSP 2003), so system calls cost nothing extra.
    pv_syscall=0,
    pv_page_fault=889,  # assumption: Xen takes the fault first (CR2) and bounces it: one more trap
    # assumption: Xen checks the frame's owner and updates a reference count for each entry, a
    # few memory references.
    pv_pte_validate=100,
    emulation_factor=EMULATION_FACTOR,
    ept_walk_factor=EPT_WALK_FACTOR,
    # assumption: the device model is ordinary software doing the same work on every CPU, so its
    # cycles scale like native work: 3.25 us on the modern machine / 0.3018 = 26,918 cycles (of
    # the order of Sugerman et al.'s 30.7 us of world switch and host time per transmitted packet
    # on a 733 MHz Pentium III, ~22,500 cycles; USENIX ATC 2001).
    device_model=MODERN_DEVICE_MODEL / MODERN_NATIVE_SCALE,
)

CORE2_CLOCK = 2.4e9  # assumption: a Core 2 Duo E6600 (2.4 GHz); our notes lack the paper's clock
# The Core 2 forkwait (Adams & Agesen): native 2.62 s, software VMM 18.4 s, hardware VMM 38.9 s,
# per fork/wait in Core 2 cycles (x 2.4 GHz / 40,000), against the P4's 6.0 / 36.9 / 106.4 s.
_CORE2_CYCLES_PER_SECOND = CORE2_CLOCK / FORKWAIT_ITERATIONS
_P4_CYCLES_PER_SECOND = P4_CLOCK / FORKWAIT_ITERATIONS
_WALKS = FORKWAIT_TLB_MISSES * PAGE_WALK  # not scaled: PAGE_WALK is the same on every CPU
# derived: native work, (157,200 - 8,000) / (570,000 - 8,000) = 0.2655.
CORE2_NATIVE_SCALE = (2.62 * _CORE2_CYCLES_PER_SECOND - _WALKS) / (
    6.0 * _P4_CYCLES_PER_SECOND - _WALKS
)
# derived: software VMM overhead, 946,800 / 2,935,500 = 0.3225.
CORE2_SW_SCALE = ((18.4 - 2.62) * _CORE2_CYCLES_PER_SECOND) / ((36.9 - 6.0) * _P4_CYCLES_PER_SECOND)
# Adams & Agesen's VM entry/exit table, Core 2: page-fault VM exit 1186, VM entry 937, VMCB read 52.
CORE2_HW_CONTEXT_SWITCH = 1186 + 937 + 10 * 52  # derived, as P4.hw_context_switch
# derived: hardware VMM overhead other than the context switches (whose exits come from the
# table), (2,176,800 - 2 * 2643) / (9,538,000 - 2 * 6120) = 0.2280. Exits alone fell to
# 2123 / 4340 = 0.49 of the P4's cycles, so the VMM's own work must have fallen more (to ~0.2):
# the fit requires it; our notes do not say why.
CORE2_HW_SCALE = (
    (38.9 - 2.62) * _CORE2_CYCLES_PER_SECOND - FORKWAIT_CONTEXT_SWITCHES * CORE2_HW_CONTEXT_SWITCH
) / ((106.4 - 6.0) * _P4_CYCLES_PER_SECOND - FORKWAIT_CONTEXT_SWITCHES * P4.hw_context_switch)

CORE2 = CpuCosts(
    name="core2",
    description="Intel Core 2 Duo, 2.4 GHz (2006), VT-x with faster VM entry and exit",
    clock_hz=CORE2_CLOCK,
    cpi=P4.cpi * CORE2_NATIVE_SCALE,  # derived
    syscall=P4.syscall * CORE2_NATIVE_SCALE,  # derived, and so on for each native cost
    page_fault=P4.page_fault * CORE2_NATIVE_SCALE,
    pte_write=P4.pte_write,  # a store: one cycle anywhere
    context_switch=P4.context_switch * CORE2_NATIVE_SCALE,
    io_access=IO_ACCESS_SECONDS * CORE2_CLOCK,  # derived: bus-bound, 0.8445 us
    page_walk=PAGE_WALK,
    bt_syscall=P4.bt_syscall * CORE2_SW_SCALE,  # derived, and so on for each bt_ cost
    bt_page_fault=P4.bt_page_fault * CORE2_SW_SCALE,
    bt_hidden_fault=P4.bt_hidden_fault * CORE2_SW_SCALE,
    bt_pte_write=P4.bt_pte_write * CORE2_SW_SCALE,
    bt_context_switch=P4.bt_context_switch * CORE2_SW_SCALE,
    bt_io_access=P4.bt_io_access * CORE2_SW_SCALE,
    hw_syscall=0,  # Adams & Agesen: no exit
    hw_page_fault=P4.hw_page_fault * CORE2_HW_SCALE,  # derived, and so on for each hw_ cost
    hw_hidden_fault=P4.hw_hidden_fault * CORE2_HW_SCALE,
    hw_pte_write=P4.hw_pte_write * CORE2_HW_SCALE,
    hw_context_switch=CORE2_HW_CONTEXT_SWITCH,
    hw_io_access=P4.hw_io_access * CORE2_HW_SCALE,
    pv_hypercall=P4.pv_hypercall * CORE2_NATIVE_SCALE,  # derived: an IDT round trip, native work
    pv_syscall=0,  # as on the P4
    pv_page_fault=P4.pv_page_fault * CORE2_NATIVE_SCALE,  # derived, as pv_hypercall
    pv_pte_validate=P4.pv_pte_validate * CORE2_NATIVE_SCALE,  # derived: ordinary software
    emulation_factor=EMULATION_FACTOR,
    ept_walk_factor=EPT_WALK_FACTOR,
    device_model=P4.device_model * CORE2_NATIVE_SCALE,  # derived: ordinary software
)

# derived: the PVM paper's fork under kvm-spt (505 us) minus native (the kvm-ept fork without its
# 2D walks) minus the other shadow-paging costs below, shared among forkwait's 729 hidden faults:
# (1,262,500 - 179,000 - 3 * 4675 - 10 * 1950 - 2 * 2337.5 - 97 * 6275) / 729 = 599 cycles.
_MODERN_NATIVE_FORK = _us(82) - FORKWAIT_TLB_MISSES * PAGE_WALK * (EPT_WALK_FACTOR - 1)
_MODERN_SPT_SYSCALL = _us(2.09 - 0.22)  # derived: PVM paper getpid, kvm-spt minus kvm-ept
_MODERN_SPT_PAGE_FAULT = _us(0.93 - 0.15)  # derived: PVM paper page fault, kvm-spt minus kvm-ept
# derived: half the getpid surplus: a guest kernel that switches page tables on kernel entry and
# exit (page-table isolation, assumption) takes two CR3-write exits per system call under shadow
# paging, and one per context switch.
_MODERN_SPT_CONTEXT_SWITCH = _MODERN_SPT_SYSCALL / 2
# assumption: a write to a write-protected guest page table costs what the PVM paper's protection
# fault does on top of kvm-ept: 3.17 - 0.66 = 2.51 us.
_MODERN_SPT_PTE_WRITE = _us(3.17 - 0.66)
_MODERN_SPT_HIDDEN_FAULT = (
    _us(505)
    - _MODERN_NATIVE_FORK
    - FORKWAIT_SYSCALLS * _MODERN_SPT_SYSCALL
    - FORKWAIT_PAGE_FAULTS * _MODERN_SPT_PAGE_FAULT
    - FORKWAIT_CONTEXT_SWITCHES * _MODERN_SPT_CONTEXT_SWITCH
    - FORKWAIT_PAGE_TABLE_UPDATES * _MODERN_SPT_PTE_WRITE
) / FORKWAIT_HIDDEN_PAGE_FAULTS

MODERN = CpuCosts(
    name="modern",
    description="Intel Xeon Platinum 8269CY, 2.5 GHz (2019), VT-x with EPT (PVM paper, 2023)",
    clock_hz=MODERN_CLOCK,
    cpi=P4.cpi * MODERN_NATIVE_SCALE,  # derived
    syscall=_us(0.22),  # PVM paper: getpid under kvm-ept, which takes no exit: taken as native
    page_fault=_us(0.15),  # PVM paper: page fault under kvm-ept, taken as native
    pte_write=P4.pte_write,  # a store
    context_switch=P4.context_switch * MODERN_NATIVE_SCALE,  # derived
    io_access=IO_ACCESS_SECONDS * MODERN_CLOCK,  # derived: bus-bound, 0.8445 us
    page_walk=PAGE_WALK,
    # assumption: no modern measurement of a binary-translating VMM in our notes; its software
    # paths take the Core 2's cycles.
    bt_syscall=CORE2.bt_syscall,
    bt_page_fault=CORE2.bt_page_fault,
    bt_hidden_fault=CORE2.bt_hidden_fault,
    bt_pte_write=CORE2.bt_pte_write,
    bt_context_switch=CORE2.bt_context_switch,
    bt_io_access=CORE2.bt_io_access,
    hw_syscall=_MODERN_SPT_SYSCALL,
    hw_page_fault=_MODERN_SPT_PAGE_FAULT,
    hw_hidden_fault=_MODERN_SPT_HIDDEN_FAULT,
    hw_pte_write=_MODERN_SPT_PTE_WRITE,
    hw_context_switch=_MODERN_SPT_CONTEXT_SWITCH,
    hw_io_access=_us(0.54),  # PVM paper: CPUID on bare-metal KVM, a simple exit and entry
    # assumption: PVM's hypercall (0.48 us, measured nested) is a software switch into a
    # hypervisor like Xen PV's; it overstates a bare-metal Xen PV hypercall.
    pv_hypercall=_us(0.48),
    # assumption: a 64-bit Xen PV guest kernel runs in ring 3, so each system call and each page
    # fault passes through the hypervisor: one hypercall-like switch.
    pv_syscall=_us(0.48),
    pv_page_fault=_us(0.48),
    pv_pte_validate=P4.pv_pte_validate * MODERN_NATIVE_SCALE,  # derived: ordinary software
    emulation_factor=EMULATION_FACTOR,
    ept_walk_factor=EPT_WALK_FACTOR,
    device_model=MODERN_DEVICE_MODEL,
)

COSTS = {c.name: c for c in (P4, CORE2, MODERN)}
