#!/usr/bin/python3
"""Fetch the host tooling (app-host, a zipapp) from the store and install it, refusing any
file whose SHA-256 is not the one host.conf names. This is the only code in the user data;
everything after it comes from the tooling itself."""

import hashlib
import os
import shlex
import sys
import time

TARGET = "/usr/local/sbin/app-host"


def settings(path: str) -> dict[str, str]:
    values: dict[str, str] = {}
    with open(path) as handle:
        for line in handle:
            words = shlex.split(line, comments=True)
            if words:
                name, _, value = words[0].partition("=")
                values[name] = value
    return values


def download(store: dict[str, str], key: str) -> bytes:
    if store["STORE_KIND"] == "local":
        with open(os.path.join(store["STORE_PATH"], *key.split("/")), "rb") as handle:
            return handle.read()
    # Debian's python3-boto3: the user data's package list installs it before runcmd.
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=store["STORE_ENDPOINT_URL"],
        region_name=store.get("STORE_REGION") or None,
        aws_access_key_id=store["STORE_ACCESS_KEY_ID"],
        aws_secret_access_key=store["STORE_SECRET_ACCESS_KEY"],
        config=Config(
            connect_timeout=10,
            read_timeout=30,
            signature_version="s3v4",
            s3={"addressing_style": store.get("STORE_ADDRESSING_STYLE") or "virtual"},
        ),
    )
    body: bytes = client.get_object(Bucket=store["STORE_BUCKET"], Key=key)["Body"].read()
    return body


def main() -> None:
    host = settings("/etc/app-host/host.conf")
    store = settings("/etc/app-host/store.conf")
    key, digest = host["TOOLING_KEY"], host["TOOLING_SHA256"]
    deadline = time.monotonic() + 600
    while True:
        try:
            data = download(store, key)
            break
        except Exception as error:  # the store may not be reachable yet; keep trying a while
            if time.monotonic() > deadline:
                sys.exit(f"fetch-tooling: {key} could not be fetched: {error}")
            print(f"fetch-tooling: {key} not fetched yet ({error}); retrying", flush=True)
            time.sleep(5)
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        sys.exit(f"fetch-tooling: {key} has SHA-256 {actual}, host.conf names {digest}; not installed")
    partial = TARGET + ".partial"
    with open(partial, "wb") as handle:
        handle.write(data)
    os.chmod(partial, 0o755)
    os.replace(partial, TARGET)
    print(f"fetch-tooling: installed {key} ({len(data)} bytes, SHA-256 verified)", flush=True)


main()
