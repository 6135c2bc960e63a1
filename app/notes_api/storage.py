"""Optional S3-compatible object storage.

boto3 costs tens of MB per worker, so it is imported here, by name, only when a bucket is
configured; this module itself imports nothing heavy.
"""

import importlib
from typing import Any

from notes_api.settings import Settings

TIMEOUT_SECONDS = 2


class ObjectStorage:
    def __init__(self, settings: Settings) -> None:
        if settings.s3_bucket is None or settings.s3_secret_access_key is None:
            raise ValueError("object storage is not configured")
        boto3 = importlib.import_module("boto3")
        botocore_config = importlib.import_module("botocore.config")
        self.bucket = settings.s3_bucket
        self.endpoint_url = settings.s3_endpoint_url
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            config=botocore_config.Config(
                connect_timeout=TIMEOUT_SECONDS,
                read_timeout=TIMEOUT_SECONDS,
                # A readiness probe retries on its own; botocore retries would only delay it.
                retries={"total_max_attempts": 1},
                # TOS takes virtual-hosted requests only; S3_ADDRESSING_STYLE=path serves
                # servers addressed by IP, which have no bucket host names.
                s3={"addressing_style": settings.s3_addressing_style},
            ),
        )

    def bucket_problem(self) -> str | None:
        """Why the bucket cannot be used right now, or None when a HEAD bucket succeeds."""
        botocore_exceptions = importlib.import_module("botocore.exceptions")
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except botocore_exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "unknown"))
            if code in {"404", "NoSuchBucket", "NotFound"}:
                return f"object storage bucket {self.bucket!r} does not exist"
            if code in {"403", "AccessDenied", "Forbidden"}:
                return f"object storage denied access to bucket {self.bucket!r}; check the keys"
            return f"object storage answered {code} for bucket {self.bucket!r}"
        except botocore_exceptions.BotoCoreError as exc:
            return f"object storage unreachable at {self.endpoint_url}: {exc}"
        return None
