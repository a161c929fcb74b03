"""What the CPU offers the embedding backends: its cores, and whether it computes in bfloat16.

Pure decisions (``threads``, ``fast_bf16``) on facts read at the edge (``usable_cores``,
``cpu_flags``), so both are tested with any machine's facts.
"""

from __future__ import annotations

import os
from pathlib import Path

BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""CPU flags (as Linux names them) of instructions that multiply bfloat16 natively. Without
one, PyTorch emulates bfloat16 matrix products: 1 GFLOP/s on a Zen 3 core against 90 in fp32
(measured), so bfloat16 there is a hundred times slower, not faster."""


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which a container's cpuset narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads(requested: int, processes: int, cores: int) -> int:
    """Cores one embedding process uses: ``requested``, or (0) its share of ``cores`` among
    ``processes`` embedding processes, at least one.

    Two processes on two cores each taking two threads run four threads on two cores: with
    torch's intra-op threads (the old batches), 3-text calls then took 4.2 times as long as
    with one thread each (measured); with one text per call on each thread a spare thread
    costs little, so the rule errs on the safe side.
    """
    if requested > 0:
        return requested
    return max(1, cores // max(1, processes))


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags, from Linux's ``/proc/cpuinfo``; none where it is unreadable."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def fast_bf16(flags: frozenset[str]) -> bool:
    """Whether a CPU with these flags multiplies bfloat16 natively."""
    return not BF16_FLAGS.isdisjoint(flags)
