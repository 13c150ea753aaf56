"""Host probe: what this machine can run, hardware KVM, KVM without hardware assist, or emulation.

Lesson 00. `probe()` reads only files under `root`, so a test can point it at a fake tree. On the
real machine (root "/") it also opens /dev/kvm for real and asks `systemd-detect-virt`, when that
command exists. An unreadable or garbled file never raises: what cannot be told is None.

Fake trees mark /dev/kvm's usability with its permission bits: `dev/kvm` counts as openable when
its owner may read and write it (mode 0o600 or wider); any other mode stands for a device this user
cannot open ("Permission denied").
"""

from __future__ import annotations

import errno
import os
import platform
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vizlib.i18n import N_, _, sentences

VERDICT_HARDWARE = N_("KVM with hardware assist available")
VERDICT_PVM = N_("KVM present but without VT-x/AMD-V: PVM / nested")
VERDICT_KVM_UNKNOWN = N_("KVM present but without VT-x/AMD-V: backend unknown")
VERDICT_FOREIGN_ARCH = N_("KVM present, but not for x86 guests: lessons use the TCG fallback")
VERDICT_TCG = N_("no KVM: lessons use the TCG fallback")
VERDICTS = (
    VERDICT_HARDWARE,
    VERDICT_PVM,
    VERDICT_KVM_UNKNOWN,
    VERDICT_FOREIGN_ARCH,
    VERDICT_TCG,
)
KVM_DEVICE = "/dev/kvm"  # a row label that reads the same in every language

# The techniques of the course's model (vizlib.sim.techniques) a guest started here can use, and
# what provides each on a Linux host: KVM with VT-x or AMD-V; KVM's PVM, which runs PVM-aware
# (paravirtualized) guest kernels without hardware assist; QEMU's TCG emulator.
TECHNIQUE_HARDWARE = "hardware-assisted"
TECHNIQUE_PVM = "paravirtualization"
TECHNIQUE_TCG = "emulation"
TECHNIQUES = (TECHNIQUE_HARDWARE, TECHNIQUE_PVM, TECHNIQUE_TCG)
PROVIDED_BY = {
    TECHNIQUE_HARDWARE: N_("KVM with VT-x or AMD-V"),
    TECHNIQUE_PVM: N_("KVM's PVM (kvm_pvm), for PVM-aware guests"),
    TECHNIQUE_TCG: N_("QEMU's TCG"),
}
TECHNIQUE_NAMES = {
    TECHNIQUE_HARDWARE: N_("hardware assist"),
    TECHNIQUE_PVM: N_("paravirtualization"),
    TECHNIQUE_TCG: N_("emulation"),
}

KVM_ABSENT = N_("absent")
KVM_USABLE = N_("usable")
KVM_UNUSABLE_PREFIX = "present, cannot open: "

# Linux names of 32- and 64-bit x86 (uname -m); the course's guests are x86 code.
X86_ARCHES = frozenset({"x86_64", "i386", "i486", "i586", "i686"})
# platform.machine() spellings on Windows and macOS, mapped to Linux's.
ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}
# KVM vendor modules that exist only with VT-x / AMD-V (Linux arch/x86/kvm: vmx/, svm/).
HARDWARE_KVM_MODULES = frozenset({"kvm_intel", "kvm_amd"})

