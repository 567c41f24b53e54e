"""Measure what the image's site hook (the .pth that puts the reaper in front of a Python started as
PID 1) costs every other Python start: ``python3 -c pass`` with the hook, then with it moved away.

usage: python3 site_hook.py PAIRS   (in the image, as root; prints JSON)

Pairs of ten starts each alternate, so that a drift of the machine's speed
falls on both alike; each start's CPU time is the child's own (user +
system), its wall time from spawn to reap.  The hook is put back at the end.
"""

import json
import os
import resource
import statistics
import sys
import sysconfig
import time

HOOK = os.path.join(sysconfig.get_path("purelib"), "00-python-reaper.pth")
AWAY = "/tmp/00-python-reaper.pth.away"


def starts(count):
    """CPU and wall ms of ``count`` starts of ``python3 -c pass``."""
    measured = []
    for _ in range(count):
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        os.waitpid(os.posix_spawn(sys.executable, [sys.executable, "-c", "pass"], os.environ), 0)
        wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        measured.append((1000 * cpu, 1000 * wall))
    return measured


def main():
    runs = {"with the hook": [], "without": []}
    for _ in range(int(sys.argv[1])):
        runs["with the hook"] += starts(10)
        os.rename(HOOK, AWAY)
        try:
            runs["without"] += starts(10)
        finally:
            os.rename(AWAY, HOOK)
    medians = {
        name: {
            "cpu_ms": statistics.median(cpu for cpu, _ in runs[name]),
            "wall_ms": statistics.median(w for _, w in runs[name]),
        }
        for name in runs
    }
    print(json.dumps({"python": sys.version.split()[0], "starts": len(runs["without"]), **medians}))


if __name__ == "__main__":
    main()
