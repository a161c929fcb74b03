from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.embed.backends.cpu import cpu_flags, fast_bf16, threads, usable_cores


@pytest.mark.parametrize(
    ("requested", "processes", "cores", "expected"),
    [
        (0, 1, 2, 2),  # the CLI alone on two cores
        (0, 2, 2, 1),  # two Airflow tasks sharing two cores
        (0, 4, 2, 1),  # a Celery pool of 4 on two cores: never less than one
        (0, 2, 16, 8),
        (0, 3, 16, 5),
        (3, 4, 2, 3),  # set: taken as it is
    ],
)
def test_threads_are_the_process_share_of_the_cores(
    requested: int, processes: int, cores: int, expected: int
) -> None:
    assert threads(requested, processes, cores) == expected


def test_usable_cores_is_this_process_affinity() -> None:
    assert 1 <= usable_cores() <= (__import__("os").cpu_count() or 1)


ZEN3 = "flags\t\t: fpu vme avx avx2 fma sha_ni\n"
ZEN4 = "flags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n"
SAPPHIRE = "flags\t\t: fpu avx2 avx512f amx_tile amx_bf16 amx_int8\n"


@pytest.mark.parametrize(
    ("cpuinfo", "bf16"), [(ZEN3, False), (ZEN4, True), (SAPPHIRE, True), ("", False)]
)
def test_bf16_is_detected_from_the_cpu_flags(tmp_path: Path, cpuinfo: str, bf16: bool) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: Some CPU\n" + cpuinfo + "\nprocessor\t: 1\n")
    flags = cpu_flags(path)
    assert ("avx2" in flags) == bool(cpuinfo)
    assert fast_bf16(flags) is bf16


def test_unreadable_cpuinfo_means_no_flags(tmp_path: Path) -> None:
    assert cpu_flags(tmp_path / "missing") == frozenset()
