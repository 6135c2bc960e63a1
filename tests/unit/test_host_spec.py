from typing import Any

import pytest
from pydantic import ValidationError

from fastapi_deploy.stack_model import AcmeCertificates, AppSpec, Capacity, ObjectStorageSpec
from tests.host_specs import acme_spec, sample_app


def test_spec_defaults() -> None:
    spec = acme_spec()
    assert spec.app_name == "api" and spec.admin_user == "ops"
    assert spec.domains == ("api.example.test", "www.example.test")
    # An app spec has no source, ASGI path or readiness path of its own: nothing to guess.
    assert AppSpec.model_fields["asgi_path"].is_required()
    assert AppSpec.model_fields["readiness_path"].is_required()
    assert AppSpec.model_fields["migration_command"].default is None


def test_an_app_has_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="exactly one source"):
        sample_app(package=None)
    with pytest.raises(ValidationError, match="exactly one source"):
        sample_app(requirement="notes-api==0.1.0")
    assert sample_app(package=None, requirement="notes-api==0.1.0").requirement == "notes-api==0.1.0"


@pytest.mark.parametrize("requirement", ["notes-api", "notes-api>=0.1", "notes-api==0.*", "notes-api @ https://x.test/a.whl", "notes-api==1,!=2"])
def test_a_requirement_must_pin_one_version(requirement: str) -> None:
    with pytest.raises(ValidationError, match="is not pinned to one version; pin it exactly"):
        sample_app(package=None, requirement=requirement)


def test_domains_are_normalised() -> None:
    assert acme_spec(domains=["API.Example.Test."]).domains == ("api.example.test",)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"domains": ["localhost"]}, r"'localhost' is not a fully qualified domain name; use a name such as"),
        ({"domains": ["*.example.com"]}, r"no wildcards"),
        ({"domains": []}, r"domains"),
        ({"domains": ["a.example.com", "A.example.com"]}, r"lists a name twice"),
        ({"database_url": "mysql://u:p@h/db"}, r"database_url has scheme 'mysql'; use 'postgresql://"),
        ({"database_url": "postgresql://u:p@h"}, r"needs a host and a database name"),
        ({"app_name": "My App"}, r"'My App' must be 3-32 lower case letters"),
        ({"admin_ssh_keys": ["ssh-ed25519 bm90IGEga2V5"]}, r"not an OpenSSH public key: its base64 body"),
        ({"admin_ssh_keys": ["ssh-dss AAAA"]}, r"must start with one of ssh-ed25519"),
        ({"admin_user": "api"}, r"admin_user and app_name are both 'api'"),
        ({"max_body_size_mib": 0}, r"max_body_size_mib"),
        ({"certificates": {"kind": "acme", "contact_email": "nobody"}}, r"contact_email='nobody' is not an email address"),
        ({"certificates": {"kind": "acme", "contact_email": "a@b.co", "directory_url": "http://ca.test/dir"}}, r"directory_url='http://ca.test/dir' must be an absolute https:// URL"),
        ({"certificates": {"kind": "acme", "contact_email": "a@b.co", "ca_bundle_pem": "hello"}}, r"ca_bundle_pem does not contain a PEM certificate"),
        ({"certificates": {"kind": "letsencrypt-magic"}}, r"certificates"),
        ({"unknown_field": 1}, r"unknown_field"),
    ],
)
def test_bad_host_values_are_refused_with_a_fix(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        acme_spec(**overrides)


@pytest.mark.parametrize(
    "app, message",
    [
        ({"package": None, "requirement": "notes api ==="}, r"requirement='notes api ===' is not a pip requirement"),
        ({"readiness_path": "readyz"}, r"readiness_path='readyz' must be a URL path starting with '/'"),
        ({"package": {"name": "../evil.whl", "sha256": "0" * 64}}, r"artifact name '../evil.whl' must be a plain file name"),
        ({"package": {"name": "a.whl", "sha256": "ABC"}}, r"sha256='ABC' is not 64 lower-case hex digits"),
        ({"timeout_seconds": 1}, r"timeout_seconds"),
        ({"asgi_path": "notes_api.main"}, r"asgi_path='notes_api.main' must be 'package.module:attribute'"),
        ({"package_index_url": "ftp://mirror/simple"}, r"package_index_url='ftp://mirror/simple' must be an absolute https:// or http:// URL"),
        ({"env": {"lower": "x"}}, r"name 'lower' must be upper case"),
        ({"env": {"DATABASE_URL": "x"}}, r"'DATABASE_URL' is set by the host itself"),
        ({"secret_env": {"TOKEN": "a\nb"}}, r"'TOKEN' contains a line break"),
        ({"env": {"TOKEN": "a"}, "secret_env": {"TOKEN": "b"}}, r"\['TOKEN'\] are in both env and secret_env"),
        ({"migration_command": ["alembic", "upgrade; rm -rf /"]}, r"must be a non-empty list of plain words"),
        ({"migration_command": []}, r"must be a non-empty list"),
    ],
)
def test_bad_app_values_are_refused_with_a_fix(app: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        sample_app(**app)


def test_private_acme_ca_is_accepted() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    certificates = AcmeCertificates(contact_email="ops@example.test", directory_url="https://127.0.0.1:14000/dir", ca_bundle_pem=pem)
    assert acme_spec(certificates=certificates).certificates.kind == "acme"


def test_secrets_do_not_show_in_repr() -> None:
    spec = acme_spec(
        object_storage=ObjectStorageSpec(endpoint_url="https://tos-s3.example.test", bucket="notes-bucket", region="cn-beijing", access_key_id="AKID", secret_access_key="very-secret"),
        app=sample_app(secret_env={"API_TOKEN": "token-value"}),
    )
    text = repr(spec) + str(spec)
    for secret in ("secret-pw", "very-secret", "token-value", "AKID"):
        assert secret not in text


def test_capacity_errors_surface_through_the_spec() -> None:
    with pytest.raises(ValidationError, match="set workers to at most 2"):
        acme_spec(capacity={"vcpus": 2, "memory_mib": 3072, "worker_memory_mib": 1024, "workers": 4})
    assert acme_spec(capacity=Capacity(vcpus=1, memory_mib=2048)).worker_count == 3
