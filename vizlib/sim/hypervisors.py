"""KVM, Xen and QEMU side by side, and the seed article's claims about them checked. Lesson 10.

Plain data: what each system is, where it runs, what it needs from the hardware and from the
guest, who handles the devices, who uses it, with sources. Facts come from the course's reference
notes (papers and documentation named in `sources`); where a statement is not backed by a
published number it is worded without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from vizlib.i18n import N_, _


@dataclass(frozen=True)
class Hypervisor:
    """One system of the article, described the same way as the others. Lesson 10."""

    name: str
    what: str
    runs_where: str
    needs_hardware: str
    needs_guest: str
    devices: str
    used_by: str
    sources: tuple[str, ...]

    def row(self) -> tuple[str, ...]:
        """The descriptive fields, in the order of FIELDS, in the course's language."""
        return tuple(_(getattr(self, name)) for name in FIELDS)


# Field name -> column heading, in table order.
FIELDS = MappingProxyType(
    {
        "what": N_("What it is"),
        "runs_where": N_("Where it runs"),
        "needs_hardware": N_("Needs from the hardware"),
        "needs_guest": N_("Needs from the guest"),
        "devices": N_("Devices"),
        "used_by": N_("Who uses it"),
    }
)

HYPERVISORS = MappingProxyType(
    {
        h.name: h
        for h in (
            Hypervisor(
                "KVM",
                N_(
                    "A hypervisor inside the Linux kernel: kvm.ko plus kvm-intel.ko or kvm-amd.ko, "
                    "merged in Linux 2.6.20 (February 2007)"
                ),
                N_(
                    "In the host's Linux kernel; each VM is a host process and each vCPU a thread, "
                    "scheduled by Linux"
                ),
                N_(
                    "On x86, VT-x or AMD-V, as merged in Linux (PVM, posted as an RFC in 2024 and "
                    "not merged, does without)"
                ),
                N_("Nothing: unmodified guests run; paravirtual (virtio) drivers make I/O fast"),
                N_(
                    "Emulated in user space by the VMM process that opens /dev/kvm (QEMU, or a "
                    "smaller one such as Firecracker); KVM can keep interrupt controllers and "
                    "timers in the kernel"
                ),
                N_(
                    "Linux hosts; OpenStack clouds through libvirt and QEMU; microVMs; PVM's "
                    "secure containers (Alibaba and Ant Group)"
                ),
                (
                    "Linux 2.6.20 (Feb 2007)",
                    "LWN, Using the KVM API (2015)",
                    "Linux KVM API documentation (KVM_CREATE_IRQCHIP)",
                    "PVM paper (SOSP 2023)",
                ),
            ),
            Hypervisor(
                "Xen",
                N_("A type-1 hypervisor on bare metal, with a privileged first domain, Dom0"),
                N_(
                    "Directly on the hardware, under every domain; Dom0 (Linux) holds the device "
                    "drivers, the backends and the toolstack (xl)"
                ),
                N_("Nothing for PV guests; VT-x or AMD-V for HVM and PVH guests"),
                N_(
                    "PV: a Xen-aware kernel (the Linux port changed 2995 lines, 1.36 % of the x86 "
                    "code base without drivers); PVH: a PVH-aware kernel; HVM: nothing (e.g. "
                    "Windows)"
                ),
                N_(
                    "Split drivers: a frontend in the guest, a backend in Dom0, a shared ring; "
                    "QEMU in Dom0 emulates devices for HVM guests"
                ),
                N_(
                    "Servers and clouds built on it; the article names Red Hat Enterprise Linux "
                    "and SUSE Linux Enterprise Server"
                ),
                ("Barham et al., SOSP 2003", "xl.cfg(5): guest types pv, hvm, pvh"),
            ),
            Hypervisor(
                "QEMU",
                N_(
                    "A machine emulator begun by Fabrice Bellard: it translates guest code with "
                    "its own translator (TCG) and emulates whole machines with their devices"
                ),
                N_(
                    "An ordinary process on the host (for Xen HVM guests, in Dom0 as their device "
                    "model)"
                ),
                N_("Nothing with TCG; with KVM as its accelerator, what KVM needs"),
                N_(
                    "Nothing: unmodified guests, even of another architecture (PowerPC or ARM on "
                    "x86)"
                ),
                N_("Emulates them itself: disks, network cards, serial ports, and virtio devices"),
                N_(
                    "KVM's usual user-space half (libvirt starts it); Xen's HVM device model; "
                    "anyone running code for another CPU"
                ),
                ("Bellard, USENIX 2005 FREENIX", "QEMU 0.12.0 (Dec 2009): kqemu removed"),
            ),
        )
    }
)


def comparison_rows() -> list[tuple[str, ...]]:
    """KVM, Xen and QEMU side by side, in the course's language: one row per field of FIELDS, its
    heading, then each system's value (the columns of `HYPERVISORS`). Lesson 10."""
    columns = [h.row() for h in HYPERVISORS.values()]
    return [
        (_(heading), *values) for heading, *values in zip(FIELDS.values(), *columns, strict=True)
    ]


