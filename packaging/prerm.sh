#!/bin/sh
# Before removing Keyward (.deb prerm and .rpm %preun): stop keyward-verify.service when the
# package goes away for good (deb: "remove"; rpm: 0 versions left), not on an upgrade.
# /etc/keyward/verify.env, the keyward user and /var/lib/keyward (the keys) are kept.
set -e
case "${1:-}" in
    remove | 0)
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl disable --now keyward-verify.service >/dev/null 2>&1 || true
        fi
        ;;
esac
exit 0
