"""ObjectStorage: a private, encrypted, versioned TOS bucket, and an access key for the app."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable

import pulumi
import pulumi_random as random
import pulumi_volcengine as volcengine
from pydantic import Field, field_validator

from fastapi_deploy.app_host.release import RELEASES_PREFIX, REPORTS_PREFIX
from fastapi_deploy.components._base import ComponentArgs, child, project_token
from fastapi_deploy.stack_model.host_spec import ARTIFACTS_PREFIX, TLS_PREFIX

__all__ = [
    "HOST_PREFIXES",
    "ObjectStorage",
    "ObjectStorageArgs",
    "app_bucket_policy",
    "hosts_bucket_policy",
    "watch_bucket_policy",
]

_BUCKET_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{1,44}$")
_REGION = re.compile(r"^[a-z]{2}-[a-z0-9-]+$")
# What the app may do: objects and listing in this bucket, except under the prefixes the
# stack keeps for its hosts (artifacts they install, the fleet's TLS key).
APP_ACTIONS = (
    "tos:GetObject",
    "tos:PutObject",
    "tos:DeleteObject",
    "tos:ListBucket",
    "tos:HeadBucket",
    "tos:AbortMultipartUpload",
    "tos:ListMultipartUploadParts",
)
HOST_PREFIXES = (ARTIFACTS_PREFIX, TLS_PREFIX, RELEASES_PREFIX, REPORTS_PREFIX)


def _document(statements: list[dict[str, object]]) -> str:
    return json.dumps({"Statement": statements}, separators=(",", ":"))


def app_bucket_policy(bucket_name: str, backups_prefix: str) -> str:
    """IAM policy of the app's key: objects of one bucket, never the hosts' prefixes nor the
    database dumps (which hold every row: the app's key leaking must not leak them, or let
    anyone delete them)."""
    bucket = f"trn:tos:::{bucket_name}"
    return _document(
        [
            {"Effect": "Allow", "Action": list(APP_ACTIONS), "Resource": [bucket, f"{bucket}/*"]},
            {
                "Effect": "Deny",
                "Action": ["tos:*"],
                "Resource": [f"{bucket}/{prefix}*" for prefix in (*HOST_PREFIXES, backups_prefix)],
            },
        ]
    )


def hosts_bucket_policy(bucket_name: str, backups_prefix: str) -> str:
    """IAM policy of the hosts' key: read the artifacts and the release record the stack
    uploads (never write them: a host must not choose what the fleet installs); write their
    release reports; read and write the fleet's shared certificate (and its ACME challenges) and the database dumps (multipart
    for large ones; `app-host restore` reads them back); list key names.

    Listing is there for one reason: S3 answers a GET of a missing key with 403 AccessDenied
    instead of 404 NoSuchKey unless the caller may list the bucket (S3 API reference,
    GetObject, "Permissions"), and the first host must tell "no certificate yet" from "no
    access". Names reveal nothing new: the hosts also hold the app's own key."""
    bucket = f"trn:tos:::{bucket_name}"
    return _document(
        [
            {"Effect": "Allow", "Action": ["tos:ListBucket"], "Resource": [bucket]},
            {
                "Effect": "Allow",
                "Action": ["tos:GetObject"],
                "Resource": [f"{bucket}/{ARTIFACTS_PREFIX}*", f"{bucket}/{RELEASES_PREFIX}*"],
            },
            {
                "Effect": "Allow",
                "Action": ["tos:GetObject", "tos:PutObject"],
                "Resource": [f"{bucket}/{REPORTS_PREFIX}*"],
            },
            {
                "Effect": "Allow",
                "Action": ["tos:GetObject", "tos:PutObject", "tos:DeleteObject"],
                "Resource": [f"{bucket}/{TLS_PREFIX}*"],
            },
            {
                "Effect": "Allow",
                "Action": ["tos:GetObject", "tos:PutObject", "tos:AbortMultipartUpload", "tos:ListMultipartUploadParts"],
                "Resource": [f"{bucket}/{backups_prefix}*"],
            },
        ]
    )


def watch_bucket_policy(bucket_name: str) -> str:
    """IAM policy of the deploy step's key (ReleaseWatch): list the bucket (a missing report
    is a 404, not a 403) and read the hosts' release reports; nothing else. It runs outside
    the VPC, where the hosts' key (which writes the certificate and reads the dumps) has no
    business."""
    bucket = f"trn:tos:::{bucket_name}"
    return _document(
        [
            {"Effect": "Allow", "Action": ["tos:ListBucket"], "Resource": [bucket]},
            {"Effect": "Allow", "Action": ["tos:GetObject"], "Resource": [f"{bucket}/{REPORTS_PREFIX}*"]},
        ]
    )


