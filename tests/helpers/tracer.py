"""Stop a process under ptrace, as a debugger does, then let it go on: ``tracer.py PID [SECONDS]``.

Seizes PID, stops it with SIGSTOP and lets the stop become a group stop (so
its real parent, waiting with WUNTRACED, sees it stopped), holds it for
SECONDS (default 0.5), detaches and continues it with SIGCONT.  Prints
``stopped`` once PID is stopped and ``continued`` once it runs again.
"""

import ctypes
import os
import signal
import sys
import time

PTRACE_CONT, PTRACE_DETACH, PTRACE_SEIZE = 7, 17, 0x4206
WALL = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


def ptrace(request, pid, data=0):
    if libc.ptrace(request, pid, None, ctypes.c_void_p(data)) == -1:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


pid = int(sys.argv[1])
ptrace(PTRACE_SEIZE, pid)
os.kill(pid, signal.SIGSTOP)
_, status = os.waitpid(pid, WALL)  # the signal-delivery-stop of SIGSTOP
assert os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGSTOP, status
ptrace(PTRACE_CONT, pid, signal.SIGSTOP)  # deliver it: a group stop
_, status = os.waitpid(pid, WALL)
assert os.WIFSTOPPED(status), status
print("stopped", flush=True)
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0.5)
ptrace(PTRACE_DETACH, pid)
os.kill(pid, signal.SIGCONT)
print("continued", flush=True)
