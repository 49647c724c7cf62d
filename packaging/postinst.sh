#!/bin/sh
# After installing Keyward (.deb postinst and .rpm %post): the user and settings file of
# keyward-verify.service. The service itself is installed, not enabled or started.
set -e
if ! getent passwd keyward >/dev/null 2>&1; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers /usr/lib/sysusers.d/keyward.conf || true
    fi
fi
if ! getent passwd keyward >/dev/null 2>&1 && command -v useradd >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/keyward --no-create-home \
        --shell /usr/sbin/nologin --comment "Keyward verify server" keyward || true
fi
if [ ! -e /etc/keyward/verify.env ]; then
    mkdir -p /etc/keyward
    cp /usr/share/keyward/verify.env /etc/keyward/verify.env
    chmod 0644 /etc/keyward/verify.env
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload || true
fi
exit 0
