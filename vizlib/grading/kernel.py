"""`python -m vizlib.grading.kernel [--memory N ...] -f CONNECTION`: a kernel for graded notebooks.

Sets the sandbox's resource limits on itself (inside the sandbox's user namespace, so the process
count is the sandbox's own), then starts ipykernel. No limit is given for the reference runs: their
kernels take back the address space the grader's pytest call is limited to (`runner.GRADER_MEMORY`).
"""

from __future__ import annotations

import argparse
import resource

LIMITS = {
    "memory": resource.RLIMIT_AS,
    "processes": resource.RLIMIT_NPROC,
    "cpu": resource.RLIMIT_CPU,
    "file_size": resource.RLIMIT_FSIZE,
}


def set_limits(**limits: int | None) -> None:
    """Apply the given limits (names of LIMITS) to this process and its future children."""
    for name, value in limits.items():
        if value is not None:
            resource.setrlimit(LIMITS[name], (value, value))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vizlib.grading.kernel")
    for name in LIMITS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int)
    parser.add_argument("-f", dest="connection_file", required=True)
    args = parser.parse_args(argv)
    set_limits(**{name: getattr(args, name) for name in LIMITS})
    if args.memory is None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance(argv=["-f", args.connection_file])


if __name__ == "__main__":
    main()
