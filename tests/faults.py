"""The fault-injection kit: the hostile surroundings a PID 1 must survive, each a real kernel object.

Broken pipes, unread sockets, full pipes of another user, file size limits,
a ``/proc`` of another PID namespace, a tracer, and processes that enter a
PID namespace from outside (as ``docker exec`` does).  Nothing is mocked.
"""

import contextlib
import os
import resource
import socket
import subprocess
import sys
import termios
from pathlib import Path

from support import HELPERS
from workloads import NEW_PID_NAMESPACE, proc_stat

NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
"""Run the rest of the command line as the unprivileged user nobody."""
SYSTEM_PYTHON = "/usr/bin/python3"
"""An interpreter nobody may run (the tests' own may live in root's home)."""
REAPER_AS_NOBODY = [
    *NOBODY,
    "env",
    f"PYTHONPATH={Path(__file__).parent.parent / 'entrypoint'}",
    SYSTEM_PYTHON,
    "-m",
    "reaper",
]
PRINT_SIGNALS_AS_NOBODY = [SYSTEM_PYTHON, str(HELPERS / "print_signals.py")]
WITHOUT_KILL = ["setpriv", "--bounding-set", "-kill", "--inh-caps", "-kill"]
"""Root without CAP_KILL (docker's --cap-drop ALL): it may not signal another user's process."""
FOREIGN_PROC_NAMESPACE = [word for word in NEW_PID_NAMESPACE if word != "--mount-proc"]
"""A new PID namespace that keeps the host's ``/proc``: its pids name other processes."""


def broken_pipe():
    """A pipe whose reader is gone: return its write end (a write fails with EPIPE and raises SIGPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def full_pipe():
    """A pipe that nobody reads and that is full: ``(read end, write end)``, the read end kept open."""
    read_end, write_end = os.pipe()
    _fill(write_end, os.write)
    return read_end, write_end


def full_socket():
    """A connected stream socket that nobody reads and that is full: ``(reader, writer)``."""
    reader, writer = socket.socketpair()
    _fill(writer.fileno(), os.write)
    return reader, writer


def stopped_terminal():
    """A pseudo-terminal whose output is suspended, as by Ctrl-S: ``(master, slave)``; a write to
    the slave waits until output resumes."""
    master, slave = os.openpty()
    termios.tcflow(slave, termios.TCOOFF)
    return master, slave


def _fill(fd, write):
    os.set_blocking(fd, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            write(fd, b"x" * 4096)
    with contextlib.suppress(BlockingIOError):
        while True:
            write(fd, b"x")
    os.set_blocking(fd, True)


def file_size_limit(limit):
    """A ``preexec_fn`` that caps the size of any file the process writes at ``limit`` bytes (``ulimit -f``)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def cpu_seconds(pid):
    """User plus system CPU time of ``pid`` so far, in seconds."""
    _, fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def enter_namespace(pid1, argv, **options):
    """Start ``argv`` inside the PID and mount namespaces of the host pid ``pid1`` from outside, as
    ``docker exec`` does: its parent (nsenter) is not in the namespace."""
    return subprocess.Popen(["nsenter", "-t", str(pid1), "-p", "-m", "--", *argv], **options)


TRACER = [sys.executable, str(HELPERS / "tracer.py")]

POSIX_SPAWNED = [
    sys.executable,
    "-c",
    "import os, sys; sys.exit(os.waitstatus_to_exitcode(os.waitpid(os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ), 0)[1]))",
]
"""Run the rest of the command line through glibc's posix_spawn, as make and some of Python's
subprocess calls do: the program starts with glibc's internal signal 32 (or 33) ignored."""
"""``TRACER + [pid]``: attach to ``pid`` with ptrace, put it in a group stop, hold it, then let it go on."""


def denying(syscall, errno_name):
    """A command line prefix under which the system call ``syscall`` (``waitid``, ``wait4``) fails with
    ``errno_name`` (``EPERM``, ``ENOSYS``), as under a container runtime's seccomp profile."""
    return [sys.executable, str(HELPERS / "deny_syscall.py"), syscall, errno_name]


INHERITED = {
    "SIGCHLD ignored": "signal.signal(signal.SIGCHLD, signal.SIG_IGN)",
    "every signal ignored and blocked": (
        "every = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}\n"
        "for signum in every: signal.signal(signum, signal.SIG_IGN)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, every)"
    ),
}
"""Signal dispositions and masks a program can hand down through an exec (an ignored signal stays ignored)."""


def inheriting(dispositions):
    """A command line prefix that execs the rest with the :data:`INHERITED` ``dispositions`` (a key)."""
    return _then_exec(INHERITED[dispositions])


def pending(signum):
    """A command line prefix that execs the rest with ``signum`` blocked and pending: both survive the exec,
    so the signal comes the moment the program unblocks it."""
    return _then_exec(f"signal.pthread_sigmask(signal.SIG_BLOCK, {{{signum}}}); os.kill(os.getpid(), {signum})")


def _then_exec(code):
    return [sys.executable, "-c", f"import os, signal, sys\n{code}\nos.execvp(sys.argv[1], sys.argv[1:])"]
