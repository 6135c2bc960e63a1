#!/bin/sh
# First start: a cluster in $PGDATA whose superuser is $POSTGRES_USER (password
# $POSTGRES_PASSWORD) and a database $POSTGRES_DB; local socket trusted, every TCP client
# asked for a SCRAM password, listening on all addresses. Then the server in the foreground,
# as the postgres user. What the official image documents for these variables.
set -eu

if [ "${1:-postgres}" != postgres ]; then
    exec "$@"
fi

: "${POSTGRES_PASSWORD:?is required: set POSTGRES_PASSWORD, as the official image asks}"
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
data="${PGDATA:-/var/lib/postgresql/data}"

as_postgres() {
    setpriv --reuid=postgres --regid=postgres --init-groups "$@"
}

mkdir -p "$data" /var/run/postgresql
chown postgres:postgres "$data" /var/run/postgresql
chmod 0700 "$data"

if [ ! -s "$data/PG_VERSION" ]; then
    password_file="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    chown postgres "$password_file"
    as_postgres initdb --pgdata="$data" --username="$user" --pwfile="$password_file" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
    rm -f "$password_file"
    printf "listen_addresses = '*'\n" >> "$data/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >> "$data/pg_hba.conf"
    if [ "$database" != postgres ]; then
        # A server on the socket only, long enough to create the database.
        as_postgres pg_ctl --pgdata="$data" --wait --silent -o "-c listen_addresses=''" start
        # From stdin, where psql quotes the :"name" variable (it does not in --command).
        echo 'CREATE DATABASE :"name";' | as_postgres psql --quiet --username="$user" \
            --dbname=postgres --set=ON_ERROR_STOP=1 --set=name="$database" >/dev/null
        as_postgres pg_ctl --pgdata="$data" --wait --silent --mode=fast stop
    fi
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$data"
