"""The workloads that show what a PID 1 does, and how to watch it from the host.

Shared by the tests, the demo and the benchmarks.
"""

import time
from pathlib import Path

APP_AS_PID1 = ["python3", "-c", "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"]
"""A Python app that runs its arguments and waits for that child only, as apps run as PID 1 do: it reaps no orphan."""
SLEEPER = ["python3", "-c", "import time; time.sleep(1000)"]
"""A Python app that sleeps and handles no signal: as PID 1 it ignores SIGTERM."""
HARDENED = {
    "user": "65534:65534",
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "pids_limit": 64,
}
"""The Docker SDK's ``containers.run`` options of a hardened container (``engines.run_flags`` knows them too)."""
ADOPTION = "orphan=$(sh -c 'sleep 5 >/dev/null & echo $!'); read -r line < /proc/$orphan/stat; set -- ${line##*) }; echo adopter=$2 reaper=$PPID; "
"""A shell script that makes an orphan and prints ``adopter=PID reaper=PID``: the pid that adopted it, and its own
parent's (see :func:`adopter_and_reaper`)."""

NEW_PID_NAMESPACE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
"""Run the rest of the command line as PID 1 of a new PID namespace, with its own /proc; the namespace
dies with ``unshare``."""


def as_pid1(argv):
    """``argv`` run as PID 1 of a new PID namespace; the namespace dies with ``unshare``."""
    return [*NEW_PID_NAMESPACE, *argv]


def orphan_storm(count, parent="$PPID"):
    """A shell script that makes ``count`` orphans, then prints ``zombies=N``: the zombies
    left among the children of ``parent`` (default: the script's parent; empty: anyone's,
    the whole PID namespace) after they had up to 5 s to be reaped (by the clock: a scan of
    thousands of zombies is itself slow on a loaded machine)."""
    owner = f"{parent} " if parent else ""
    return f"""
i=0; while [ $i -lt {count} ]; do (sleep 0 &); i=$((i+1)); done
read -r start _ < /proc/uptime
while :; do
  z=0
  for s in /proc/[0-9]*/stat; do
    read -r line < "$s" 2>/dev/null || continue
    case "${{line##*) }}" in "Z {owner}"*) z=$((z+1));; esac
  done
  read -r now _ < /proc/uptime
  [ $z -eq 0 ] || [ "${{now%.*}}" -ge $((${{start%.*}} + 5)) ] && break
  sleep 0.1
done
echo zombies=$z
"""


def python_orphan_storm(count):
    """:func:`orphan_storm` for images without a shell: a Python program that makes ``count`` orphans,
    then prints ``zombies=N``: the zombies of its whole PID namespace after they had up to 5 s to be reaped."""
    return f"""
import os, time
for _ in range({count}):
    if os.fork() == 0:
        os.fork()  # the grandchild, orphaned when its parent exits at once
        os._exit(0)
    os.wait()
for _ in range(50):
    zombies = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{{pid}}/stat") as stat:
                zombies += stat.read().rsplit(") ", 1)[1].startswith("Z ")
        except OSError:  # gone meanwhile
            pass
    if not zombies:
        break
    time.sleep(0.1)
print(f"zombies={{zombies}}", flush=True)
"""


ZOMBIES_IN_NAMESPACE = """
sleep 1
z=0
for s in /proc/[0-9]*/stat; do
  read -r line < "$s" 2>/dev/null || continue
  case "${line##*) }" in "Z "*) z=$((z+1));; esac
done
echo zombies=$z
"""
"""A shell script that waits a second, then prints ``zombies=N``: the zombies its whole PID namespace holds."""


def zombies_reported(output):
    """The N of the ``zombies=N`` line that :func:`orphan_storm` printed."""
    return int(output.rsplit("zombies=", 1)[1].split()[0])


def adopter_and_reaper(output):
    """The two pids that :data:`ADOPTION` printed first in ``output``, as strings."""
    adopter, reaper = (word.split("=")[1] for word in output.split()[:2])
    return adopter, reaper


def finish(container, timeout=600):
    """Wait for the container to exit; return (exit status, its output)."""
    status = container.wait(timeout=timeout)["StatusCode"]
    return status, container.logs().decode()


def exec_orphans(container, patience=1):
    """Make 200 orphans with ``exec`` in the container; return the zombies left after 1 s, or as soon
    as none is left within ``patience`` seconds (the last count)."""
    container.exec_run(["sh", "-c", "i=0; while [ $i -lt 200 ]; do (sleep 0 &); i=$((i+1)); done"])
    deadline = time.monotonic() + patience
    while True:
        time.sleep(1)
        states = container.exec_run(["sh", "-c", "cat /proc/[0-9]*/stat"]).output.decode().splitlines()
        zombies = sum(1 for line in states if line.rsplit(") ", 1)[1].startswith("Z "))
        if zombies == 0 or time.monotonic() >= deadline:
            return zombies


def stop_seconds(container, timeout):
    """Stop a container (``docker stop``, ``podman stop``) started a second ago; return (seconds it took, exit status)."""
    time.sleep(1)  # let PID 1 start its child before the stop
    started = time.monotonic()
    container.stop(timeout=timeout)
    return time.monotonic() - started, container.wait(timeout=30)["StatusCode"]


def proc_stat(pid):
    """The command name of ``pid`` and the fields of its ``/proc/PID/stat`` after it, from the state on
    (``fields[0]`` is the state, ``fields[1]`` the parent pid, as proc(5) numbers them less 3).

    The name is everything between the first ``(`` and the last ``)``: it may itself hold spaces and
    parentheses.  FileNotFoundError once ``pid`` is gone (reaped).
    """
    head, fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)
    return head.split("(", 1)[1], fields.split()


def children(pid):
    """The pids of the children of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def namespace_pid1(unshare_pid, timeout=10):
    """The host pid of the PID 1 that ``unshare`` started."""
    return wait_for(lambda: (children(unshare_pid) or [None])[0], timeout, f"no child of unshare {unshare_pid}")


def wait_for(probe, timeout=10, what="condition"):
    """Call ``probe`` until it returns something true, and return that; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def context_switches(pid):
    """Voluntary plus involuntary context switches of ``pid`` so far."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])
