"""The KVM API as Python sees it: ioctl numbers, exit reasons and ctypes structures. Lesson 07.

Every name is the one in the Linux UAPI headers `<linux/kvm.h>` and `<asm/kvm.h>` (x86-64), so a
learner can look each one up; numbers are computed the way `<asm-generic/ioctl.h>` computes them.
"""

import ctypes

from vizlib.i18n import N_

# <asm-generic/ioctl.h>: an ioctl number packs nr (8 bits), type (8), size (14) and direction (2).
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = 8
_IOC_SIZESHIFT = 16
_IOC_DIRSHIFT = 30
_IOC_NONE = 0
_IOC_WRITE = 1  # user space writes, the kernel reads
_IOC_READ = 2  # the kernel writes, user space reads


def _ioc(direction: int, kind: int, nr: int, size: int) -> int:
    return (
        (direction << _IOC_DIRSHIFT)
        | (kind << _IOC_TYPESHIFT)
        | (nr << _IOC_NRSHIFT)
        | (size << _IOC_SIZESHIFT)
    )


def _io(kind: int, nr: int) -> int:
    return _ioc(_IOC_NONE, kind, nr, 0)


def _ior(kind: int, nr: int, struct: type) -> int:
    return _ioc(_IOC_READ, kind, nr, ctypes.sizeof(struct))


def _iow(kind: int, nr: int, struct: type) -> int:
    return _ioc(_IOC_WRITE, kind, nr, ctypes.sizeof(struct))


# ---- structures (<asm/kvm.h> for x86, <linux/kvm.h> for the rest) ----


class kvm_regs(ctypes.Structure):  # noqa: N801 -- the kernel's name
    """General registers, KVM_GET_REGS / KVM_SET_REGS (<asm/kvm.h>, 144 bytes)."""

    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp")
        + tuple(f"r{n}" for n in range(8, 16))
        + ("rip", "rflags")
    ]


class kvm_segment(ctypes.Structure):  # noqa: N801
    """One segment register with its hidden descriptor cache (<asm/kvm.h>, 24 bytes)."""

    _fields_ = [
        ("base", ctypes.c_uint64),
        ("limit", ctypes.c_uint32),
        ("selector", ctypes.c_uint16),
        ("type", ctypes.c_uint8),
        ("present", ctypes.c_uint8),
        ("dpl", ctypes.c_uint8),
        ("db", ctypes.c_uint8),
        ("s", ctypes.c_uint8),
        ("l", ctypes.c_uint8),
        ("g", ctypes.c_uint8),
        ("avl", ctypes.c_uint8),
        ("unusable", ctypes.c_uint8),
        ("padding", ctypes.c_uint8),
    ]


class kvm_dtable(ctypes.Structure):  # noqa: N801
    """A descriptor-table register, GDTR or IDTR (<asm/kvm.h>, 16 bytes)."""

    _fields_ = [
        ("base", ctypes.c_uint64),
        ("limit", ctypes.c_uint16),
        ("padding", ctypes.c_uint16 * 3),
    ]


KVM_NR_INTERRUPTS = 256  # <asm/kvm.h>