class ObjectStorageArgs(ComponentArgs):
    region: str = Field(description="Region of the bucket, for the app's endpoint. Required.")
    bucket_name_prefix: str = Field(
        default="",
        description="Start of the bucket name; a random 8-character suffix makes it globally "
        "unique. Default '': the component's name.",
    )
    backups_prefix: str = Field(
        default="backups/",
        description="Key prefix whose objects expire after backups_expire_days. Default backups/.",
    )
    backups_expire_days: int = Field(
        default=30, ge=1, le=36500, description="Days until a backup expires. Default 30."
    )
    noncurrent_version_expire_days: int = Field(
        default=30,
        ge=1,
        le=36500,
        description="Days an overwritten or deleted object version is kept (versioning keeps "
        "them). Default 30.",
    )
    abort_incomplete_uploads_days: int = Field(
        default=7,
        ge=1,
        le=36500,
        description="Days after which unfinished multipart uploads are cleaned up. Default 7.",
    )
    multi_az: bool = Field(
        default=False,
        description="Store objects redundantly across zones. Default false: single-zone "
        "(TOS's default; not every region offers multi-az).",
    )
    app_access_key: bool = Field(
        default=True,
        description="Create an IAM user limited to this bucket, with an access key for the "
        "app. Default true. The secret key is a secret output.",
    )
    watch_access_key: bool = Field(
        default=False,
        description="Create a read-only key for the hosts' release reports, for the deploy "
        "step that waits for a release (ReleaseWatch). Default false.",
    )

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"region={value!r} is not a Volcengine region such as 'cn-beijing'")
        return value

    @field_validator("bucket_name_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not _BUCKET_PREFIX.match(value):
            raise ValueError(
                f"bucket_name_prefix={value!r} must be 2-45 lower case letters, digits and "
                "hyphens (the bucket name adds '-' and 8 characters, within TOS's 63)"
            )
        return value

    @field_validator("backups_prefix")
    @classmethod
    def _backups(cls, value: str) -> str:
        if not value or value.startswith("/") or not value.endswith("/"):
            raise ValueError(
                f"backups_prefix={value!r} must be non-empty, not start with '/' and end with "
                "'/', such as 'backups/'"
            )
        return value


class ObjectStorage(pulumi.ComponentResource):
    """A TOS bucket: private ACL, server-side encryption (AES256), versioning, lifecycle.

    On delete: TOS refuses to delete a bucket that still holds objects, so `pulumi destroy`
    stops at the bucket until it is emptied by hand; Pulumi never deletes objects. The app's
    IAM user and access key are deleted with the stack.
    """

    bucket_name: pulumi.Output[str]
    bucket_s3_endpoint: str
    bucket_s3_public_endpoint: str
    bucket_region: str
    app_access_key_id: pulumi.Output[str]
    app_secret_access_key: pulumi.Output[str]
    hosts_access_key_id: pulumi.Output[str]
    hosts_secret_access_key: pulumi.Output[str]
    watch_access_key_id: pulumi.Output[str]
    watch_secret_access_key: pulumi.Output[str]

    def __init__(
        self, name: str, args: ObjectStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(project_token("storage", "ObjectStorage"), name, None, opts)
        prefix = args.bucket_name_prefix or re.sub(r"[^a-z0-9-]", "-", name.lower())[:45]
        suffix = random.RandomString(
            f"{name}-suffix",
            length=8,
            special=False,
            upper=False,
            min_lower=1,
            opts=child(self),
        )
        bucket_name = suffix.result.apply(lambda value: f"{prefix}-{value}")
        bucket = volcengine.tos.Bucket(
            f"{name}-bucket",
            bucket_name=bucket_name,
            public_acl="private",
            enable_version=True,
            az_redundancy="multi-az" if args.multi_az else "single-az",
            storage_class="STANDARD",
            opts=child(self),
        )
        volcengine.tos.BucketEncryption(
            f"{name}-encryption",
            bucket_name=bucket.bucket_name,
            rule=volcengine.tos.BucketEncryptionRuleArgs(
                apply_server_side_encryption_by_default=volcengine.tos.BucketEncryptionRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256",
                ),
            ),
            opts=child(self),
        )
        volcengine.tos.BucketLifecycle(
            f"{name}-lifecycle",
            bucket_name=bucket.bucket_name,
            rules=[
                volcengine.tos.BucketLifecycleRuleArgs(
                    id="expire-backups",
                    status="Enabled",
                    prefix=args.backups_prefix,
                    expiration=volcengine.tos.BucketLifecycleRuleExpirationArgs(
                        days=args.backups_expire_days
                    ),
                ),
                volcengine.tos.BucketLifecycleRuleArgs(
                    # Versioning keeps every overwritten object; this bounds what it keeps.
                    id="expire-old-versions",
                    status="Enabled",
                    prefix="",
                    non_current_version_expiration=volcengine.tos.BucketLifecycleRuleNonCurrentVersionExpirationArgs(
                        non_current_days=args.noncurrent_version_expire_days
                    ),
                    abort_incomplete_multipart_upload=volcengine.tos.BucketLifecycleRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=args.abort_incomplete_uploads_days
                    ),
                ),
            ],
            opts=child(self),
        )
        self.bucket_name = bucket.bucket_name
        self.bucket_region = args.region
        # The internal (VPC) endpoint: the hosts reach it without a public address.
        self.bucket_s3_endpoint = f"https://tos-s3-{args.region}.ivolces.com"
        # The public one, for what runs outside the VPC (the deploy step's release watch).
        self.bucket_s3_public_endpoint = f"https://tos-s3-{args.region}.volces.com"
        if args.app_access_key:
            self.app_access_key_id, self.app_secret_access_key = self._scoped_key(
                name, "app", prefix, suffix, bucket.bucket_name,
                functools.partial(app_bucket_policy, backups_prefix=args.backups_prefix),
                "App access to its bucket, outside the stack prefixes",
            )  # fmt: skip
        else:
            self.app_access_key_id = pulumi.Output.secret("")
            self.app_secret_access_key = pulumi.Output.secret("")
        self.hosts_access_key_id, self.hosts_secret_access_key = self._scoped_key(
            name, "hosts", prefix, suffix, bucket.bucket_name,
            functools.partial(hosts_bucket_policy, backups_prefix=args.backups_prefix),
            "App hosts, the artifacts, TLS and backups prefixes only",
        )  # fmt: skip
        if args.watch_access_key:
            self.watch_access_key_id, self.watch_secret_access_key = self._scoped_key(
                name, "watch", prefix, suffix, bucket.bucket_name, watch_bucket_policy,
                "The deploy step: reads the hosts' release reports",
            )  # fmt: skip
        else:
            self.watch_access_key_id = pulumi.Output.secret("")
            self.watch_secret_access_key = pulumi.Output.secret("")
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_s3_endpoint": self.bucket_s3_endpoint,
                "bucket_region": self.bucket_region,
                "app_access_key_id": self.app_access_key_id,
                "app_secret_access_key": self.app_secret_access_key,
                "hosts_access_key_id": self.hosts_access_key_id,
                "hosts_secret_access_key": self.hosts_secret_access_key,
                "watch_access_key_id": self.watch_access_key_id,
                "watch_secret_access_key": self.watch_secret_access_key,
            }
        )

    def _scoped_key(
        self,
        name: str,
        role: str,
        prefix: str,
        suffix: random.RandomString,
        bucket_name: pulumi.Output[str],
        policy_for: Callable[[str], str],
        description: str,
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """An IAM user limited by `policy_for(bucket)`, and its access key (secret outputs)."""
        user = volcengine.iam.User(
            f"{name}-{role}-user",
            user_name=suffix.result.apply(lambda value: f"{prefix}-{role}-{value}"),
            description=description,
            opts=child(self),
        )
        policy = volcengine.iam.Policy(
            f"{name}-{role}-policy",
            policy_name=suffix.result.apply(lambda value: f"{prefix}-{role}-{value}"),
            policy_document=bucket_name.apply(policy_for),
            description=description,
            opts=child(self),
        )
        volcengine.iam.UserPolicyAttachment(
            f"{name}-{role}-policy-attachment",
            user_name=user.user_name,
            policy_name=policy.policy_name,
            policy_type="Custom",
            opts=child(self),
        )
        key = volcengine.iam.AccessKey(
            f"{name}-{role}-key",
            user_name=user.user_name,
            status="active",
            opts=child(self, additional_secret_outputs=["secret_access_key"]),
        )
        return pulumi.Output.secret(key.access_key_id), pulumi.Output.secret(key.secret_access_key)
