"""The shared store: the stack's bucket (S3-compatible: TOS in production) or, on a dev host,
a local directory the platform fills.

Keys are '/'-separated. `get` returns None for a missing key and raises StoreUnavailable when
the store cannot be asked (network, credentials, server errors): callers keep what they have
and say why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .config import StoreConfig

__all__ = ["LocalStore", "S3Store", "Store", "StoreUnavailable", "open_store"]

TIMEOUT_SECONDS = 10


# What S3-compatible servers answer for a key that does not exist.
_MISSING = ("NoSuchKey", "404", "NotFound")


class StoreUnavailable(Exception):
    """The store could not be reached or refused the request."""


class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def delete(self, key: str) -> None: ...

    def put_file(self, key: str, path: Path) -> None:
        """Upload a file without holding it in memory (backups can be large)."""
        ...

    def get_file(self, key: str, path: Path) -> bool:
        """Download to `path`; False when there is no such object."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Keys that start with `prefix`, sorted."""
        ...

    def describe(self) -> str: ...


class LocalStore:
    """A directory used as the store (dev hosts: the platform uploads files into it)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"store key {key!r} is not a plain relative path")
        return self.root.joinpath(*parts)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreUnavailable(f"{self.describe()}: {key}: {error.strerror}") from None

    def _replace(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        """Write `key` through a temporary file beside it, so readers see old or new only."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
            with os.fdopen(handle, "wb") as out:
                write(out)
            os.replace(partial, path)
        except OSError as error:
            raise StoreUnavailable(f"{self.describe()}: {key}: {error.strerror}") from None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._replace(key, lambda out: out.write(data))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def put_file(self, key: str, path: Path) -> None:
        def copy(out: BinaryIO) -> None:
            with path.open("rb") as source:
                shutil.copyfileobj(source, out)

        self._replace(key, copy)

    def get_file(self, key: str, path: Path) -> bool:
        try:
            shutil.copyfile(self._path(key), path)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise StoreUnavailable(f"{self.describe()}: {key}: {error.strerror}") from None
        return True

    def keys(self, prefix: str) -> list[str]:
        try:
            found = [path.relative_to(self.root).as_posix() for path in self.root.rglob("*") if path.is_file()]
        except OSError as error:
            raise StoreUnavailable(f"{self.describe()}: list {prefix}: {error.strerror}") from None
        return sorted(key for key in found if key.startswith(prefix) and not key.rsplit("/", 1)[-1].startswith(".partial-"))

    def describe(self) -> str:
        return f"local store {self.root}"


class S3Store:
    """An S3-compatible bucket. Objects are written with server-side encryption."""

    def __init__(self, config: StoreConfig, client: Any = None) -> None:
        self.bucket = config.bucket
        self.endpoint_url = config.endpoint_url
        self._client = client or _client(config)

    def get(self, key: str) -> bytes | None:
        errors = _botocore_errors()
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            body: bytes = response["Body"].read()
            return body
        except errors.ClientError as error:
            if _error_code(error) in _MISSING:
                return None
            raise StoreUnavailable(f"{self.describe()}: get {key}: {_error_code(error)}") from None
        except errors.BotoCoreError as error:
            raise StoreUnavailable(f"{self.describe()}: get {key}: {error}") from None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        errors = _botocore_errors()
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ServerSideEncryption="AES256",
            )
        except (errors.ClientError, errors.BotoCoreError) as error:
            raise StoreUnavailable(f"{self.describe()}: put {key}: {_describe_error(error)}") from None

    def delete(self, key: str) -> None:
        errors = _botocore_errors()
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (errors.ClientError, errors.BotoCoreError) as error:
            raise StoreUnavailable(f"{self.describe()}: delete {key}: {_describe_error(error)}") from None

    def put_file(self, key: str, path: Path) -> None:
        errors = _botocore_errors()
        try:
            # Multipart for large files, read from disk part by part.
            self._client.upload_file(
                str(path), self.bucket, key, ExtraArgs={"ServerSideEncryption": "AES256"}
            )
        except (errors.ClientError, errors.BotoCoreError, _upload_failed()) as error:
            raise StoreUnavailable(f"{self.describe()}: put {key}: {_describe_error(error)}") from None

    def get_file(self, key: str, path: Path) -> bool:
        errors = _botocore_errors()
        try:
            self._client.download_file(self.bucket, key, str(path))
        except errors.ClientError as error:
            if _error_code(error) in _MISSING:
                return False
            raise StoreUnavailable(f"{self.describe()}: get {key}: {_error_code(error)}") from None
        except errors.BotoCoreError as error:
            raise StoreUnavailable(f"{self.describe()}: get {key}: {error}") from None
        return True

    def keys(self, prefix: str) -> list[str]:
        errors = _botocore_errors()
        found: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found += [item["Key"] for item in page.get("Contents", [])]
        except (errors.ClientError, errors.BotoCoreError) as error:
            raise StoreUnavailable(f"{self.describe()}: list {prefix}: {_describe_error(error)}") from None
        return sorted(found)

    def describe(self) -> str:
        return f"bucket {self.bucket} at {self.endpoint_url}"


def _client(config: StoreConfig) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=config.endpoint_url,
        region_name=config.region or None,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        config=Config(
            connect_timeout=TIMEOUT_SECONDS,
            read_timeout=TIMEOUT_SECONDS,
            retries={"total_max_attempts": 3, "mode": "standard"},
            # TOS's S3 endpoint serves virtual-hosted requests only; a local test server on
            # an IP address needs path style. The user data says which.
            s3={"addressing_style": config.addressing_style},
            signature_version="s3v4",
        ),
    )


def _botocore_errors() -> Any:
    import botocore.exceptions

    return botocore.exceptions


def _upload_failed() -> type[Exception]:
    """boto3's managed transfers wrap the client's error in their own exception."""
    from boto3.exceptions import S3UploadFailedError

    failed: type[Exception] = S3UploadFailedError
    return failed


def _error_code(error: Any) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", "unknown"))


def _describe_error(error: Exception) -> str:
    code = _error_code(error)
    return code if code != "unknown" else str(error)


def open_store(config: StoreConfig) -> Store:
    if config.kind == "local":
        return LocalStore(config.path)
    return S3Store(config)
