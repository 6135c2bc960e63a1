"""The CrossGuard policy pack: fastapi-deploy's invariants, mandatory.

    pulumi preview --stack prod --policy-pack policy

The checks are `fastapi_deploy.policies` (plain functions, unit-tested and shared with the
offline plan); this file only adapts them to pulumi-policy.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The pack runs from its own virtualenv; the policies are read from the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import PolicyPack

from policy.adapter import policies

PolicyPack(name="fastapi-deploy", policies=policies())
