"""This machine's capacity (cpu, memory, GPUs) and the slots running attempts hold.

A step's `resources` are requests, as in Kubernetes: a step starts only when the host
has them free. A request larger than the whole host is capped to the host (the step then
runs alone) rather than waiting forever; the run says so. A step that asks for no GPU
sees none (CUDA_VISIBLE_DEVICES=""), as a pod without a GPU request would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal

from orch.core.spec import Resources
from orch.core.units import quantity_value


@dataclass(frozen=True)
class Request:
    cpu: Decimal = Decimal(0)
    memory: Decimal = Decimal(0)
    gpu: int = 0


@dataclass
class Host:
    cpu: Decimal
    memory: Decimal
    gpus: list[str]
    used_cpu: Decimal = Decimal(0)
    used_memory: Decimal = Decimal(0)
    free_gpus: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.free_gpus = list(self.gpus)

    @classmethod
    def detect(cls) -> "Host":
        return cls(Decimal(os.cpu_count() or 1), Decimal(_memory_bytes()), _gpus())

    def request(self, resources: Resources | None) -> tuple[Request, list[str]]:
        """What a step may hold here, and what was capped to fit this host."""
        if resources is None:
            return Request(), []
        cpu = quantity_value(resources.cpu) if resources.cpu else Decimal(0)
        memory = quantity_value(resources.memory) if resources.memory else Decimal(0)
        gpu = resources.gpu or 0
        notes = []
        if cpu > self.cpu:
            notes.append(f"cpu {resources.cpu} capped to this host's {self.cpu}")
            cpu = self.cpu
        if memory > self.memory:
            notes.append(f"memory {resources.memory} capped to this host's {_gib(self.memory)}")
            memory = self.memory
        if gpu > len(self.gpus):
            notes.append(f"gpu {gpu} capped to this host's {len(self.gpus)}" + ("" if self.gpus else ": it runs without a GPU"))
            gpu = len(self.gpus)
        return Request(cpu, memory, gpu), notes

    def fits(self, request: Request) -> bool:
        return (self.used_cpu + request.cpu <= self.cpu and self.used_memory + request.memory <= self.memory
                and request.gpu <= len(self.free_gpus))

    def take(self, request: Request) -> list[str]:
        """Hold the request's slots; return the GPUs it gets."""
        self.used_cpu += request.cpu
        self.used_memory += request.memory
        gpus, self.free_gpus = self.free_gpus[: request.gpu], self.free_gpus[request.gpu:]
        return gpus

    def give_back(self, request: Request, gpus: list[str]) -> None:
        self.used_cpu -= request.cpu
        self.used_memory -= request.memory
        free = set(self.free_gpus) | set(gpus)
        self.free_gpus = [gpu for gpu in self.gpus if gpu in free]  # lowest devices first, always


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 << 30


def _gpus() -> list[str]:
    """GPUs this process may use: CUDA_VISIBLE_DEVICES if set, else those nvidia-smi lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _gib(value: Decimal) -> str:
    return f"{value / (1 << 30):.1f}Gi"