# DMI fields and vendor prefixes that name a hypervisor, checked in this order (product_name
# first so KVM wins over QEMU). Source: systemd src/basic/virt.c, detect_vm_dmi_vendor().
DMI_FIELDS = ("product_name", "sys_vendor", "board_vendor", "bios_vendor", "product_version")
DMI_VENDORS = (
    ("KVM", "KVM"),
    ("OpenStack", "KVM (OpenStack)"),
    ("KubeVirt", "KVM (KubeVirt)"),
    ("Amazon EC2", "Amazon EC2"),
    ("Google Compute Engine", "Google Compute Engine"),
    ("QEMU", "QEMU"),
    ("VMware", "VMware"),
    ("VMW", "VMware"),
    ("innotek GmbH", "VirtualBox"),
    ("VirtualBox", "VirtualBox"),
    ("Oracle Corporation", "VirtualBox"),
    ("Xen", "Xen"),
    ("Bochs", "Bochs"),
    ("Parallels", "Parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "Microsoft Hyper-V"),
    ("Apple Virtualization", "Apple Virtualization"),
)
# Hyper-V and Azure guests: sys_vendor "Microsoft Corporation", product_name "Virtual Machine"
# (Microsoft's DMI strings; a Surface laptop has the same vendor, hence the product check).
HYPERV_DMI = ("Microsoft Corporation", "Virtual Machine")
# EC2 bare-metal instances carry "Amazon EC2" too; their product name contains ".metal"
# (systemd src/basic/virt.c, detect_vm_dmi()).
EC2_METAL_MARK = ".metal"

# systemd-detect-virt identifiers (systemd-detect-virt(1)) and the names this report uses.
DETECT_VIRT_NAMES = {
    "kvm": "KVM",
    "qemu": "QEMU",
    "amazon": "Amazon EC2",
    "google": "Google Compute Engine",
    "vmware": "VMware",
    "microsoft": "Microsoft Hyper-V",
    "oracle": "VirtualBox",
    "xen": "Xen",
    "bochs": "Bochs",
    "parallels": "Parallels",
    "bhyve": "bhyve",
    "apple": "Apple Virtualization",
}
DETECT_VIRT_TIMEOUT = 2.0  # seconds; the command answers in milliseconds, this only stops a hang

# Files that tell a container (systemd src/basic/virt.c, detect_container()).
CONTAINER_FILES = ((".dockerenv", "docker"), ("run/.containerenv", "podman"))

MAX_READ = 1 << 20  # characters; /proc/cpuinfo of a 256-CPU machine is well under this


@dataclass(frozen=True)
class HostReport:
    """What `probe()` found on one machine; None means "could not tell". Lesson 00.

    kvm_device is "absent", "usable" or "present, cannot open: <reason>". `verdict` and
    `verdict_detail` are worked out from the fields, so a report written by hand stays consistent.
    """

    cpu_vendor: str | None = None
    cpu_model: str | None = None
    arch: str | None = None
    vmx: bool | None = None
    svm: bool | None = None
    hypervisor_flag: bool | None = None
    kvm_device: str = KVM_ABSENT
    kvm_modules: tuple[str, ...] | None = None
    in_vm: bool | None = None
    hypervisor: str | None = None
    hypervisor_evidence: str | None = None
    container: str | None = None
    nested_pvm: bool | None = None

    def __post_init__(self) -> None:
        if self.kvm_device not in (KVM_ABSENT, KVM_USABLE) and not self.kvm_device.startswith(
            KVM_UNUSABLE_PREFIX
        ):
            raise ValueError(
                f"kvm_device must be {KVM_ABSENT!r}, {KVM_USABLE!r} or start with "
                f"{KVM_UNUSABLE_PREFIX!r}, got {self.kvm_device!r}"
            )

    @property
    def kvm_usable(self) -> bool:
        """True when /dev/kvm exists and opens read-write."""
        return self.kvm_device == KVM_USABLE

    @property
    def x86(self) -> bool | None:
        """True on x86 (the course's guests run natively), None when the architecture is unknown."""
        return None if self.arch is None else self.arch in X86_ARCHES

    @property
    def hardware_assist(self) -> bool | None:
        """True when the CPU offers VT-x or AMD-V (flag, or a vendor module that needs one)."""
        modules = self.kvm_modules or ()
        if self.vmx or self.svm or HARDWARE_KVM_MODULES.intersection(modules):
            return True
        if self.vmx is None and self.svm is None and self.kvm_modules is None:
            return None
        return False

    @property
    def verdict(self) -> str:
        """One of VERDICTS, in words, in the course's language."""
        return _(self.kind)

    @property
    def kind(self) -> str:
        """One of VERDICTS as written in the source (English): the key code compares."""
        if not self.kvm_usable:
            return VERDICT_TCG
        if self.x86 is False:
            return VERDICT_FOREIGN_ARCH
        if self.hardware_assist:
            return VERDICT_HARDWARE
        if self.nested_pvm:
            return VERDICT_PVM
        return VERDICT_KVM_UNKNOWN

    @property
    def verdict_detail(self) -> str:
        """What the verdict means for the course, lessons 07-08 above all."""
        return _DETAILS[self.kind](self)

    def rows(self, *labels: str) -> tuple[tuple[str, str], ...]:
        """(label, value) pairs for a table in the notebook, verdict last, labels in the course's
        language; only the rows whose English label is one of `labels`, when given."""
        if self.kvm_modules is None:
            modules = _("unknown")
        else:
            modules = ", ".join(self.kvm_modules) or _("none")
        if self.hypervisor is not None:
            hypervisor = _(
                "{hypervisor} (from {evidence})",
                hypervisor=self.hypervisor,
                evidence=self.hypervisor_evidence,
            )
        else:
            hypervisor = _("none (bare metal)") if self.in_vm is False else _("unknown")
        pairs = (
            (N_("CPU vendor"), self.cpu_vendor or _("unknown")),
            (N_("CPU model"), self.cpu_model or _("unknown")),
            (N_("Architecture"), self.arch or _("unknown")),
            (N_("VT-x (vmx flag)"), _yes_no(self.vmx)),
            (N_("AMD-V (svm flag)"), _yes_no(self.svm)),
            (N_("hypervisor flag (runs under a hypervisor)"), _yes_no(self.hypervisor_flag)),
            (KVM_DEVICE, _kvm_device_text(self.kvm_device)),
            (N_("KVM modules loaded"), modules),
            (N_("PVM (kvm_pvm loaded)"), _yes_no(self.nested_pvm)),
            (N_("Inside a virtual machine"), _yes_no(self.in_vm)),
            (N_("Hypervisor"), hypervisor),
            (N_("Container"), self.container or _("none found")),
            (N_("Verdict"), self.verdict),
        )
        unknown = set(labels) - {label for label, _value in pairs}
        if unknown:
            allowed = ", ".join(label for label, _value in pairs)
            raise ValueError(f"labels must be among: {allowed}; got {', '.join(sorted(unknown))}")
        shown = [(label, value) for label, value in pairs if not labels or label in labels]
        return tuple((label if label == KVM_DEVICE else _(label), value) for label, value in shown)


def can_run(report: HostReport) -> dict[str, bool | None]:
    """Per technique id in TECHNIQUES: can this machine run it now (None: cannot tell)? Lesson 00.

    PROVIDED_BY says what runs each technique here.
    KVM counts only when /dev/kvm opens and the guests are x86 code this CPU runs; emulation by
    QEMU's TCG is pure software and runs everywhere.
    """
    kvm = report.kvm_usable and report.x86 is not False
    return {
        TECHNIQUE_HARDWARE: report.hardware_assist if kvm else False,
        TECHNIQUE_PVM: report.nested_pvm if kvm else False,
        TECHNIQUE_TCG: True,
    }


def can_run_rows(report: HostReport) -> list[tuple[str, str, bool | None]]:
    """`can_run` as a table's rows, in the course's language: each technique, what provides it
    here, and whether this machine can run it. Lesson 00."""
    return [(_(TECHNIQUE_NAMES[t]), _(PROVIDED_BY[t]), ok) for t, ok in can_run(report).items()]


CLOCK_SOURCES = "sys/devices/system/clocksource/clocksource0/available_clocksource"


def kernel_log(*words: str) -> str:
    """The lines of this machine's kernel log (`dmesg`) that hold one of `words`, or a sentence in
    the course's language saying there are none or the log cannot be read here. Lesson 04."""
    dmesg = shutil.which("dmesg")  # Linux only
    log = subprocess.run([dmesg], capture_output=True, text=True).stdout if dmesg else ""
    found = [line for line in log.splitlines() if any(word in line for word in words)]
    return "\n".join(found) or _(
        "Nothing found, or the log is not readable here (try `sudo dmesg`)."
    )


def clock_sources(root: str | os.PathLike[str] = "/") -> str:
    """The Linux clock sources this machine offers, or a sentence in the course's language saying
    it lists none. Lesson 04."""
    offered = _read(Path(root), CLOCK_SOURCES)
    return ", ".join(offered.split()) if offered else _("this machine lists no Linux clock sources")


def probe(root: str | os.PathLike[str] = "/") -> HostReport:
    """Describe the machine whose file system is at `root` (default: this one). Lesson 00."""
    base = Path(root)
    if not base.is_dir():
        raise ValueError(f"root must be an existing directory, got {str(root)!r}")
    real = base.resolve() == Path("/").resolve()
    cpu = _cpuinfo(base)
    flags = cpu.get("flags")
    flag_set = None if flags is None else set(flags.split())
    modules = _kvm_modules(base)
    vm_id = _detect_virt("--vm") if real else None
    hypervisor, evidence = _hypervisor(base, vm_id)
    hypervisor_flag = None if flag_set is None else "hypervisor" in flag_set
    if hypervisor is not None or hypervisor_flag:
        in_vm = True
    elif hypervisor_flag is False or vm_id == "none":
        in_vm = False
    else:
        in_vm = None
    return HostReport(
        cpu_vendor=cpu.get("vendor_id") or None,
        cpu_model=cpu.get("model name") or None,
        arch=_arch(base, real),
        vmx=None if flag_set is None else "vmx" in flag_set,
        svm=None if flag_set is None else "svm" in flag_set,
        hypervisor_flag=hypervisor_flag,
        kvm_device=_kvm_device(base, real),
        kvm_modules=modules,
        in_vm=in_vm,
        hypervisor=hypervisor,
        hypervisor_evidence=evidence,
        container=_container(base, real),
        nested_pvm=None if modules is None else "kvm_pvm" in modules,
    )


def _read(base: Path, relative: str) -> str | None:
    """The text of a file under `base`, stripped; None when it cannot be read."""
    try:
        with open(base / relative, encoding="utf-8", errors="replace") as f:
            return f.read(MAX_READ).strip()
    except (OSError, ValueError):
        return None


def _listdir(base: Path, relative: str) -> list[str] | None:
    try:
        return os.listdir(base / relative)
    except (OSError, ValueError):
        return None


def _cpuinfo(base: Path) -> dict[str, str]:
    """`key: value` pairs of the first processor in proc/cpuinfo; empty when unreadable."""
    text = _read(base, "proc/cpuinfo") or ""
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def _arch(base: Path, real: bool) -> str | None:
    name = platform.machine() if real else _read(base, "proc/sys/kernel/arch")
    if not name:
        return None
    name = name.strip().lower()
    return ARCH_ALIASES.get(name, name)


def _kvm_modules(base: Path) -> tuple[str, ...] | None:
    """KVM modules from proc/modules and sys/module together (a built-in kvm shows only there)."""
    modules = _read(base, "proc/modules")
    listed = _listdir(base, "sys/module")
    if modules is None and listed is None:
        return None
    names = {line.split()[0] for line in (modules or "").splitlines() if line.strip()}
    names.update(listed or ())
    return tuple(sorted(n for n in names if n == "kvm" or n.startswith("kvm_")))


def _kvm_device(base: Path, real: bool) -> str:
    path = base / "dev" / "kvm"
    try:
        if real:
            os.close(os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0)))
            return KVM_USABLE
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return KVM_ABSENT
    except OSError as error:
        return KVM_UNUSABLE_PREFIX + (error.strerror or str(error))
    if mode & (stat.S_IRUSR | stat.S_IWUSR) == stat.S_IRUSR | stat.S_IWUSR:
        return KVM_USABLE
    return KVM_UNUSABLE_PREFIX + os.strerror(errno.EACCES)