class kvm_sregs(ctypes.Structure):  # noqa: N801
    """Segment and control registers, KVM_GET_SREGS / KVM_SET_SREGS (<asm/kvm.h>, 312 bytes)."""

    _fields_ = [
        *((name, kvm_segment) for name in ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")),
        ("gdt", kvm_dtable),
        ("idt", kvm_dtable),
        *((name, ctypes.c_uint64) for name in ("cr0", "cr2", "cr3", "cr4", "cr8", "efer")),
        ("apic_base", ctypes.c_uint64),
        ("interrupt_bitmap", ctypes.c_uint64 * ((KVM_NR_INTERRUPTS + 63) // 64)),
    ]


class kvm_userspace_memory_region(ctypes.Structure):  # noqa: N801
    """One memory slot: guest-physical range -> host virtual address (<linux/kvm.h>, 32 bytes)."""

    _fields_ = [
        ("slot", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("guest_phys_addr", ctypes.c_uint64),
        ("memory_size", ctypes.c_uint64),
        ("userspace_addr", ctypes.c_uint64),
    ]


class _exit_hw(ctypes.Structure):  # noqa: N801 -- kvm_run.hw, KVM_EXIT_UNKNOWN
    _fields_ = [("hardware_exit_reason", ctypes.c_uint64)]


class _exit_fail_entry(ctypes.Structure):  # noqa: N801 -- kvm_run.fail_entry
    _fields_ = [("hardware_entry_failure_reason", ctypes.c_uint64), ("cpu", ctypes.c_uint32)]


class _exit_io(ctypes.Structure):  # noqa: N801 -- kvm_run.io, KVM_EXIT_IO
    _fields_ = [
        ("direction", ctypes.c_uint8),  # KVM_EXIT_IO_IN or KVM_EXIT_IO_OUT
        ("size", ctypes.c_uint8),  # bytes per access: 1, 2 or 4
        ("port", ctypes.c_uint16),
        ("count", ctypes.c_uint32),  # > 1 for string I/O (rep outsb)
        ("data_offset", ctypes.c_uint64),  # where the data sits, from the start of kvm_run
    ]


class _exit_mmio(ctypes.Structure):  # noqa: N801 -- kvm_run.mmio, KVM_EXIT_MMIO
    _fields_ = [
        ("phys_addr", ctypes.c_uint64),
        ("data", ctypes.c_uint8 * 8),
        ("len", ctypes.c_uint32),
        ("is_write", ctypes.c_uint8),
    ]


class _exit_internal(ctypes.Structure):  # noqa: N801 -- kvm_run.internal
    _fields_ = [
        ("suberror", ctypes.c_uint32),
        ("ndata", ctypes.c_uint32),
        ("data", ctypes.c_uint64 * 16),
    ]


class _exit_union(ctypes.Union):  # noqa: N801 -- the anonymous union of struct kvm_run
    _fields_ = [
        ("hw", _exit_hw),
        ("fail_entry", _exit_fail_entry),
        ("io", _exit_io),
        ("mmio", _exit_mmio),
        ("internal", _exit_internal),
        ("padding", ctypes.c_char * 256),  # the union is padded to 256 bytes in <linux/kvm.h>
    ]


class kvm_run(ctypes.Structure):  # noqa: N801
    """The shared page of a vCPU (mmap of the vCPU fd): why KVM_RUN returned (<linux/kvm.h>).

    Only the start is declared; the kernel's page is KVM_GET_VCPU_MMAP_SIZE bytes and I/O data
    lives inside it at `io.data_offset`.
    """

    _anonymous_ = ("exit",)
    _fields_ = [
        ("request_interrupt_window", ctypes.c_uint8),
        ("immediate_exit", ctypes.c_uint8),  # set to 1: the next KVM_RUN returns EINTR at once
        ("padding1", ctypes.c_uint8 * 6),
        ("exit_reason", ctypes.c_uint32),
        ("ready_for_interrupt_injection", ctypes.c_uint8),
        ("if_flag", ctypes.c_uint8),
        ("flags", ctypes.c_uint16),
        ("cr8", ctypes.c_uint64),
        ("apic_base", ctypes.c_uint64),
        ("exit", _exit_union),
    ]


# ---- ioctl numbers (<linux/kvm.h>) ----
KVMIO = 0xAE  # the ioctl "type" byte of every KVM ioctl
# what KVM_GET_API_VERSION must return (<linux/kvm.h>; LWN "Using the KVM API", 2015)
KVM_API_VERSION = 12
# system ioctls, on the /dev/kvm fd
KVM_GET_API_VERSION = _io(KVMIO, 0x00)
KVM_CREATE_VM = _io(KVMIO, 0x01)  # returns a VM fd
KVM_CHECK_EXTENSION = _io(KVMIO, 0x03)
KVM_GET_VCPU_MMAP_SIZE = _io(KVMIO, 0x04)  # size of the kvm_run mapping, in bytes
# VM ioctls, on a VM fd
KVM_CREATE_VCPU = _io(KVMIO, 0x41)  # returns a vCPU fd
KVM_SET_USER_MEMORY_REGION = _iow(KVMIO, 0x46, kvm_userspace_memory_region)
# vCPU ioctls, on a vCPU fd
KVM_RUN = _io(KVMIO, 0x80)
KVM_GET_REGS = _ior(KVMIO, 0x81, kvm_regs)
KVM_SET_REGS = _iow(KVMIO, 0x82, kvm_regs)
KVM_GET_SREGS = _ior(KVMIO, 0x83, kvm_sregs)
KVM_SET_SREGS = _iow(KVMIO, 0x84, kvm_sregs)

IOCTL_NAMES = {
    KVM_GET_API_VERSION: "KVM_GET_API_VERSION",
    KVM_CREATE_VM: "KVM_CREATE_VM",
    KVM_CHECK_EXTENSION: "KVM_CHECK_EXTENSION",
    KVM_GET_VCPU_MMAP_SIZE: "KVM_GET_VCPU_MMAP_SIZE",
    KVM_CREATE_VCPU: "KVM_CREATE_VCPU",
    KVM_SET_USER_MEMORY_REGION: "KVM_SET_USER_MEMORY_REGION",
    KVM_RUN: "KVM_RUN",
    KVM_GET_REGS: "KVM_GET_REGS",
    KVM_SET_REGS: "KVM_SET_REGS",
    KVM_GET_SREGS: "KVM_GET_SREGS",
    KVM_SET_SREGS: "KVM_SET_SREGS",
}

# ---- capabilities, arguments of KVM_CHECK_EXTENSION (<linux/kvm.h>) ----
KVM_CAP_USER_MEMORY = 3
KVM_CAP_NR_MEMSLOTS = 10
KVM_CAP_IMMEDIATE_EXIT = 136

# ---- exit reasons, kvm_run.exit_reason (<linux/kvm.h>) ----
KVM_EXIT_UNKNOWN = 0
KVM_EXIT_EXCEPTION = 1
KVM_EXIT_IO = 2
KVM_EXIT_HYPERCALL = 3
KVM_EXIT_DEBUG = 4
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_IRQ_WINDOW_OPEN = 7
KVM_EXIT_SHUTDOWN = 8  # triple fault
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10  # a signal interrupted KVM_RUN
KVM_EXIT_NMI = 16
KVM_EXIT_INTERNAL_ERROR = 17
KVM_EXIT_SYSTEM_EVENT = 24

EXIT_REASON_NAMES = {
    KVM_EXIT_UNKNOWN: "unknown",
    KVM_EXIT_EXCEPTION: "exception",
    KVM_EXIT_IO: "io",
    KVM_EXIT_HYPERCALL: "hypercall",
    KVM_EXIT_DEBUG: "debug",
    KVM_EXIT_HLT: "hlt",
    KVM_EXIT_MMIO: "mmio",
    KVM_EXIT_IRQ_WINDOW_OPEN: "irq_window_open",
    KVM_EXIT_SHUTDOWN: "shutdown",
    KVM_EXIT_FAIL_ENTRY: "fail_entry",
    KVM_EXIT_INTR: "intr",
    KVM_EXIT_NMI: "nmi",
    KVM_EXIT_INTERNAL_ERROR: "internal_error",
    KVM_EXIT_SYSTEM_EVENT: "system_event",
}

KVM_EXIT_IO_IN = 0  # kvm_run.io.direction
KVM_EXIT_IO_OUT = 1

# kvm_run.internal.suberror (<linux/kvm.h>), shown through `_()`
INTERNAL_ERROR_NAMES = {
    1: N_("KVM_INTERNAL_ERROR_EMULATION: KVM's instruction emulator failed"),
    2: N_("KVM_INTERNAL_ERROR_SIMUL_EX: an exception while delivering an exception"),
    3: N_("KVM_INTERNAL_ERROR_DELIVERY_EV: an event could not be delivered"),
    4: N_("KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON"),
}
