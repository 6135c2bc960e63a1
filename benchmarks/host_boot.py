"""Benchmark: seconds from guest start to the first HTTPS 200 of an app host.

Boots the rendered user data in a real Debian 12 guest (systemd-nspawn, cloud-init NoCloud)
twice: from a bare image (cloud-init only: apt installs Nginx, Certbot and Python from the
Debian mirror, as on a stock cloud image) and from the pre-baked test image (packages already
installed). Both install the app from a local package index and get their certificate from
pebble. Needs root and the mirror; not part of the test suite.

    sudo .venv/bin/python benchmarks/host_boot.py [--runs N]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi_deploy.cloud_init import render_user_data  # noqa: E402
from fastapi_deploy.stack_model import SERVER_REQUIREMENTS, AcmeCertificates, AppHostSpec, Capacity  # noqa: E402
from tests.boot.harness import (  # noqa: E402
    BASE_PACKAGES,
    Guest,
    PackageIndex,
    PebbleAcme,
    PostgresServer,
    S3Server,
    build_base_rootfs,
    wait_for,
)
from tests.boot.host_parts import (  # noqa: E402
    APP_PROJECT,
    BUILD_REQUIREMENTS,
    publish_for_hosts,
    publish_release,
    sample_app_spec,
)
from tests.boot.probes import PinnedHttps  # noqa: E402

DOMAIN = "api.example.test"
# What a stock Debian cloud image has besides systemd: cloud-init and its basics.
BARE_PACKAGES = ("cloud-init", "locales", "ca-certificates", "curl", "openssh-server", "iproute2", "procps")


def _first_https_200(rootfs: Path, work: Path, user_data: str, client: PinnedHttps) -> float:
    guest = Guest(f"bench{secrets.token_hex(2)}", rootfs, work, user_data, instance_id=f"i-{secrets.token_hex(4)}")
    started = time.monotonic()
    guest.start()
    try:

        def serving() -> bool:
            try:
                return client.get("/healthz")[0] == 200
            except OSError:
                return False

        wait_for(serving, timeout=600, interval=0.25, what="first HTTPS 200")
        elapsed = time.monotonic() - started
        errors = guest.wait_for_cloud_init(timeout_seconds=120)["v1"]["errors"]
        if errors:
            raise RuntimeError(f"cloud-init reported errors: {errors}")
        return elapsed
    finally:
        guest.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="boots per image (default 1)")
    args = parser.parse_args()
    cache = REPO / ".cache" / "boot"
    images = {
        "bare image (apt from the mirror)": (build_base_rootfs(cache, base_packages=BARE_PACKAGES), True),
        "pre-baked image": (build_base_rootfs(cache, base_packages=BASE_PACKAGES), False),
    }
    with tempfile.TemporaryDirectory(prefix="host-boot-bench-") as scratch:
        root = Path(scratch)
        with (
            PostgresServer(root / "pg") as postgres,
            PebbleAcme(root / "pebble") as pebble,
            PackageIndex(root / "index") as index,
            S3Server() as s3,
        ):
            index.add_wheels_for([*SERVER_REQUIREMENTS, *BUILD_REQUIREMENTS], [APP_PROJECT], index_local_projects=False)
            client = PinnedHttps(DOMAIN, "127.0.0.1", pebble.issuing_roots_pem() + pebble.issuing_intermediates_pem())
            print(f"{'image':36} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7}")
            for number, (label, (rootfs, refresh)) in enumerate(images.items()):
                seconds = []
                for run in range(args.runs):
                    database = f"bench_{number}_{run}"
                    spec = AppHostSpec(
                        domains=(DOMAIN,),
                        certificates=AcmeCertificates(
                            contact_email="ops@example.test",
                            directory_url=pebble.directory_url,
                            # The API listener and the roots it issues from (hosts check the chain).
                            ca_bundle_pem=pebble.listener_ca_pem + pebble.issuing_roots_pem(),
                        ),
                        app=sample_app_spec(index.url),
                        store=publish_for_hosts(s3, "bench", "127.0.0.1", app_project=APP_PROJECT),
                        capacity=Capacity(vcpus=2, memory_mib=2048),
                        database_url=postgres.create_database(database, database, secrets.token_urlsafe(12)),
                        refresh_package_index=refresh,
                    )
                    publish_release(s3, spec)
                    work = root / f"guest-{number}-{run}"
                    work.mkdir()
                    seconds.append(_first_https_200(rootfs, work, render_user_data(spec).cloud_config, client))
                print(
                    f"{label:36} {len(seconds):>4} {statistics.median(seconds):>9.1f} "
                    f"{min(seconds):>7.1f} {max(seconds):>7.1f}"
                )


if __name__ == "__main__":
    main()
