import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from fastapi_deploy.stack_model import Capacity


def test_cpu_bound_when_memory_is_ample() -> None:
    assert Capacity(vcpus=2, memory_mib=8192).worker_count == 5


def test_memory_caps_the_cpu_rule() -> None:
    # 4 vCPUs would give 9 workers; (2048 - 512) // 256 = 6 fit.
    assert Capacity(vcpus=4, memory_mib=2048).worker_count == 6


def test_seed_example_four_one_gib_workers_on_three_gib_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"workers=4 x worker_memory_mib=1024 needs 4096 MiB.*set workers to at most 2"):
        Capacity(vcpus=2, memory_mib=3072, worker_memory_mib=1024, workers=4)


def test_explicit_count_that_fits_is_kept() -> None:
    assert Capacity(vcpus=2, memory_mib=3072, worker_memory_mib=1024, workers=2).worker_count == 2


def test_size_that_cannot_fit_one_worker_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"memory_mib=768 leaves 256 MiB.*at least 1536 MiB"):
        Capacity(vcpus=1, memory_mib=768, worker_memory_mib=1024)


@pytest.mark.parametrize("field, value", [("vcpus", 0), ("workers", 0), ("memory_mib", 100)])
def test_out_of_range_values_name_the_field(field: str, value: int) -> None:
    values = {"vcpus": 2, "memory_mib": 4096, field: value}
    with pytest.raises(ValueError, match=field):
        Capacity(**values)


@given(
    vcpus=st.integers(1, 64),
    memory_mib=st.integers(256, 262144),
    worker_memory_mib=st.integers(32, 4096),
    reserved=st.integers(0, 2048),
)
def test_computed_count_always_fits_cpu_and_memory(vcpus: int, memory_mib: int, worker_memory_mib: int, reserved: int) -> None:
    try:
        capacity = Capacity(vcpus=vcpus, memory_mib=memory_mib, worker_memory_mib=worker_memory_mib, reserved_memory_mib=reserved)
    except ValidationError:
        assert memory_mib - reserved < worker_memory_mib
        return
    count = capacity.worker_count
    assert 1 <= count <= 2 * vcpus + 1
    assert count * worker_memory_mib + reserved <= memory_mib
