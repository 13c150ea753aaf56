"""Tests of the host probe (vizlib.system): fake machine trees, plus one run on the real machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vizlib.system import (
    TECHNIQUE_HARDWARE,
    TECHNIQUE_PVM,
    TECHNIQUE_TCG,
    TECHNIQUES,
    VERDICT_FOREIGN_ARCH,
    VERDICT_HARDWARE,
    VERDICT_KVM_UNKNOWN,
    VERDICT_PVM,
    VERDICT_TCG,
    VERDICTS,
    HostReport,
    can_run,
    probe,
)

LAPTOP_FLAGS = "fpu vme de pse tsc msr pae lm sse sse2 ssse3 sse4_1 sse4_2 avx avx2"


def cpuinfo(vendor: str, model: str, flags: str, cpus: int = 2) -> str:
    block = (
        f"processor\t: {{n}}\nvendor_id\t: {vendor}\nmodel name\t: {model}\nflags\t\t: {flags}\n"
    )
    return "\n".join(block.format(n=n) for n in range(cpus))


def make_tree(
    root: Path,
    *,
    cpu: str | None = None,
    modules: tuple[str, ...] | None = None,
    sys_modules: tuple[str, ...] = (),
    dmi: dict[str, str] | None = None,
    hypervisor_type: str | None = None,
    kvm_mode: int | None = None,
    cmdline: str | None = None,
    arch: str | None = None,
    files: dict[str, str | bytes] | None = None,
) -> Path:
    """A fake machine's file system under `root`; kvm_mode None means no dev/kvm."""
    contents: dict[str, str | bytes] = {}
    if cpu is not None:
        contents["proc/cpuinfo"] = cpu
    if modules is not None:
        contents["proc/modules"] = "".join(
            f"{name} 1187840 1 - Live 0xffffffffc0a00000\n" for name in modules
        )
    for field, value in (dmi or {}).items():
        contents[f"sys/class/dmi/id/{field}"] = value + "\n"
    if hypervisor_type is not None:
        contents["sys/hypervisor/type"] = hypervisor_type + "\n"
    if cmdline is not None:
        contents["proc/cmdline"] = cmdline + "\n"
    if arch is not None:
        contents["proc/sys/kernel/arch"] = arch + "\n"
    contents.update(files or {})
    for relative, text in contents.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    for name in sys_modules:
        (root / "sys/module" / name / "parameters").mkdir(parents=True)
    if kvm_mode is not None:
        (root / "dev").mkdir(exist_ok=True)
        (root / "dev/kvm").touch()
        os.chmod(root / "dev/kvm", kvm_mode)
    return root


def intel_laptop(root: Path, **overrides) -> Path:
    options = {
        "cpu": cpuinfo("GenuineIntel", "Intel(R) Core(TM) i7-1165G7", LAPTOP_FLAGS + " vmx ept"),
        "modules": ("kvm_intel", "kvm", "irqbypass", "snd_hda_intel"),
        "sys_modules": ("kvm", "kvm_intel", "snd_hda_intel"),
        "dmi": {"sys_vendor": "LENOVO", "product_name": "20XW0026GE", "bios_vendor": "LENOVO"},
        "kvm_mode": 0o660,
        "arch": "x86_64",
    }
    return make_tree(root, **(options | overrides))


def pvm_cloud_vm(root: Path) -> Path:
    """A cloud VM whose KVM is PVM (nested), under Firecracker, inside Docker."""
    return make_tree(
        root,
        cpu=cpuinfo("GenuineIntel", "Intel(R) Xeon(R) Processor", LAPTOP_FLAGS + " hypervisor"),
        sys_modules=("kvm", "kvm_pvm", "virtio_mmio"),
        kvm_mode=0o600,
        cmdline="console=ttyS0 nested_pvm=1 -- --firecracker-init --addr 0.0.0.0:2024",
        arch="x86_64",
        files={".dockerenv": ""},
    )