def _detect_virt(option: str) -> str | None:
    """systemd-detect-virt's answer ("none" included), or None when it cannot be asked."""
    command = shutil.which("systemd-detect-virt")
    if command is None:
        return None
    try:
        done = subprocess.run(
            [command, option], capture_output=True, text=True, timeout=DETECT_VIRT_TIMEOUT
        )
    except (OSError, subprocess.SubprocessError):
        return None
    answer = done.stdout.strip()
    return answer or None


def _hypervisor(base: Path, vm_id: str | None) -> tuple[str | None, str | None]:
    """(name, where it was found) of the hypervisor below this machine, or (None, None)."""
    xen = _read(base, "sys/hypervisor/type")
    if xen:
        return ("Xen" if xen.lower() == "xen" else xen), "/sys/hypervisor/type"
    dmi = {field: _read(base, f"sys/class/dmi/id/{field}") or "" for field in DMI_FIELDS}
    if dmi["sys_vendor"].startswith(HYPERV_DMI[0]) and dmi["product_name"] == HYPERV_DMI[1]:
        return "Microsoft Hyper-V", "/sys/class/dmi/id/product_name"
    for field in DMI_FIELDS:
        for prefix, name in DMI_VENDORS:
            if dmi[field].startswith(prefix):
                if name == "Amazon EC2" and EC2_METAL_MARK in dmi["product_name"]:
                    return None, None
                return name, f"/sys/class/dmi/id/{field}"
    cmdline = (_read(base, "proc/cmdline") or "").lower()
    if "firecracker" in cmdline:
        return "Firecracker", "/proc/cmdline"
    if vm_id not in (None, "none"):
        return DETECT_VIRT_NAMES.get(vm_id, vm_id), "systemd-detect-virt"
    return None, None


