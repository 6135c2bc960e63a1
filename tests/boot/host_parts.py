"""What the stack does for its hosts, done by the boot tests: ship the artifacts into the
bucket's stand-in and describe the sample app as the stack does."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from fastapi_deploy.stack_model import AppSpec, S3StoreSpec

from .harness import S3Server

__all__ = ["APP_PROJECT", "BUILD_REQUIREMENTS", "HELLO_PROJECT", "publish_for_hosts", "sample_app_spec"]

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