@dataclass(frozen=True)
class Claim:
    """One comparison the 2013 article makes, and how it reads today. Lesson 10.

    `verdict` is "holds", "holds, with a caveat" or "out of date".
    """

    system: str
    article: str  # the article's words, verbatim
    claim: str  # the same in English
    verdict: str
    today: str
    source: str

    def row(self) -> tuple[str, ...]:
        """System, the article's words, their English, what is true today, the verdict and the
        source: today and the verdict in the course's language."""
        return (self.system, self.article, self.claim, _(self.today), _(self.verdict), self.source)


VERDICTS = (N_("holds"), N_("holds, with a caveat"), N_("out of date"))

CLAIMS = (
    Claim(
        "KVM",
        "X86架构且硬件支持虚拟化技术(Intel VT或AMD-V)的Linux的全虚拟化解决方案",
        N_("Linux's full-virtualization solution for x86 with Intel VT or AMD-V"),
        "holds, with a caveat",
        N_(
            "True of KVM as merged; PVM runs KVM guests without VT-x (not merged), and Linux's KVM "
            "also supports other processor architectures today"
        ),
        "PVM paper (SOSP 2023); LKML RFC (Feb 2024); Linux documentation (virt/kvm)",
    ),
    Claim(
        "KVM",
        "它是Linux的一个很小的模块,利用Linux做大量的事,如任务调度、内存管理与硬件设备交互等",
        N_("A small Linux module that leaves scheduling, memory and devices to Linux"),
        "holds",
        N_(
            "Each VM is a process, each vCPU a thread, scheduled and given memory by Linux, whose "
            "drivers reach the hardware"
        ),
        "KVM documentation; LWN, Using the KVM API (2015)",
    ),
    Claim(
        "Xen",
        "Xen是第一类运行再裸机上的虚拟化管理程序(Hypervisor)。它支持全虚拟化和半虚拟化",
        N_("A type-1 hypervisor on bare metal that supports full and paravirtualization"),
        "holds",
        N_("Guest types pv, hvm (full virtualization by hardware assist) and pvh"),
        "xl.cfg(5)",
    ),
    Claim(
        "Xen",
        "Xen最重要的优势在于半虚拟化",
        N_("Xen's main strength is paravirtualization"),
        "out of date",
        N_(
            "A 64-bit PV kernel runs in ring 3 and its system calls pass through Xen (lesson 04); "
            "PVH keeps PV's lean interface inside VT-x, and PV drivers live on everywhere"
        ),
        "xl.cfg(5); PVM paper (SOSP 2023) costs",
    ),
    Claim(
        "Xen",
        "提供在所有Linux版本上的免费产品,包括Red Hat Enterprise Linux和SUSE Linux Enterprise "
        "Server",
        N_("Free products on every Linux distribution, including RHEL and SLES"),
        "out of date",
        N_(
            "Not for RHEL: Red Hat Enterprise Linux 6 (2010) dropped Xen as a host for KVM, "
            "before the article; SUSE Linux Enterprise Server still supports Xen beside KVM"
        ),
        "Red Hat Enterprise Linux virtualization guide; SUSE Linux Enterprise virtualization "
        "documentation",
    ),
    Claim(
        "QEMU",
        "经由kqemu这个开源的加速器,QEMU能模拟至接近真实电脑的速度",
        N_("With the kqemu accelerator QEMU runs at nearly the speed of the real computer"),
        "out of date",
        N_(
            "Already in 2013: kqemu left QEMU in 2009; KVM is its accelerator, TCG its translator. "
            "Nor was kqemu open source at first: it was closed until its GPL release in 2007"
        ),
        "QEMU 0.12.0 (Dec 2009), the first release without kqemu; LWN, KQEMU 1.3.0pre10 "
        "released under the GPL (Feb 2007)",
    ),
    Claim(
        "QEMU",
        "比如说在x86的CPU上可虚拟一个Power的CPU",
        N_("It can emulate a different CPU, a Power CPU on x86 for instance"),
        "holds, with a caveat",
        N_(
            "TCG translates PowerPC, ARM and other guests on x86 (lesson 06); the article's next "
            "words, that QEMU lets you compile Power programs, need no emulator: a cross-compiler "
            "does that, QEMU runs what it compiles"
        ),
        "Bellard, USENIX 2005 FREENIX",
    ),
    Claim(
        "KVM + QEMU",
        "官方提供的KVM下载有两大部分(qemu和kvm)三个文件",
        N_("KVM is downloaded as two parts (qemu and kvm), three files"),
        "out of date",
        N_(
            "kvm.ko ships with Linux, and the separate qemu-kvm fork has been merged back into "
            "QEMU: `qemu-system-x86_64 -accel kvm`"
        ),
        "Linux 2.6.20 (Feb 2007); kvm(1) manual page (Debian): merged as of QEMU 1.3; QEMU "
        "documentation (-accel)",
    ),
)