def _container(base: Path, real: bool) -> str | None:
    answer = _detect_virt("--container") if real else None
    if answer is not None:
        return None if answer == "none" else answer
    for relative, name in CONTAINER_FILES:
        if (base / relative).exists():
            return name
    systemd = _read(base, "run/systemd/container")
    if systemd:
        return systemd
    if "microsoft" in (_read(base, "proc/sys/kernel/osrelease") or "").lower():
        return "wsl"
    return None


def _yes_no(value: bool | None) -> str:
    return _("unknown") if value is None else (_("yes") if value else _("no"))


def _kvm_device_text(kvm_device: str) -> str:
    if kvm_device.startswith(KVM_UNUSABLE_PREFIX):
        reason = kvm_device.removeprefix(KVM_UNUSABLE_PREFIX)
        return _("present, cannot open: {reason}", reason=reason)
    return _(kvm_device)


def _detail_hardware(report: HostReport) -> str:
    assist = "AMD-V" if report.svm else "VT-x"
    text = _(
        "The CPU offers {assist} and /dev/kvm opens: lessons 07-08 run their guest on the real "
        "KVM accelerator, in the CPU's guest mode at native speed, and compare it with QEMU's TCG.",
        assist=assist,
    )
    if not report.in_vm:
        return text
    if report.hypervisor:
        nested = _(
            "This machine is itself a VM under {hypervisor} that passes {assist} through (nested "
            "virtualization): guest code still runs natively, but each VM exit costs more.",
            hypervisor=report.hypervisor,
            assist=assist,
        )
    else:
        nested = _(
            "This machine is itself a VM that passes {assist} through (nested virtualization): "
            "guest code still runs natively, but each VM exit costs more.",
            assist=assist,
        )
    return sentences(text, nested)


