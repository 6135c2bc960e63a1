"""Fixtures for the mock tests. Every test that runs a program gets fresh Pulumi mocks from
`harness.run_program` (the runtime is global state, so runs never share a recorder)."""

from __future__ import annotations

import pytest

from fastapi_deploy.stack_model.host_spec import AppHostSpec
from tests.host_specs import self_signed_spec


@pytest.fixture
def spec() -> AppHostSpec:
    """A complete self-signed app-host spec (the host layer's shared test spec)."""
    return self_signed_spec()
