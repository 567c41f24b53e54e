#!/bin/sh
# Make sure a Docker engine answers and debootstrap is there, on a Debian
# machine where we are root: install Debian's docker.io and debootstrap when
# missing, start dockerd in the background when no engine answers, and wait
# for it. Does nothing when both are there already.
set -eu

missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
if [ -n "$missing" ]; then
    echo "installing$missing from Debian"
    apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
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
