"""HealthzGate: after a deploy, wait until https://<domain>/healthz answers, or fail the update.

pulumi-command runs the probe on the machine running `pulumi up`, which is what a gate needs:
the deployment is judged from outside, over the same DNS name, TLS and load balancer a client
uses. `--resolve` pins the name to the new address, so the gate works before DNS moves.
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_command as command
from pydantic import Field, field_validator

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token

__all__ = ["PROBE_SCRIPT", "HealthzGate", "HealthzGateArgs"]

_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")

# Bounded: at most `attempts` probes, `interval` seconds apart, each limited by --max-time.
PROBE_SCRIPT = """\
set -u
attempt=1
while [ "$attempt" -le "$HEALTHZ_ATTEMPTS" ]; do
  if curl --fail --silent --show-error --max-time "$HEALTHZ_TIMEOUT" \\
      $HEALTHZ_CURL_OPTIONS --output /dev/null "$HEALTHZ_URL"; then
    echo "healthy after $attempt probe(s): $HEALTHZ_URL"
    exit 0
  fi
  sleep "$HEALTHZ_INTERVAL"
  attempt=$((attempt + 1))
done
echo "no healthy answer from $HEALTHZ_URL after $HEALTHZ_ATTEMPTS probes" >&2
exit 1
"""


class HealthzGateArgs(ComponentArgs):
    domain: str = Field(description="DNS name the app serves; the URL is https://<domain><path>. Required.")
    address: StrInput | None = Field(
        default=None,
        description="Address to send the probes to (the load balancer's or the host's). "
        "Default: none, DNS decides.",
    )
    port: int = Field(default=443, ge=1, le=65535, description="HTTPS port. Default 443.")
    path: str = Field(default="/healthz", description="Health path. Default /healthz.")
    attempts: int = Field(default=30, ge=1, le=360, description="Probes before giving up. Default 30.")
    interval_seconds: int = Field(default=10, ge=1, le=300, description="Pause between probes. Default 10.")
    timeout_seconds: int = Field(default=5, ge=1, le=60, description="Limit per probe. Default 5.")
    verify_tls: bool = Field(
        default=True,
        description="Check the certificate. Default true; false only for self-signed dev hosts.",
    )
    triggers: tuple[Any, ...] = Field(
        default=(),
        description="Values whose change re-runs the gate (a new host, new user data). "
        "Default (): runs on creation only.",
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _DOMAIN.match(value) or "." not in value:
            raise ValueError(f"domain={value!r} is not a DNS name such as 'api.example.com'")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(ch.isspace() for ch in value):
            raise ValueError(f"path={value!r} must start with '/' and contain no spaces")
        return value


class HealthzGate(pulumi.ComponentResource):
    """A local command that probes the health URL with bounded retries.

    On delete: nothing to undo (the delete command is empty).
    """

    healthz_url: str
    probe_output: pulumi.Output[str]

    def __init__(self, name: str, args: HealthzGateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("deploy", "HealthzGate"), name, None, opts)
        port = "" if args.port == 443 else f":{args.port}"
        self.healthz_url = f"https://{args.domain}{port}{args.path}"
        curl_options: pulumi.Output[str] = pulumi.Output.from_input(args.address or "").apply(
            lambda address: " ".join(
                ([f"--resolve {args.domain}:{args.port}:{address}"] if address else [])
                + ([] if args.verify_tls else ["--insecure"])
            )
        )
        probe = command.local.Command(
            f"{name}-probe",
            create=PROBE_SCRIPT,
            update=PROBE_SCRIPT,
            interpreter=["/bin/sh", "-c"],
            environment={
                "HEALTHZ_URL": self.healthz_url,
                "HEALTHZ_ATTEMPTS": str(args.attempts),
                "HEALTHZ_INTERVAL": str(args.interval_seconds),
                "HEALTHZ_TIMEOUT": str(args.timeout_seconds),
                "HEALTHZ_CURL_OPTIONS": curl_options,
            },
            triggers=list(args.triggers),
            opts=child(self),
        )
        self.probe_output = probe.stdout
        self.register_outputs({"healthz_url": self.healthz_url, "probe_output": self.probe_output})
