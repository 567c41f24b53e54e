"""Tell whether a SIGTERM sent DELAY ms after an init's fork, as PID 1, is lost.

usage: python3 window.py DELAY_MS INIT [ARG...]

Makes a new PID namespace, forks, and execs ``INIT [ARG...] sleep 30`` as its
PID 1; sends that PID 1 SIGTERM DELAY_MS after the fork, and prints ``lost``
when the init is still running 0.5 s later (PID 1 drops a signal it has
neither blocked nor a handler for), else ``caught``.  Run it with a
real-time priority (``chrt -f 10``) so that the load of the machine does not
stretch the window.
"""

import ctypes
import os
import shutil
import signal
import sys
import time

CLONE_NEWPID = 0x20000000

delay = float(sys.argv[1]) / 1000
if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWPID) != 0:
    sys.exit(f"unshare: {os.strerror(ctypes.get_errno())}")
program = shutil.which(sys.argv[2])  # before the fork: the child only execs
forked = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execv(program, [*sys.argv[2:], "sleep", "30"])
    finally:
        os._exit(127)
while time.monotonic() - forked < delay:
    pass
os.kill(pid, signal.SIGTERM)
deadline = time.monotonic() + 0.5
while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG)[0] == 0:
    time.sleep(0.005)
else:
    if time.monotonic() >= deadline:
        print("lost", flush=True)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.exit(0)
print("caught", flush=True)
