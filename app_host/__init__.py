"""app-host: the tooling that runs on every app host, shipped to the hosts as one artifact.

The hosts' user data only writes configuration and fetches this package (a zipapp checked
against the SHA-256 in the user data); everything the hosts do after that lives here, as
subcommands of `app-host` run by cloud-init once and by systemd units and timers afterwards.

It runs with the host's own Python 3.11 and Debian's python3-boto3, python3-psycopg and
python3-cryptography, so importing this package must stay cheap: gunicorn imports
`app_host.worker` from the same zipapp inside every app worker. Modules import their heavy
dependencies themselves.
"""

__version__ = "0.2.0"
