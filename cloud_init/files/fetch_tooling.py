#!/usr/bin/python3
# Fetch the host tooling (a zipapp) from the store; install it only if its SHA-256 is the one
# host.conf names. The only code in the user data: all else comes from the tooling.
import hashlib
import os
import shlex
import sys
import time


def conf(path: str) -> dict[str, str]:
    with open(path) as f:
        return dict(w.partition("=")[::2] for w in shlex.split(f.read(), comments=True))


def get(s: dict[str, str], key: str) -> bytes:
    if s["STORE_KIND"] == "local":
        with open(os.path.join(s["STORE_PATH"], key), "rb") as f:
            return f.read()
    import boto3  # Debian's python3-boto3, from the user data's packages
    from botocore.config import Config

    style = s.get("STORE_ADDRESSING_STYLE") or "virtual"
    c = boto3.client(
        "s3", endpoint_url=s["STORE_ENDPOINT_URL"], region_name=s.get("STORE_REGION") or None,
        aws_access_key_id=s["STORE_ACCESS_KEY_ID"], aws_secret_access_key=s["STORE_SECRET_ACCESS_KEY"],
        config=Config(connect_timeout=10, read_timeout=30, signature_version="s3v4", s3={"addressing_style": style}),
    )  # fmt: skip
    body: bytes = c.get_object(Bucket=s["STORE_BUCKET"], Key=key)["Body"].read()
    return body


host, store = conf("/etc/app-host/host.conf"), conf("/etc/app-host/store.conf")
key, digest, until = host["TOOLING_KEY"], host["TOOLING_SHA256"], time.monotonic() + 600
while True:
    try:
        data = get(store, key)
        break
    except Exception as error:  # the store may not answer yet: retry for ten minutes
        if time.monotonic() > until:
            sys.exit(f"fetch-tooling: {key}: {error}")
        print(f"fetch-tooling: {key} not fetched yet ({error}); retrying", flush=True)
        time.sleep(5)
if hashlib.sha256(data).hexdigest() != digest:
    sys.exit(f"fetch-tooling: {key} is not the file host.conf names (SHA-256 differs); not installed")
with open("/usr/local/sbin/app-host.new", "wb") as f:
    f.write(data)
os.chmod("/usr/local/sbin/app-host.new", 0o755)
os.replace("/usr/local/sbin/app-host.new", "/usr/local/sbin/app-host")
print(f"fetch-tooling: installed {key}, SHA-256 verified", flush=True)
