#!/bin/sh
# usage: sh image/ensure-host.sh PACKAGE:COMMAND...
# Make sure a Debian machine (as root) has each COMMAND, installing its
# Debian PACKAGE when it is missing; that arm64 binaries run under qemu when
# binfmt-support is among them; and that a Docker engine answers: dockerd is
# started in the background and waited for when none does.
set -eu

missing=""
for pair in "$@"; do
    command -v "${pair#*:}" >/dev/null 2>&1 || missing="$missing ${pair%%:*}"
done
if [ -n "$missing" ]; then
    echo "installing$missing from Debian"
    apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if command -v update-binfmts >/dev/null 2>&1; then
    # binfmt_misc hands aarch64 binaries to qemu-aarch64-static; its F flag
    # opens qemu at registration, so that containers, which lack it, run them too.
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64 2>/dev/null || true
    if ! grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
        echo "arm64 emulation unavailable: binfmt_misc has no qemu-aarch64 entry with the F flag" >&2
        exit 1
    fi
fi

if docker info >/dev/null 2>&1; then
    exit 0
fi
echo "starting dockerd (log: /var/log/python-reaper-dockerd.log)"
nohup dockerd >/var/log/python-reaper-dockerd.log 2>&1 &
tries=0
until docker info >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -gt 120 ]; then
        echo "dockerd did not answer within 60 s; see /var/log/python-reaper-dockerd.log" >&2
        exit 1
    fi
    sleep 0.5
done