def _detail_pvm(report: HostReport) -> str:
    if report.in_vm and report.hypervisor:
        cause = _(
            "/dev/kvm opens, but the CPU offers neither VT-x nor AMD-V: this machine is a VM under "
            "{hypervisor}, and its KVM is PVM (kvm_pvm), which runs guests without hardware "
            "assist.",
            hypervisor=report.hypervisor,
        )
    elif report.in_vm:
        cause = _(
            "/dev/kvm opens, but the CPU offers neither VT-x nor AMD-V: this machine is a VM, and "
            "its KVM is PVM (kvm_pvm), which runs guests without hardware assist."
        )
    else:
        cause = _(
            "/dev/kvm opens, but the CPU offers neither VT-x nor AMD-V: its KVM is PVM (kvm_pvm), "
            "which runs guests without hardware assist."
        )
    return sentences(
        cause,
        _(
            "Lessons 07-08 drive the real /dev/kvm and see real VM exits, but guest code that is "
            "not PVM-aware, such as the lessons' real-mode guest, is emulated by the host, often "
            "more slowly than QEMU's TCG on the same machine (lesson 08 measures both)."
        ),
        _("A laptop with VT-x or AMD-V runs the same guest at native speed."),
    )


def _detail_kvm_unknown(report: HostReport) -> str:
    return _(
        "/dev/kvm opens, but this probe saw no VT-x/AMD-V flag and no kvm_intel, kvm_amd or "
        "kvm_pvm module, so it cannot tell what drives KVM here. Lessons 07-08 use the real KVM "
        "accelerator; time it against QEMU's TCG there to see which kind it is."
    )


