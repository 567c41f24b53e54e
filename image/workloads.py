"""The workloads that show what a PID 1 does, shared by the tests and the demo."""

import time

APP_AS_PID1 = ["python3", "-c", "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"]
"""A Python app that runs its arguments and waits for that child only, as apps run as PID 1 do: it reaps no orphan."""


def orphan_storm(count):
    """A shell script that makes ``count`` orphans, then prints ``zombies=N``: the zombies
    left among its parent's children after they had up to 5 s to be reaped."""
    return f"""
i=0; while [ $i -lt {count} ]; do (sleep 0 &); i=$((i+1)); done
t=0; while :; do
  z=0
  for s in /proc/[0-9]*/stat; do
    read -r line < "$s" 2>/dev/null || continue
    case "${{line##*) }}" in "Z $PPID "*) z=$((z+1));; esac
  done
  [ $z -eq 0 ] || [ $t -ge 50 ] && break
  t=$((t+1)); sleep 0.1
done
echo zombies=$z
"""


def zombies_reported(output):
    """The N of the ``zombies=N`` line that :func:`orphan_storm` printed."""
    return int(output.rsplit("zombies=", 1)[1].split()[0])


def stop_seconds(container, timeout):
    """``docker stop`` a container started a second ago; return (seconds it took, exit status)."""
    time.sleep(1)  # let PID 1 start its child before the stop
    started = time.monotonic()
    container.stop(timeout=timeout)
    return time.monotonic() - started, container.wait(timeout=30)["StatusCode"]
