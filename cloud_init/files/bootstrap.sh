#!/bin/bash
# First-boot setup of an app host. cloud-init's runcmd calls it once per instance, after the
# packages are installed; everything later (reboots, crashes, renewals) is systemd's job.
# Settings come from the rendered host.conf so that this script stays static and lintable.
set -euo pipefail

# shellcheck source=/dev/null
. /etc/app-host/host.conf

log() { echo "app-host-bootstrap: $*"; }

install_app() {
    log "installing ${APP_NAME} into ${VENV_DIR}"
    python3 -m venv "${VENV_DIR}"
    # The index and its trust come from the requirements file, written by the renderer.
    "${VENV_DIR}/bin/pip" install --no-cache-dir --disable-pip-version-check \
        --requirement /etc/app-host/requirements.txt
    # The service user runs the code but may not change it.
    chown -R root:root "${VENV_DIR}"
    chmod -R go-w "${VENV_DIR}"
}

start_app() {
    systemctl daemon-reload
    systemctl enable --now "${APP_NAME}.socket"
    # Pulls in the migration unit first (Requires/After); fails here if the app cannot start.
    systemctl enable --now "${APP_NAME}.service"
}

start_proxy() {
    rm -f /etc/nginx/sites-enabled/default
    ln -sfn "/etc/nginx/sites-available/${APP_NAME}.conf" "/etc/nginx/sites-enabled/${APP_NAME}.conf"
    install -d -m 0755 "${ACME_WEBROOT}"
    # Nginx needs a certificate before the real one exists: a short-lived placeholder.
    /usr/local/sbin/app-host-certificate placeholder
    nginx -t
    systemctl enable nginx
    systemctl restart nginx
}

obtain_certificate() {
    systemctl enable "${APP_NAME}-certificate.timer"
    systemctl start "${APP_NAME}-certificate.timer"
    systemctl start "${APP_NAME}-certificate.service"
    if [ "${CERTIFICATE_KIND}" = acme ]; then
        systemctl enable --now certbot.timer
    fi
}

systemctl restart systemd-journald
systemctl try-reload-or-restart ssh.service || true
install_app
start_app
start_proxy
obtain_certificate
log "done"
