#!/bin/sh
# usage: sh image/ensure-podman.sh USER
# Make Podman run containers on this machine, as root and rootless as USER
# (Debian's podman, runc, uidmap and slirp4netns installed: `make engine`).
# Idempotent; one line on stderr and exit 1 when an engine does not answer.
set -eu

user=$1
conf=/etc/containers/containers.conf.d/python-reaper.conf
if [ ! -e "$conf" ]; then
    mkdir -p "${conf%/*}"
    # Root here lacks CAP_SYS_RESOURCE, so Podman's default ulimits (nofile 1048576)
    # make every run fail with "error setting rlimit"; crun refuses the hybrid cgroup
    # layout (v1 controllers plus a v2 "unified" mount) that runc accepts.
    cat >"$conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]

[engine]
runtime = "runc"
EOF
fi

if ! id "$user" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh "$user"
fi
# Subordinate ids for the user namespace of rootless Podman; useradd adds them
# only when /etc/subuid already exists.
for file in /etc/subuid /etc/subgid; do
    if ! grep -q "^$user:" "$file" 2>/dev/null; then
        last=$(awk -F: 'BEGIN { n = 100000 } $2 + $3 > n { n = $2 + $3 } END { print n }' "$file" 2>/dev/null || echo 100000)
        echo "$user:$last:65536" >>"$file"
    fi
done
# The kernel's own overlayfs in the user namespace: without this, rootless
# Podman falls back to vfs, which copies the whole image for every container.
home=$(getent passwd "$user" | cut -d: -f6)
if [ ! -e "$home/.config/containers/storage.conf" ]; then
    runuser -u "$user" -- mkdir -p "$home/.config/containers"
    printf '[storage]\ndriver = "overlay"\n' | runuser -u "$user" -- tee "$home/.config/containers/storage.conf" >/dev/null
fi

if ! reason=$(podman info 2>&1 >/dev/null); then
    echo "rootful podman does not answer: $(echo "$reason" | tail -n 1)" >&2
    exit 1
fi
if ! reason=$(cd / && runuser -u "$user" -- podman info 2>&1 >/dev/null); then
    echo "rootless podman as $user does not answer: $(echo "$reason" | tail -n 1)" >&2
    exit 1
fi
