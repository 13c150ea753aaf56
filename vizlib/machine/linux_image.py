"""Build lesson 08's Linux guest from the distribution's packages: a kernel and a busybox initramfs.

The kernel is Debian's cloud kernel (`linux-image-cloud-amd64`, a small kernel for virtual
machines whose virtio drivers are modules); busybox comes from `busybox-static`. Both packages are
fetched with `apt-get download` (no root needed) and unpacked with `dpkg-deb -x`, never installed.
The initramfs holds busybox, the virtio modules and the `cpuid` module from the same kernel package
(each after the modules it depends on, read from the module's own `.modinfo`), and `INIT`, a
script that prints what the guest finds and powers off. It is a gzip-compressed cpio archive in
the "newc" format, written here byte by byte with no file of it on disk, so the build needs no
root. Everything lands in `build/guest/` (ignored by git): `vmlinuz`, `initramfs.cpio.gz` and
`guest.json`, which says what they were built from. `python3 scripts/course.py setup` builds it
when it can; `python -m vizlib.machine.linux_image` builds it again (`--record` also refreshes
lesson 08's stored QEMU runs, for machines without QEMU: `linux.record`, `qemu.record_hello_boot`).
"""

from __future__ import annotations

import datetime
import gzip
import json
import lzma
import os
import platform
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from vizlib.course import ROOT

GUEST_DIR = ROOT / "build" / "guest"
KERNEL_FILE, INITRAMFS_FILE, MANIFEST_FILE = "vmlinuz", "initramfs.cpio.gz", "guest.json"
KERNEL_PACKAGE = "linux-image-cloud-amd64"  # Debian's metapackage: it depends on the real one
BUSYBOX_PACKAGE = "busybox-static"  # a busybox that needs no C library in the initramfs
# The modules the guest loads (file names use "-" or "_"; module names "_"): the virtio PCI
# transport and three virtio devices, and cpuid, which lets the guest read CPUID as a file.
MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "virtio_rng", "cpuid")
APT_TIMEOUT = 600.0  # seconds; downloading the kernel package (~27 MB) takes seconds
REPORT = "[guest]"  # the first word of every line INIT prints

# The guest's /init. Every line it prints starts with REPORT; `vizlib.machine.linux` reads them.
INIT = """\
#!/bin/busybox sh
# Lesson 08's guest: report what this kernel found about its machine, then power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "[guest] $*"; }
uptime() { cut -d' ' -f1 /proc/uptime; }
say "init started at $(uptime) s of kernel uptime"
say "kernel: $(uname -r)"
for module in $(cat /modules); do
    insmod "/lib/modules/$module.ko" || say "insmod failed: $module"
done
grep -qw hypervisor /proc/cpuinfo && flag=yes || flag=no
say "cpu flag hypervisor: $flag"
leaf=$(dd if=/dev/cpu/0/cpuid bs=16 skip=67108864 count=1 2>/dev/null | od -An -tx1)
say "cpuid 0x40000000: $(echo $leaf)"
say "hypervisor detected: $(dmesg | grep -o -m1 'Hypervisor detected: .*' | cut -d' ' -f3-)"
clocks=/sys/devices/system/clocksource/clocksource0
say "clocksource: $(cat $clocks/current_clocksource)"
say "clocksources available: $(cat $clocks/available_clocksource)"
for device in /sys/bus/virtio/devices/*; do
    say "virtio device $(cat $device/device): driver $(basename "$(readlink $device/driver)")"
done
say "hardware rng: $(cat /sys/class/misc/hw_random/rng_current)"
say "done at $(uptime) s"
poweroff -f
"""


class GuestBuildError(RuntimeError):
    """The guest cannot be built here; the message says why and what to do. Lesson 08."""