def test_intel_laptop_has_hardware_assist(tmp_path):
    report = probe(intel_laptop(tmp_path))
    assert report.cpu_vendor == "GenuineIntel"
    assert report.cpu_model == "Intel(R) Core(TM) i7-1165G7"
    assert report.arch == "x86_64"
    assert (report.vmx, report.svm, report.hypervisor_flag) == (True, False, False)
    assert report.kvm_device == "usable"
    assert report.kvm_modules == ("kvm", "kvm_intel")
    assert (report.in_vm, report.hypervisor, report.container) == (False, None, None)
    assert report.nested_pvm is False
    assert report.verdict == VERDICT_HARDWARE
    assert "VT-x" in report.verdict_detail and "native speed" in report.verdict_detail
    assert can_run(report) == {TECHNIQUE_HARDWARE: True, TECHNIQUE_PVM: False, TECHNIQUE_TCG: True}
    rows = dict(report.rows())
    assert rows["Hypervisor"] == "none (bare metal)"
    assert rows["KVM modules loaded"] == "kvm, kvm_intel"
    assert rows["Verdict"] == VERDICT_HARDWARE


def test_amd_laptop_has_hardware_assist(tmp_path):
    make_tree(
        tmp_path,
        cpu=cpuinfo(
            "AuthenticAMD", "AMD Ryzen 7 5800U with Radeon Graphics", LAPTOP_FLAGS + " svm"
        ),
        modules=("kvm_amd", "kvm", "ccp"),
        kvm_mode=0o660,
    )
    report = probe(tmp_path)
    assert (report.cpu_vendor, report.vmx, report.svm) == ("AuthenticAMD", False, True)
    assert report.kvm_modules == ("kvm", "kvm_amd")
    assert report.verdict == VERDICT_HARDWARE
    assert "AMD-V" in report.verdict_detail
    assert can_run(report)[TECHNIQUE_HARDWARE] is True


def test_nested_pvm_cloud_vm(tmp_path):
    report = probe(pvm_cloud_vm(tmp_path))
    assert (report.vmx, report.svm, report.hypervisor_flag) == (False, False, True)
    assert report.kvm_modules == ("kvm", "kvm_pvm")
    assert report.nested_pvm is True
    assert report.in_vm is True
    assert (report.hypervisor, report.hypervisor_evidence) == ("Firecracker", "/proc/cmdline")
    assert report.container == "docker"
    assert report.verdict == VERDICT_PVM
    assert "Firecracker" in report.verdict_detail and "07-08" in report.verdict_detail
    assert can_run(report) == {TECHNIQUE_HARDWARE: False, TECHNIQUE_PVM: True, TECHNIQUE_TCG: True}
    assert dict(report.rows())["Hypervisor"] == "Firecracker (from /proc/cmdline)"


def test_rows_are_chosen_by_their_english_labels_in_every_language(tmp_path):
    from vizlib.i18n import use

    report = probe(pvm_cloud_vm(tmp_path))
    with use("zh"):
        assert report.kind == VERDICT_PVM and report.verdict != VERDICT_PVM
        assert report.rows("VT-x (vmx flag)", "Verdict") == (
            ("VT-x（vmx 标志）", "否"),
            ("结论", report.verdict),
        )
    with pytest.raises(ValueError, match="labels must be among"):
        report.rows("VT-x")


def test_xen_guest_without_kvm(tmp_path):
    make_tree(
        tmp_path,
        cpu=cpuinfo(
            "GenuineIntel", "Intel(R) Xeon(R) CPU E5-2676 v3", LAPTOP_FLAGS + " hypervisor"
        ),
        hypervisor_type="xen",
        modules=("xen_blkfront", "xen_netfront"),
    )
    report = probe(tmp_path)
    assert (report.hypervisor, report.hypervisor_evidence) == ("Xen", "/sys/hypervisor/type")
    assert report.in_vm is True
    assert report.kvm_modules == ()
    assert report.kvm_device == "absent"
    assert report.verdict == VERDICT_TCG
    assert "nested virtualization" in report.verdict_detail
    assert "TCG" in report.verdict_detail
    assert can_run(report) == {TECHNIQUE_HARDWARE: False, TECHNIQUE_PVM: False, TECHNIQUE_TCG: True}


