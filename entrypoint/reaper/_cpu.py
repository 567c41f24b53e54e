"""The CPU limit of this process's cgroup as a count of CPUs, for ``--cpu-count quota``.

Python 3.13 and newer take ``PYTHON_CPU_COUNT`` for ``os.cpu_count()``, so a
pool sized from it (celery, uvicorn, loky) fits the container's quota rather
than the host's CPUs.
"""

import posix  # not os: see _supervisor


def quota_count():
    """Return the CPU quota of this process's cgroup in whole CPUs, or None when it has none.

    cgroup v2's ``cpu.max``, or cgroup v1's ``cpu.cfs_quota_us`` over
    ``cpu.cfs_period_us`` when the cpu controller is mounted as v1, of the
    cgroup and of each ancestor visible in the mount (the smallest limit
    counts): rounded up, at least 1, and never more than the CPUs this
    process may run on.  No cgroup file to read, or ``max`` / ``-1`` all
    the way up, is no limit.
    """
    try:
        with open("/proc/self/cgroup", "rb") as file:
            memberships = file.read().decode(errors="surrogateescape")
        with open("/proc/self/mountinfo", "rb") as file:
            mounts = file.read().decode(errors="surrogateescape")
    except OSError:
        return None
    return count_from(memberships, mounts)


def count_from(memberships, mounts):
    """:func:`quota_count` for the text of ``/proc/self/cgroup`` and of ``/proc/self/mountinfo``."""
    place = _cpu_directory(memberships.splitlines(), mounts.splitlines())
    if place is None:
        return None
    directory, top, version = place
    limits = []
    while True:
        limit = _limit(directory, version)
        if limit is not None:
            limits.append(limit)
        if len(directory) <= len(top):
            break
        directory = directory.rpartition("/")[0] or "/"
    if not limits:
        return None
    return max(1, min(*limits, len(posix.sched_getaffinity(0))))


def _cpu_directory(memberships, mounts):
    """``(this process's cpu cgroup directory, its mount point, 1 or 2)``, or None when there is none.

    The cgroup's path (``/proc/self/cgroup``) is relative to the hierarchy;
    the mount (``/proc/self/mountinfo``) may show only part of it (a
    container sees its own cgroup as the root), so the mount's root is taken
    off the path.
    """
    paths = {}
    for line in memberships:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            paths.setdefault(2, path)
        elif "cpu" in controllers.split(","):
            paths[1] = path
    for mount in mounts:
        fields, _, filesystem = mount.partition(" - ")
        fields, filesystem = fields.split(), filesystem.split()
        if len(fields) < 5 or len(filesystem) < 3:
            continue
        if filesystem[0] == "cgroup" and "cpu" in filesystem[2].split(","):
            version = 1
        elif filesystem[0] == "cgroup2" and 1 not in paths:
            version = 2
        else:
            continue
        root, top, path = fields[3], fields[4], paths.get(version)
        if path is not None and (root == "/" or path == root or path.startswith(root + "/")):
            relative = path[len(root) :] if root != "/" else path
            return (top + relative).rstrip("/") or "/", top, version
    return None


def _limit(directory, version):
    """The CPU limit of one cgroup as a count rounded up, or None when it sets none."""
    try:
        if version == 2:
            quota, period = _read(f"{directory}/cpu.max").split()
        else:
            quota, period = _read(f"{directory}/cpu.cfs_quota_us"), _read(f"{directory}/cpu.cfs_period_us")
        quota, period = int(quota), int(period)
    except (OSError, ValueError):  # "max", a missing file, a controller not enabled here
        return None
    if quota <= 0 or period <= 0:
        return None
    return -(-quota // period)


def _read(path):
    with open(path, "rb") as file:
        return file.read().decode().strip()
