"""HostArtifacts: the files app hosts install, uploaded to the stack's bucket.

The host tooling (always) and the app's package (when the app ships as a file) go to their
content-addressed keys (`artifacts/<sha256>/<name>`), where hosts fetch them and check the
digest the user data or the release record names. The release record (the app version the
hosts run, app_host.release) is one more object, rewritten in place when the version changes:
the hosts follow it without being replaced. One HostArtifacts per bucket: the objects belong
to it.
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_volcengine as volcengine
from pydantic import Field

from fastapi_deploy.app_host.release import ReleaseRecord, record_key
from fastapi_deploy.artifacts import LocalArtifact, tooling_artifact
from fastapi_deploy.cloud_init.render import release_record
from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token, secret
from fastapi_deploy.components._user_data import HostSpecInput

__all__ = ["HostArtifacts", "HostArtifactsArgs"]


class HostArtifactsArgs(ComponentArgs):
    bucket_name: StrInput = Field(description="Bucket the hosts' store is in. Required.")
    artifacts: tuple[LocalArtifact, ...] = Field(
        default=(),
        description="Files to ship besides the host tooling, such as the app's package "
        "(fastapi_deploy.artifacts.project_artifact or file_artifact). Default (): the tooling only.",
    )
    host_spec: HostSpecInput | None = Field(
        default=None,
        description="The spec (or an Output of one) the hosts boot from: its app version is "
        "written as the release record the hosts follow (app_host.release). Default None: no "
        "record, and hosts booted from such a spec wait for one.",
    )


class HostArtifacts(pulumi.ComponentResource):
    """One private, encrypted object per artifact.

    A new build of an artifact is a new key; the object of the old build is deleted once
    nothing in the stack names it any more. On delete: the objects are deleted.
    """

    object_keys: list[str]
    # The release record written (app_host.release), when a host spec was given: what the
    # deploy step waits for is what the hosts read.
    release: pulumi.Output[ReleaseRecord] | None

    def __init__(self, name: str, args: HostArtifactsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("storage", "HostArtifacts"), name, None, opts)
        shipped = {item.ref.key: item for item in (tooling_artifact(), *args.artifacts)}
        self.object_keys = sorted(shipped)
        uploads = []
        for key in self.object_keys:
            artifact = shipped[key]
            upload = volcengine.tos.BucketObject(
                # Named by the file name: a rebuilt artifact replaces this resource (new key
                # first, the old object deleted once the hosts' configuration names the new one).
                f"{name}-{artifact.ref.name}",
                bucket_name=args.bucket_name,
                object_name=key,
                file_path=str(artifact.path),
                # The provider re-uploads only when an input changes and never hashes the file;
                # TOS checks the body against this digest.
                content_md5=hashlib.md5(artifact.path.read_bytes()).hexdigest(),
                content_type="application/octet-stream",
                encryption="AES256",
                public_acl="private",
                opts=child(self),
            )
            uploads.append(upload)
        self.release = None
        if args.host_spec is not None:
            spec = pulumi.Output.from_input(args.host_spec)
            self.release = spec.apply(release_record)
            # Updated in place when the version changes: the provider rewrites an object whose
            # content changed and replaces it only for a new key (terraform-provider-volcengine,
            # volcengine/tos/object: object_name ForceNew, content updated by ModifyResource).
            # JSON, so the provider reads the content back and sees drift.
            volcengine.tos.BucketObject(
                f"{name}-release",
                bucket_name=args.bucket_name,
                object_name=spec.apply(lambda value: record_key(value.app_name)),
                # Secret: the spec is, and the record may name a private index with its password.
                content=secret(self.release.apply(lambda record: record.to_json())),
                content_type="application/json",
                encryption="AES256",
                public_acl="private",
                # After the files it names: a host reading a new record finds its artifact.
                opts=child(self, depends_on=uploads),
            )
        self.register_outputs({"object_keys": self.object_keys})
