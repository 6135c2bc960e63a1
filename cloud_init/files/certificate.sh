#!/bin/bash
# The TLS certificate of an app host. Nginx always reads ${CERTIFICATE_DIR}/fullchain.pem and
# privkey.pem; this script decides what those point to, so the certificate source can change
# without touching the Nginx config.
#   placeholder  make a short-lived self-signed certificate if there is none yet
#   obtain       get the real certificate (ACME via Certbot, or self-signed) if not yet done
#   install      Certbot deploy hook: point Nginx at the new lineage and reload gracefully
set -euo pipefail

# shellcheck source=/dev/null
. /etc/app-host/host.conf

# DOMAINS comes from host.conf.
# shellcheck disable=SC2153
read -r -a names <<<"${DOMAINS}"
primary="${names[0]}"

self_signed() {
    local days="$1" san="" name
    for name in "${names[@]}"; do
        san="${san:+${san},}DNS:${name}"
    done
    install -d -m 0700 "${CERTIFICATE_DIR}"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "${days}" \
        -subj "/CN=${primary}" -addext "subjectAltName=${san}" \
        -keyout "${CERTIFICATE_DIR}/privkey.pem.new" -out "${CERTIFICATE_DIR}/fullchain.pem.new" 2>/dev/null
    chmod 0600 "${CERTIFICATE_DIR}/privkey.pem.new"
    mv -f "${CERTIFICATE_DIR}/privkey.pem.new" "${CERTIFICATE_DIR}/privkey.pem"
    mv -f "${CERTIFICATE_DIR}/fullchain.pem.new" "${CERTIFICATE_DIR}/fullchain.pem"
}

reload_proxy() {
    if systemctl is-active --quiet nginx; then
        systemctl reload nginx
    fi
}

case "${1:-}" in
placeholder)
    if [ ! -e "${CERTIFICATE_DIR}/fullchain.pem" ]; then
        self_signed 2
    fi
    ;;
obtain)
    if [ "${CERTIFICATE_KIND}" = self-signed ]; then
        if [ ! -e "${CERTIFICATE_DIR}/.self-signed" ]; then
            self_signed "${SELF_SIGNED_DAYS}"
            touch "${CERTIFICATE_DIR}/.self-signed"
            reload_proxy
        fi
        exit 0
    fi
    if [ -e "/etc/letsencrypt/renewal/${APP_NAME}.conf" ]; then
        exit 0
    fi
    if [ -n "${ACME_CA_BUNDLE}" ]; then
        export REQUESTS_CA_BUNDLE="${ACME_CA_BUNDLE}"
    fi
    args=()
    for name in "${names[@]}"; do
        args+=(--domain "${name}")
    done
    certbot certonly --non-interactive --agree-tos --email "${ACME_EMAIL}" \
        --server "${ACME_DIRECTORY}" --webroot --webroot-path "${ACME_WEBROOT}" \
        --cert-name "${APP_NAME}" --key-type ecdsa "${args[@]}" \
        --deploy-hook "/usr/local/sbin/app-host-certificate install"
    ;;
install)
    lineage="${RENEWED_LINEAGE:?install runs as a Certbot deploy hook, which sets RENEWED_LINEAGE}"
    install -d -m 0700 "${CERTIFICATE_DIR}"
    ln -sfn "${lineage}/fullchain.pem" "${CERTIFICATE_DIR}/fullchain.pem"
    ln -sfn "${lineage}/privkey.pem" "${CERTIFICATE_DIR}/privkey.pem"
    # reload, not restart: the old workers finish their requests on the old certificate.
    reload_proxy
    ;;
*)
    echo "usage: $0 placeholder|obtain|install" >&2
    exit 2
    ;;
esac
