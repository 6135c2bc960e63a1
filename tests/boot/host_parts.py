"""What the stack does for its hosts, done by the boot tests: ship the artifacts into the
bucket's stand-in and describe the sample app as the stack does."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from fastapi_deploy.app_host.release import ReleaseRecord
from fastapi_deploy.stack_model import AppHostSpec, AppSpec, S3StoreSpec

from .harness import Guest, S3Server

__all__ = [
    "APP_PROJECT",
    "BUILD_REQUIREMENTS",
    "HELLO_PROJECT",
    "publish_for_hosts",
    "publish_release",
    "sample_app_spec",
    "serving_slot",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PROJECT = REPO_ROOT / "app"
HELLO_PROJECT = REPO_ROOT / "tests" / "fixtures" / "hello-app"
# What pip on a host needs to build an app shipped as a source archive (build isolation).
BUILD_REQUIREMENTS = ("setuptools>=70.1", "wheel")


def publish_for_hosts(s3: S3Server, bucket: str, address: str, *, app_project: Path = Path()) -> S3StoreSpec:
    """Do what the stack's HostArtifacts does: put the host tooling (and the app's archive,
    if given) into the bucket at the keys the user data names. Returns the hosts' store as
    reached from `address`."""
    from fastapi_deploy.artifacts import project_artifact, tooling_artifact

    if bucket not in {item["Name"] for item in s3.client().list_buckets()["Buckets"]}:
        s3.create_bucket(bucket)
    artifacts = [tooling_artifact()]
    if app_project != Path():
        artifacts.append(project_artifact(app_project))
    for artifact in artifacts:
        s3.put(bucket, artifact.ref.key, artifact.path.read_bytes())
    return S3StoreSpec(
        endpoint_url=s3.endpoint_for(address),
        bucket=bucket,
        region=s3.region,
        access_key_id=SecretStr(s3.access_key_id),
        secret_access_key=SecretStr(s3.secret_access_key),
        addressing_style="path",
    )


def publish_release(s3: S3Server, spec: AppHostSpec) -> ReleaseRecord:
    """Do what the stack does for an app version: write its release record where the hosts
    of `spec` read it (its app's file must be in the bucket already). Returns the record."""
    from fastapi_deploy.app_host.release import record_key
    from fastapi_deploy.cloud_init.render import release_record

    assert isinstance(spec.store, S3StoreSpec)
    record = release_record(spec)
    s3.put(spec.store.bucket, record_key(spec.app_name), record.to_json().encode())
    return record


def serving_slot(guest: Guest, app_name: str = "api") -> str:
    """The slot (blue, green) Nginx sends the app's requests to on `guest`."""
    from fastapi_deploy.app_host.release import SLOTS, active_link, slot_socket

    target = guest.exec(["readlink", str(active_link(app_name))]).stdout.strip()
    (slot,) = [slot for slot in SLOTS if slot_socket(app_name, slot) == target]
    return slot


def sample_app_spec(package_index_url: str) -> AppSpec:
    """The sample app as the stack ships it: its source archive from the store."""
    from fastapi_deploy.artifacts import project_artifact

    return AppSpec(
        package=project_artifact(APP_PROJECT).ref,
        asgi_path="notes_api.main:app",
        readiness_path="/readyz",
        liveness_path="/healthz",
        migration_command=("notes-api-migrate",),
        package_index_url=package_index_url,
    )