@dataclass(frozen=True)
class Manifest:
    """What a built guest was made from (`guest.json`). Lesson 08."""

    kernel_package: str  # the real package behind KERNEL_PACKAGE, e.g. linux-image-6.1.0-57-...
    kernel_version: str  # its Debian version
    kernel_release: str  # what `uname -r` says in the guest
    busybox_version: str
    modules: tuple[str, ...]  # in the order the guest loads them
    initramfs_bytes: int
    built: str  # ISO date

    @classmethod
    def read(cls, folder: Path = GUEST_DIR) -> Manifest | None:
        """The manifest of the guest in `folder`, or None when none is built there."""
        try:
            fields = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
            manifest = cls(**{**fields, "modules": tuple(fields["modules"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None
        files = (folder / KERNEL_FILE, folder / INITRAMFS_FILE)
        return manifest if all(f.is_file() for f in files) else None


def unavailable_reason() -> str | None:
    """Why the guest cannot be built here (with what to do), or None if it can. Lesson 08."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"building it needs an x86-64 Debian or Ubuntu machine, this is {platform.machine()}"
    missing = [tool for tool in ("apt-get", "apt-cache", "dpkg-deb") if not shutil.which(tool)]
    if missing:
        return f"building it needs Debian's or Ubuntu's {', '.join(missing)}, not found here"
    return None


def build(folder: Path = GUEST_DIR) -> Manifest:
    """Download the packages, make the initramfs and write the guest into `folder`. Lesson 08.

    Raises GuestBuildError when a step fails (the message says which, and why).
    """
    reason = unavailable_reason()
    if reason:
        raise GuestBuildError(reason)
    with tempfile.TemporaryDirectory(prefix="course-guest-") as work:
        work = Path(work)
        kernel_package = _real_kernel_package()
        debs = _download([kernel_package, BUSYBOX_PACKAGE], work)
        tree = work / "tree"
        for deb in debs.values():
            _run(["dpkg-deb", "-x", str(deb), str(tree)], f"unpack {deb.name}")
        kernels = sorted(tree.glob("boot/vmlinuz-*"))
        if not kernels:
            raise GuestBuildError(f"{kernel_package} holds no boot/vmlinuz-*")
        release = kernels[-1].name.removeprefix("vmlinuz-")
        modules = module_load_order(tree / "lib" / "modules" / release, MODULES)
        busybox = (tree / "bin" / "busybox").read_bytes()
        initramfs = make_initramfs(busybox, modules)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kernels[-1], folder / KERNEL_FILE)
        (folder / INITRAMFS_FILE).write_bytes(initramfs)
        manifest = Manifest(
            kernel_package=kernel_package,
            kernel_version=_field(debs[kernel_package], "Version"),
            kernel_release=release,
            busybox_version=_field(debs[BUSYBOX_PACKAGE], "Version"),
            modules=tuple(modules),
            initramfs_bytes=len(initramfs),
            built=datetime.date.today().isoformat(),
        )
        (folder / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def _run(argv: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GuestBuildError(f"could not {what}: {error}") from None
    if done.returncode:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise GuestBuildError(f"could not {what}: {message[-1] if message else 'failed'}")
    return done.stdout


def _real_kernel_package() -> str:
    """The versioned kernel package the metapackage KERNEL_PACKAGE depends on."""
    depends = _run(["apt-cache", "depends", KERNEL_PACKAGE], f"ask apt about {KERNEL_PACKAGE}")
    found = re.findall(r"Depends: (linux-image-\S+)", depends)
    if not found:
        raise GuestBuildError(
            f"apt knows no {KERNEL_PACKAGE} (a Debian package); run `apt-get update` as root, "
            "or use Debian"
        )
    return found[0]


def _download(packages: list[str], folder: Path) -> dict[str, Path]:
    """`apt-get download` each package into `folder` (after `apt-get update` if that fails and
    this is root); {package: .deb}."""
    argv = ["apt-get", "download", "-q", *packages]
    try:
        _run(argv, f"download {' '.join(packages)}", cwd=folder)
    except GuestBuildError:
        if os.geteuid() != 0:
            raise
        _run(["apt-get", "update", "-q"], "update apt's package lists")
        _run(argv, f"download {' '.join(packages)}", cwd=folder)
    debs = {}
    for package in packages:
        matches = sorted(folder.glob(f"{package}_*.deb"))
        if not matches:
            raise GuestBuildError(f"apt-get download left no {package}_*.deb")
        debs[package] = matches[-1]
    return debs


def _field(deb: Path, name: str) -> str:
    return _run(["dpkg-deb", "-f", str(deb), name], f"read {name} of {deb.name}").strip()


# --- kernel modules ------------------------------------------------------------------------------


def modinfo(module: bytes) -> dict[str, str]:
    """The `key=value` fields of a kernel module's `.modinfo` section (ELF64, little-endian), the
    same that `modinfo` prints. Lesson 08."""
    if module[:6] != b"\x7fELF\x02\x01":
        raise ValueError("module must be a 64-bit little-endian ELF file (an x86-64 .ko)")
    (section_table,) = struct.unpack_from("<Q", module, 0x28)
    entry_size, count, names_index = struct.unpack_from("<HHH", module, 0x3A)

    def section(index: int) -> tuple[int, int, int]:  # (name offset, file offset, size)
        fields = struct.unpack_from("<IIQQQQIIQQ", module, section_table + index * entry_size)
        return fields[0], fields[4], fields[5]

    names = section(names_index)[1]
    for index in range(count):
        name, offset, size = section(index)
        if module[names + name : module.index(b"\0", names + name)] == b".modinfo":
            fields: dict[str, str] = {}
            for item in module[offset : offset + size].split(b"\0"):
                key, equals, value = item.partition(b"=")
                if equals:  # a key may repeat (alias=...): the first one is kept
                    fields.setdefault(key.decode(), value.decode(errors="replace"))
            return fields
    return {}


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix != ".ko":
        raise GuestBuildError(f"{path.name}: only .ko, .ko.xz and .ko.gz modules can be read")
    return data


def module_load_order(tree: Path, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """The modules of `wanted`, each after those it depends on, from the module tree of one kernel
    (`lib/modules/<release>`): {name: uncompressed module}. Built-in ones are left out. Lesson 08.
    """
    builtin_list = tree / "modules.builtin"
    builtin = builtin_list.read_text().split() if builtin_list.exists() else []
    builtin_names = {Path(line).name.split(".")[0].replace("-", "_") for line in builtin}
    files = {
        path.name.split(".")[0].replace("-", "_"): path for path in (tree / "kernel").rglob("*.ko*")
    }
    order: dict[str, bytes] = {}

    def add(name: str, needed_by: str) -> None:
        if name in order or name in builtin_names:
            return
        if name not in files:
            raise GuestBuildError(f"the kernel package has no module {name} ({needed_by})")
        module = _read_module(files[name])
        for dependency in filter(None, modinfo(module).get("depends", "").split(",")):
            add(dependency, f"needed by {name}")
        order[name] = module

    for name in wanted:
        add(name, "one of the guest's modules")
    return order


# --- the initramfs -------------------------------------------------------------------------------


def _cpio_entry(name: str, mode: int, data: bytes = b"", device: tuple[int, int] = (0, 0)) -> bytes:
    """One member of a "newc" cpio archive: a 110-byte header of 13 hex fields, the name, the
    data, each padded to 4 bytes (the format the kernel unpacks an initramfs from)."""
    fields = (0, mode, 0, 0, 1, 0, len(data), 0, 0, *device, len(name) + 1, 0)
    header = b"070701" + b"".join(b"%08X" % value for value in fields)
    head = header + name.encode() + b"\0"
    return head + b"\0" * (-len(head) % 4) + data + b"\0" * (-len(data) % 4)


def make_initramfs(busybox: bytes, modules: dict[str, bytes], init: str = INIT) -> bytes:
    """The guest's initramfs: busybox, `modules` (loaded in this order by `init`), /init and a
    console device, as a gzip-compressed newc cpio archive. The same inputs give the same bytes.
    Lesson 08."""
    directory, regular = stat.S_IFDIR | 0o755, stat.S_IFREG
    members = [_cpio_entry(d, directory) for d in ("bin", "dev", "proc", "sys", "lib")]
    members.append(_cpio_entry("lib/modules", directory))
    members.append(_cpio_entry("dev/console", stat.S_IFCHR | 0o600, device=(5, 1)))  # tty: 5, 1
    members.append(_cpio_entry("bin/busybox", regular | 0o755, busybox))
    for name, module in modules.items():
        members.append(_cpio_entry(f"lib/modules/{name}.ko", regular | 0o644, module))
    members.append(_cpio_entry("modules", regular | 0o644, "\n".join(modules).encode() + b"\n"))
    members.append(_cpio_entry("init", regular | 0o755, init.encode()))
    members.append(_cpio_entry("TRAILER!!!", 0))
    return gzip.compress(b"".join(members), mtime=0)


def main(argv: list[str]) -> int:
    """`python -m vizlib.machine.linux_image [--record]`: build the guest (and record the stored
    boot log). Lesson 08."""
    if argv not in ([], ["--record"]):
        print("usage: python -m vizlib.machine.linux_image [--record]", file=sys.stderr)
        return 2
    try:
        manifest = build()
    except GuestBuildError as error:
        print(f"[guest] not built: {error}", file=sys.stderr)
        return 1
    print(
        f"[guest] built {manifest.kernel_package} {manifest.kernel_version} with busybox "
        f"{manifest.busybox_version} into {GUEST_DIR.relative_to(ROOT)}/"
    )
    if argv == ["--record"]:
        from vizlib.machine import linux, qemu

        for path in (linux.record(), qemu.record_hello_boot()):
            print(f"[guest] recorded {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
