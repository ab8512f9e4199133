"""``ml.*`` instance types of instance-based (real-time) variants and what each reserves.

A replica of an instance-based variant stands for one instance: it reserves the type's
vCPUs, memory and GPUs as Ray resources. CPU families follow AWS's size ladder
(``large`` = 2 vCPUs, ``xlarge`` = 4, ``Nxlarge`` = 4N) with a fixed memory per vCPU;
GPU types, whose GPU counts do not follow the ladder, are listed one by one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceSpec:
    """What one instance of a type offers: vCPUs, memory in GiB and GPUs."""

    vcpus: int
    memory_gib: float
    gpus: int = 0

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * 1024**3)


# CPU families: GiB of memory per vCPU (AWS: m = general purpose, c = compute, r = memory).
_GIB_PER_VCPU: dict[str, float] = {
    **{f: 4.0 for f in ("m4", "m5", "m5d", "m6i", "m7i", "m6g", "m6gd", "m8g")},
    **{f: 2.0 for f in ("c5", "c5d", "c6i", "c7i", "c6g", "c6gd", "c6gn", "c7g", "c8g", "c6in")},
    "c4": 1.875,
    **{f: 8.0 for f in ("r5", "r5d", "r6i", "r7i", "r6g", "r6gd", "r7gd", "r8g")},
}

# Sizes of the CPU families that AWS offers for hosting, by family.
_STANDARD_SIZES = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
_SIZES: dict[str, tuple[str, ...]] = {
    "m4": ("xlarge", "2xlarge", "4xlarge", "10xlarge", "16xlarge"),
    "m5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "m5d": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "c4": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge"),
    "c5": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "c5d": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "r5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "r5d": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    **{f: _STANDARD_SIZES + ("32xlarge",) for f in ("m6i", "c6i", "r6i", "c6in")},
    **{f: _STANDARD_SIZES + ("48xlarge",) for f in ("m7i", "c7i", "r7i")},
    **{f: _STANDARD_SIZES[:-1] for f in ("m6g", "m6gd", "c6g", "c6gd", "c6gn", "c7g", "r6g", "r6gd")},
    "r7gd": ("medium",) + _STANDARD_SIZES[:-1],
    **{f: ("medium",) + _STANDARD_SIZES + ("48xlarge",) for f in ("m8g", "c8g", "r8g")},
}

_EXPLICIT: dict[str, InstanceSpec] = {
    # burstable
    "ml.t2.medium": InstanceSpec(2, 4),
    "ml.t2.large": InstanceSpec(2, 8),
    "ml.t2.xlarge": InstanceSpec(4, 16),
    "ml.t2.2xlarge": InstanceSpec(8, 32),
    "ml.c4.8xlarge": InstanceSpec(36, 60),
    # NVIDIA GPUs
    "ml.g4dn.xlarge": InstanceSpec(4, 16, 1),
    "ml.g4dn.2xlarge": InstanceSpec(8, 32, 1),
    "ml.g4dn.4xlarge": InstanceSpec(16, 64, 1),
    "ml.g4dn.8xlarge": InstanceSpec(32, 128, 1),
    "ml.g4dn.12xlarge": InstanceSpec(48, 192, 4),
    "ml.g4dn.16xlarge": InstanceSpec(64, 256, 1),
    **{f"ml.{family}.{size}": spec for family in ("g5", "g6") for size, spec in {
        "xlarge": InstanceSpec(4, 16, 1),
        "2xlarge": InstanceSpec(8, 32, 1),
        "4xlarge": InstanceSpec(16, 64, 1),
        "8xlarge": InstanceSpec(32, 128, 1),
        "12xlarge": InstanceSpec(48, 192, 4),
        "16xlarge": InstanceSpec(64, 256, 1),
        "24xlarge": InstanceSpec(96, 384, 4),
        "48xlarge": InstanceSpec(192, 768, 8),
    }.items()},
    "ml.g6e.xlarge": InstanceSpec(4, 32, 1),
    "ml.g6e.2xlarge": InstanceSpec(8, 64, 1),
    "ml.g6e.4xlarge": InstanceSpec(16, 128, 1),
    "ml.g6e.8xlarge": InstanceSpec(32, 256, 1),
    "ml.g6e.12xlarge": InstanceSpec(48, 384, 4),
    "ml.g6e.16xlarge": InstanceSpec(64, 512, 1),
    "ml.g6e.24xlarge": InstanceSpec(96, 768, 4),
    "ml.g6e.48xlarge": InstanceSpec(192, 1536, 8),
    "ml.p2.xlarge": InstanceSpec(4, 61, 1),
    "ml.p2.8xlarge": InstanceSpec(32, 488, 8),
    "ml.p2.16xlarge": InstanceSpec(64, 732, 16),
    "ml.p3.2xlarge": InstanceSpec(8, 61, 1),
    "ml.p3.8xlarge": InstanceSpec(32, 244, 4),
    "ml.p3.16xlarge": InstanceSpec(64, 488, 8),
    "ml.p4d.24xlarge": InstanceSpec(96, 1152, 8),
    "ml.p4de.24xlarge": InstanceSpec(96, 1152, 8),
    "ml.p5.48xlarge": InstanceSpec(192, 2048, 8),
}

# Families whose accelerators are not GPUs (AWS Inferentia, Trainium, Habana Gaudi).
NON_GPU_ACCELERATOR_FAMILIES = ("inf1", "inf2", "trn1", "trn1n", "trn2", "dl1")

_SIZE = re.compile(r"^(\d+)?(medium|large|xlarge)$")


def _ladder_vcpus(size: str) -> int:
    match = _SIZE.match(size)
    if match is None:
        raise ValueError(size)
    multiple, base = match.groups()
    per = {"medium": 1, "large": 2, "xlarge": 4}[base]
    return per * int(multiple or 1)


def _build() -> dict[str, InstanceSpec]:
    table: dict[str, InstanceSpec] = {}
    for family, sizes in _SIZES.items():
        for size in sizes:
            vcpus = _ladder_vcpus(size)
            table[f"ml.{family}.{size}"] = InstanceSpec(vcpus, vcpus * _GIB_PER_VCPU[family])
    table.update(_EXPLICIT)
    return table


INSTANCE_TYPES: dict[str, InstanceSpec] = _build()


def lookup(instance_type: str) -> InstanceSpec | None:
    """The resources of ``instance_type``, or None if this platform does not know it."""
    return INSTANCE_TYPES.get(instance_type)


def is_gpu(instance_type: str) -> bool:
    spec = lookup(instance_type)
    return spec is not None and spec.gpus > 0


def family(instance_type: str) -> str:
    """``ml.g5.xlarge`` → ``g5`` (empty if the name has no family part)."""
    parts = instance_type.split(".")
    return parts[1] if len(parts) == 3 else ""
