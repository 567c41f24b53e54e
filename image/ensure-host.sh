#!/bin/sh
# usage: sh image/ensure-host.sh PACKAGE:COMMAND...
# Make sure a Debian machine (as root) has each COMMAND, installing its
# Debian PACKAGE when it is missing; that arm64 binaries run under qemu when
# binfmt-support is among them; that `docker buildx` works (Debian's
# docker-buildx, from trixie when the machine's suites have none); and that a
# Docker engine answers: dockerd is started in the background and waited for
# when none does.
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

if command -v docker >/dev/null 2>&1 && ! docker buildx version >/dev/null 2>&1; then
    # Bookworm packages no docker-buildx; trixie's needs only libc6 (>= 2.34), which
    # bookworm has. It is fetched through a throwaway source list, lists and cache, so
    # the system's apt sources and package lists stay as they were.
    echo "installing docker-buildx from Debian trixie"
    apt_dir=$(mktemp -d)
    trap 'rm -rf "$apt_dir"' EXIT
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    echo "deb http://deb.debian.org/debian trixie main" >"$apt_dir/sources.list"
    apt_trixie() {
        apt-get -qq -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
            -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -o APT::Sandbox::User=root "$@"
    }
    if ! (cd "$apt_dir" && apt_trixie update && apt_trixie download docker-buildx && dpkg -i docker-buildx_*.deb) \
        >"$apt_dir/log" 2>&1 || ! docker buildx version >/dev/null 2>&1; then
        echo "docker buildx unavailable: Debian trixie's docker-buildx could not be installed: $(grep -m 1 -E "^(E|W):" "$apt_dir/log" || tail -n 1 "$apt_dir/log")" >&2
        exit 1
    fi
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