def _detail_foreign_arch(report: HostReport) -> str:
    return _(
        "This is a {arch} machine: its KVM runs {arch} guests, while the course's guests are x86 "
        "code. Lessons 07-08 run them through QEMU's TCG (via unicorn), the same emulator lesson "
        "06 uses for foreign CPUs: same results, different speed.",
        arch=report.arch,
    )


def _detail_tcg(report: HostReport) -> str:
    fallback = _(
        "Lessons 07-08 run the same guest through QEMU's TCG (via unicorn) instead of /dev/kvm: "
        "same guest bytes, same results, only the speed differs."
    )
    if report.kvm_device.startswith(KVM_UNUSABLE_PREFIX):
        reason = report.kvm_device.removeprefix(KVM_UNUSABLE_PREFIX)
        return sentences(
            _(
                "/dev/kvm exists but cannot be opened ({reason}). Add your user to the group that "
                "owns it, usually kvm (`sudo usermod -aG kvm $USER`), then log out and in again.",
                reason=reason,
            ),
            fallback,
        )
    if report.hardware_assist:
        cause = _(
            "The CPU offers VT-x or AMD-V but there is no /dev/kvm: load KVM (`sudo modprobe "
            "{module}`) or turn virtualization on in the firmware setup.",
            module="kvm_amd" if report.svm else "kvm_intel",
        )
    elif report.in_vm and report.hypervisor:
        cause = _(
            "This machine is a VM under {hypervisor} whose CPU shows neither VT-x nor AMD-V: the "
            "hypervisor below does not pass them through (no nested virtualization).",
            hypervisor=report.hypervisor,
        )
    elif report.in_vm:
        cause = _(
            "This machine is a VM whose CPU shows neither VT-x nor AMD-V: the hypervisor below "
            "does not pass them through (no nested virtualization)."
        )
    else:
        cause = _("There is no /dev/kvm (KVM is part of Linux and, on x86, needs VT-x or AMD-V).")
    container = ""
    if report.container:
        container = _(
            "Inside a {container} container /dev/kvm appears only when passed in (Docker: "
            "`docker run --device /dev/kvm`).",
            container=report.container,
        )
    return sentences(cause, container, fallback)


_DETAILS = {
    VERDICT_HARDWARE: _detail_hardware,
    VERDICT_PVM: _detail_pvm,
    VERDICT_KVM_UNKNOWN: _detail_kvm_unknown,
    VERDICT_FOREIGN_ARCH: _detail_foreign_arch,
    VERDICT_TCG: _detail_tcg,
}
