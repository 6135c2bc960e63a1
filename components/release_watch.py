"""ReleaseWatch: `pulumi up` waits until every live host serves the app version it released,
and fails naming the hosts and the reason when one does not.

The hosts follow the release record in the bucket on their own (app_host.release); this
component runs `app_host.release_watch` where `pulumi up` runs, reading the hosts' reports
from the bucket through its public endpoint with a key of its own that may only list the
bucket and read those reports (ObjectStorage `watch_access_key`). It runs again whenever the
release (or its attempt) changes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pulumi
import pulumi_command as command
from pydantic import Field

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token

__all__ = ["ReleaseWatch", "ReleaseWatchArgs", "module_command"]


def module_command(module: str, project_dir: Path | None = None) -> str:
    """A deploy step (a module of this package) as a command line. The interpreter is this
    program's own (it has boto3 and the Volcengine SDK), named relative to the project when the
    virtualenv is inside it, so the command (and the stack's state) is the same on every
    machine that deploys."""
    project_dir = project_dir or Path.cwd()
    python = Path(sys.executable)
    try:
        named = os.path.relpath(python, project_dir) if python.is_relative_to(project_dir) else str(python)
    except ValueError:
        named = str(python)
    return f"{named} -m {module}"


class ReleaseWatchArgs(ComponentArgs):
    app_name: str = Field(description="The app's name on the hosts (appName). Required.")
    release_id: StrInput = Field(description="The release to wait for (ReleaseRecord.id). Required.")
    attempt_id: StrInput = Field(
        description="This attempt of it (ReleaseRecord.attempt_id), which names an abandoned marker. Required."
    )
    endpoint_url: str = Field(description="S3 endpoint of the bucket reachable from here (TOS's public one). Required.")
    bucket: StrInput = Field(description="The bucket the hosts report into. Required.")
    region: str = Field(description="The bucket's region. Required.")
    access_key_id: StrInput = Field(description="A key that may read the hosts' reports (secret). Required.")
    secret_access_key: StrInput = Field(description="Its secret (secret). Required.")
    min_hosts: int = Field(default=1, ge=0, le=100, description="Hosts that must serve it at least. Default 1.")
    timeout_seconds: int = Field(
        default=1200, ge=60, le=7200, description="How long to wait before failing the update. Default 1200."
    )


class ReleaseWatch(pulumi.ComponentResource):
    """A local command, re-run for each new release.

    On delete: nothing to undo.
    """

    output: pulumi.Output[str]

    def __init__(self, name: str, args: ReleaseWatchArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("deploy", "ReleaseWatch"), name, None, opts)
        script = module_command("fastapi_deploy.app_host.release_watch")
        watch = command.local.Command(
            f"{name}-watch",
            create=script,
            update=script,
            environment={
                "RELEASE_APP": args.app_name,
                "RELEASE_ID": args.release_id,
                "RELEASE_ATTEMPT_ID": args.attempt_id,
                "RELEASE_MIN_HOSTS": str(args.min_hosts),
                "RELEASE_TIMEOUT_SECONDS": str(args.timeout_seconds),
                "STORE_KIND": "s3",
                "STORE_ENDPOINT_URL": args.endpoint_url,
                "STORE_BUCKET": args.bucket,
                "STORE_REGION": args.region,
                # TOS's S3 endpoint serves virtual-hosted requests only.
                "STORE_ADDRESSING_STYLE": "virtual",
                "STORE_ACCESS_KEY_ID": pulumi.Output.secret(args.access_key_id),
                "STORE_SECRET_ACCESS_KEY": pulumi.Output.secret(args.secret_access_key),
            },
            # A new version, or a new attempt of the same one.
            triggers=[args.release_id, args.attempt_id],
            opts=child(self),
        )
        self.output = watch.stdout
        self.register_outputs({"output": self.output})
