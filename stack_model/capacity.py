"""How many gunicorn workers one app host runs.

Each worker is a full copy of the application in memory, so the count follows the
CPU (gunicorn's starting point of 2 x vCPUs + 1) but never past what fits in RAM once
the operating system and Nginx have their share.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Capacity"]


class Capacity(BaseModel):
    """Size of one app host and the memory each worker needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vcpus: int = Field(ge=1, le=512, description="vCPUs of the instance type.")
    memory_mib: int = Field(ge=256, description="Memory of the instance type, in MiB.")
    worker_memory_mib: int = Field(
        default=256,
        ge=32,
        description="Resident memory one worker needs at peak, in MiB. Default 256.",
    )
    reserved_memory_mib: int = Field(
        default=512,
        ge=0,
        description="Memory kept for the OS, Nginx, journald and the gunicorn master, "
        "in MiB. Default 512.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Explicit worker count. Default: computed from CPU and memory; "
        "an explicit count that does not fit in memory is refused.",
    )

    @property
    def cpu_workers(self) -> int:
        """gunicorn's CPU-bound starting point: (2 x vCPUs) + 1."""
        return 2 * self.vcpus + 1

    @property
    def memory_workers(self) -> int:
        """Workers that fit in the memory left after the reserve."""
        return max(0, (self.memory_mib - self.reserved_memory_mib) // self.worker_memory_mib)

    @property
    def worker_count(self) -> int:
        """The number of workers gunicorn is started with."""
        if self.workers is not None:
            return self.workers
        return min(self.cpu_workers, self.memory_workers)

    @model_validator(mode="after")
    def _fits(self) -> Capacity:
        available = self.memory_mib - self.reserved_memory_mib
        if self.memory_workers < 1:
            raise ValueError(
                f"memory_mib={self.memory_mib} leaves {available} MiB after the "
                f"{self.reserved_memory_mib} MiB reserve, less than one worker's "
                f"worker_memory_mib={self.worker_memory_mib}; choose an instance type with "
                f"at least {self.reserved_memory_mib + self.worker_memory_mib} MiB or lower "
                "worker_memory_mib"
            )
        if self.workers is not None and self.workers > self.memory_workers:
            raise ValueError(
                f"workers={self.workers} x worker_memory_mib={self.worker_memory_mib} needs "
                f"{self.workers * self.worker_memory_mib} MiB but memory_mib={self.memory_mib} "
                f"leaves {available} MiB after the {self.reserved_memory_mib} MiB reserve; "
                f"set workers to at most {self.memory_workers}, or leave it unset to compute "
                "it, or choose a larger instance type"
            )
        return self