@pytest.mark.parametrize(
    ("dmi", "hypervisor", "field"),
    [
        ({"sys_vendor": "VMware, Inc.", "product_name": "VMware Virtual Platform"}, "VMware", None),
        ({"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}, "QEMU", None),
        ({"sys_vendor": "QEMU", "product_name": "KVM"}, "KVM", "product_name"),
        ({"sys_vendor": "innotek GmbH", "product_name": "VirtualBox"}, "VirtualBox", None),
        ({"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"},
         "Microsoft Hyper-V", None),
        ({"sys_vendor": "Microsoft Corporation", "product_name": "Surface Laptop 5"}, None, None),
        ({"sys_vendor": "Amazon EC2", "product_name": "m5.large"}, "Amazon EC2", "sys_vendor"),
        ({"sys_vendor": "Amazon EC2", "product_name": "m5.metal"}, None, None),
        ({"sys_vendor": "Google", "product_name": "Google Compute Engine"},
         "Google Compute Engine", "product_name"),
        ({"sys_vendor": "Xen", "product_name": "HVM domU", "bios_vendor": "Xen"}, "Xen", None),
        ({"sys_vendor": "Dell Inc.", "product_name": "XPS 13 9310"}, None, None),
    ],
)  # fmt: skip
def test_hypervisor_from_dmi(tmp_path, dmi, hypervisor, field):
    report = probe(make_tree(tmp_path, dmi=dmi))
    assert report.hypervisor == hypervisor
    if hypervisor is None:
        assert report.hypervisor_evidence is None
    else:
        assert report.hypervisor_evidence.startswith("/sys/class/dmi/id/")
        assert report.in_vm is True
    if field is not None:
        assert report.hypervisor_evidence == f"/sys/class/dmi/id/{field}"


def test_vt_x_without_dev_kvm_says_load_the_module(tmp_path):
    report = probe(
        intel_laptop(tmp_path, kvm_mode=None, modules=("snd_hda_intel",), sys_modules=())
    )
    assert report.kvm_device == "absent"
    assert report.kvm_modules == ()
    assert report.verdict == VERDICT_TCG
    assert "modprobe kvm_intel" in report.verdict_detail
    assert "TCG" in report.verdict_detail
    assert can_run(report) == {TECHNIQUE_HARDWARE: False, TECHNIQUE_PVM: False, TECHNIQUE_TCG: True}


def test_dev_kvm_that_cannot_be_opened_suggests_the_kvm_group(tmp_path):
    report = probe(intel_laptop(tmp_path, kvm_mode=0o000))
    assert report.kvm_device == "present, cannot open: Permission denied"
    assert not report.kvm_usable
    assert report.verdict == VERDICT_TCG
    assert "usermod -aG kvm" in report.verdict_detail
    assert can_run(report)[TECHNIQUE_HARDWARE] is False


def test_container_without_dev_kvm_says_how_to_pass_it_in(tmp_path):
    make_tree(tmp_path, cpu=cpuinfo("GenuineIntel", "x", LAPTOP_FLAGS), files={".dockerenv": ""})
    report = probe(tmp_path)
    assert report.container == "docker"
    assert "--device /dev/kvm" in report.verdict_detail


@pytest.mark.parametrize(
    ("files", "container"),
    [
        ({"run/.containerenv": ""}, "podman"),
        ({"run/systemd/container": "lxc\n"}, "lxc"),
        ({"proc/sys/kernel/osrelease": "5.15.153.1-microsoft-standard-WSL2\n"}, "wsl"),
        ({"proc/sys/kernel/osrelease": "6.8.0-45-generic\n"}, None),
    ],
)
def test_container_from_files(tmp_path, files, container):
    assert probe(make_tree(tmp_path, files=files)).container == container


def test_modules_merge_proc_modules_and_sys_module(tmp_path):
    """A built-in kvm is missing from /proc/modules but has a /sys/module directory."""
    make_tree(tmp_path, modules=("kvm_intel", "e1000e"), sys_modules=("kvm",))
    assert probe(tmp_path).kvm_modules == ("kvm", "kvm_intel")


def test_empty_tree_is_all_unknown(tmp_path):
    report = probe(tmp_path)
    assert report == HostReport()
    assert report.verdict == VERDICT_TCG
    assert "no /dev/kvm" in report.verdict_detail
    assert dict(report.rows())["VT-x (vmx flag)"] == "unknown"
    assert dict(report.rows())["Hypervisor"] == "unknown"


def test_garbled_and_unreadable_files_give_unknowns(tmp_path):
    junk = bytes(range(256)) * 4
    make_tree(
        tmp_path,
        files={
            "proc/modules": junk,
            "proc/cmdline": junk,
            "sys/class/dmi/id/sys_vendor": junk,
            "sys/hypervisor/type": b"\n",
            "run/systemd/container": b"\x00",
            "proc/sys/kernel/arch": b"\n",
        },
    )
    (tmp_path / "proc/cpuinfo").mkdir()  # a directory where a file belongs: unreadable
    (tmp_path / "sys/class/dmi/id/product_name").mkdir()
    report = probe(tmp_path)
    assert (report.cpu_vendor, report.cpu_model, report.arch) == (None, None, None)
    assert (report.vmx, report.svm, report.hypervisor_flag) == (None, None, None)
    assert report.kvm_modules == ()
    assert report.hypervisor is None
    assert report.in_vm is None
    assert report.verdict == VERDICT_TCG
    assert all(isinstance(label, str) and isinstance(value, str) for label, value in report.rows())


def test_cpuinfo_without_separators_is_ignored(tmp_path):
    make_tree(tmp_path, cpu="garbage line\nvendor_id GenuineIntel\nflags vmx\n\x00\xff")
    report = probe(tmp_path)
    assert (report.cpu_vendor, report.vmx) == (None, None)


def test_usable_kvm_of_unknown_kind(tmp_path):
    report = probe(make_tree(tmp_path, kvm_mode=0o600))
    assert report.verdict == VERDICT_KVM_UNKNOWN
    assert can_run(report) == {TECHNIQUE_HARDWARE: None, TECHNIQUE_PVM: None, TECHNIQUE_TCG: True}


def test_kvm_on_another_architecture_cannot_run_x86_guests(tmp_path):
    make_tree(tmp_path, kvm_mode=0o660, arch="aarch64", sys_modules=("kvm",))
    report = probe(tmp_path)
    assert report.arch == "aarch64"
    assert report.verdict == VERDICT_FOREIGN_ARCH
    assert "aarch64" in report.verdict_detail
    assert can_run(report) == {TECHNIQUE_HARDWARE: False, TECHNIQUE_PVM: False, TECHNIQUE_TCG: True}


def test_every_verdict_has_a_distinct_detail_about_lessons_07_08(tmp_path):
    reports = [
        probe(intel_laptop(tmp_path / "laptop")),
        probe(pvm_cloud_vm(tmp_path / "cloud")),
        HostReport(kvm_device="usable"),
        HostReport(kvm_device="usable", arch="aarch64"),
        HostReport(),
    ]
    assert [r.verdict for r in reports] == list(VERDICTS)
    details = [r.verdict_detail for r in reports]
    assert len(set(details)) == len(details)
    assert all("07-08" in detail for detail in details)


def test_report_written_by_hand_checks_kvm_device():
    with pytest.raises(ValueError, match="kvm_device"):
        HostReport(kvm_device="yes")
    assert HostReport(kvm_device="present, cannot open: Operation not permitted").verdict == (
        VERDICT_TCG
    )


def test_root_must_be_a_directory(tmp_path):
    with pytest.raises(ValueError, match="root"):
        probe(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="root"):
        probe(tmp_path / "file")


def test_real_machine():
    report = probe()
    assert report.verdict in VERDICTS
    assert report.verdict_detail
    assert report.kvm_device in ("absent", "usable") or report.kvm_device.startswith(
        "present, cannot open: "
    )
    assert tuple(can_run(report)) == TECHNIQUES
    assert [label for label, _ in report.rows()][-1] == "Verdict"
