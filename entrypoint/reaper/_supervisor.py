"""The supervision core: spawn one command, then reap, forward and shut down.

:func:`supervise` is the whole life of a reaper, read top to bottom:

1. Block every catchable signal, so that none is lost and none interrupts.
2. Off PID 1, become a child subreaper, so orphans are still ours to reap.
3. Spawn the command in its own process group, with the terminal's
   foreground when this process holds it.
4. Take signals one at a time from ``sigwaitinfo`` with no timeout, so an
   idle reaper never wakes: SIGCHLD reaps every zombie there is, any other
   signal is forwarded to the command.  The command's own death is found
   inside that reaping loop, so coalesced SIGCHLDs cannot hide it.
5. Once the command is gone, send SIGTERM and SIGCONT to every process left
   (as PID 1: the whole PID namespace; as a subreaper: its descendants
   only), return as soon as none is left, SIGKILL them after the grace.
6. Return the command's exit status: its code, or 128+N for signal N.

The ``reaper`` command and :func:`reaper.run_forked` both run through here.
"""

import _signal
import posix  # os itself costs about 2 ms, a fifth of the interpreter's start-up
import sys
import time

from reaper import _proc
from reaper._signals import CATCHABLE, signal_name

_SIGCHLD_ONLY = {_signal.SIGCHLD}
_AFTER_SIGKILL = 1.0
"""Seconds spent collecting SIGKILLed processes; one stuck in the kernel is left to the kernel."""


def supervise(
    argv,
    *,
    marker="REAPER",
    forward_to_group=True,
    rewrite=None,
    grace=5.0,
    verbose=False,
    stop_delay=0.0,
    stop_all=False,
):
    """Run ``argv`` under this process as its reaper and return the exit status to leave with.

    ``marker`` names the environment variable that tells the child the pid
    of its reaper.  Signals go to the child's process group, or to the child
    alone when ``forward_to_group`` is false; ``rewrite`` maps a received
    signal number to the one to forward, 0 dropping it.  ``grace`` is how
    many seconds leftover processes get between SIGTERM and SIGKILL.
    The first SIGTERM received is held ``stop_delay`` seconds before it is
    forwarded (a second SIGTERM or a SIGINT ends the wait; other signals go
    on as usual).  With ``stop_all``, a forwarded SIGTERM goes to every
    process left as well, in the same pass as to the command.

    When ``argv`` cannot be run, says why on stderr and returns 127 (not
    found) or 126 (any other reason).  Signals stay blocked on return: the
    caller is expected to exit with the status.
    """
    log = logger(verbose)
    _signal.pthread_sigmask(_signal.SIG_BLOCK, CATCHABLE)
    is_pid_one = posix.getpid() == 1
    if not is_pid_one:
        try:
            _proc.become_subreaper()
        except OSError as error:
            say(f"cannot become a child subreaper, orphans will go to PID 1: {error.strerror}")
    env = environ()
    env[marker] = str(posix.getpid())
    try:
        child = _spawn(argv, env)
    except OSError as error:
        return exec_failure(argv[0], error)
    posix.chdir("/")
    if log:
        log(f"spawned {child}: {' '.join(argv)}")
    stop_everyone = (_signal_namespace if is_pid_one else _proc.signal_descendants) if stop_all else None
    status = _forward_and_reap_until_exit(child, forward_to_group, rewrite or {}, log, stop_delay, stop_everyone)
    if log:
        log(f"command {child} is gone, exit status {status}")
    _shut_down(is_pid_one, grace, log)
    return status


def replace_process(argv, env=None):
    """Exec ``argv`` in this process with default signal dispositions and an empty mask.

    Returns the exit status for the failure (127 or 126) if the exec fails.
    """
    import os  # only here: the PATH search of execvpe is Python code in os

    for signum in CATCHABLE:
        _signal.signal(signum, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
    try:
        os.execvpe(argv[0], argv, os.environ if env is None else env)
    except OSError as error:
        return exec_failure(argv[0], error)


def environ():
    """Return the environment as a dict of str, as ``os.environ`` has it, without importing os."""
    encoding = sys.getfilesystemencoding()
    return {
        key.decode(encoding, "surrogateescape"): value.decode(encoding, "surrogateescape")
        for key, value in posix.environ.items()
    }


def exec_failure(command, error):
    """Say why ``command`` could not run; return 127 when it was not found, else 126."""
    say(f"{command}: {error.strerror}")
    return 127 if isinstance(error, FileNotFoundError) else 126


def exit_status(wait_status):
    """Turn a raw wait status into an exit status: the code, or 128+N for signal N."""
    code = posix.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


_stderr = None


def say(message):
    """Write ``reaper: message`` to stderr, dropping the line rather than ever blocking.

    The line goes through a second, non-blocking open file description of
    stderr, so that a full pipe cannot stall PID 1 and the child's own
    stderr keeps its blocking mode.
    """
    global _stderr
    if _stderr is None:
        try:
            _stderr = posix.open("/proc/self/fd/2", posix.O_WRONLY | posix.O_APPEND | posix.O_NONBLOCK | posix.O_NOCTTY)
        except OSError:  # a socket, or no /proc: plain fd 2
            _stderr = 2
    try:
        posix.write(_stderr, f"reaper: {message}\n".encode(errors="surrogateescape"))
    except OSError:
        pass


def logger(verbose):
    """Return :func:`say` when ``verbose``, else None.

    Callers test ``if log:`` before building a message, so that a quiet
    reaper formats nothing per signal or per reaped process.
    """
    return say if verbose else None


def _spawn(argv, env):
    terminal = _foreground_terminal()
    if terminal is None:
        return posix.posix_spawnp(argv[0], argv, env, setpgroup=0, setsigmask=(), setsigdef=CATCHABLE)
    # posix_spawn cannot hand the terminal to the child before it runs, and an
    # interactive shell that starts in the background stops itself with SIGTTIN.
    pid = posix.fork()
    if pid == 0:
        try:
            posix.setpgid(0, 0)
            posix.tcsetpgrp(terminal, posix.getpid())
            status = replace_process(argv, env)
        except OSError as error:
            status = exec_failure(argv[0], error)
        posix._exit(status)
    try:
        posix.setpgid(pid, pid)  # so the group exists before any signal is forwarded to it
    except OSError:  # the child has set it and exec'd already
        pass
    return pid


def _foreground_terminal():
    """Return 0 when stdin is a terminal whose foreground process group is ours, else None."""
    try:
        return 0 if posix.tcgetpgrp(0) == posix.getpgrp() else None
    except OSError:
        return None


def _forward_and_reap_until_exit(child, forward_to_group, rewrite, log, stop_delay=0.0, stop_everyone=None):
    send = posix.killpg if forward_to_group else posix.kill
    held_until = None  # while the first SIGTERM is held (--stop-delay): when to forward it
    while True:
        if held_until is None:
            signum = _signal.sigwaitinfo(CATCHABLE).si_signo
        else:
            info = _signal.sigtimedwait(CATCHABLE, max(0.0, held_until - time.monotonic()))
            signum = _signal.SIGTERM if info is None else info.si_signo
            if signum in (_signal.SIGTERM, _signal.SIGINT):
                held_until = None
                _forward(_signal.SIGTERM, child, send, rewrite, log, stop_everyone)
                if signum == _signal.SIGTERM:  # the delay is over, or a second SIGTERM: forwarded once
                    continue
        if signum == _signal.SIGCHLD:
            status, _ = _reap(child, log)
            if status is not None:
                return status
            continue
        if signum == _signal.SIGTERM and stop_delay:
            if log:
                log(f"holding SIGTERM for {stop_delay:g}s (stop delay)")
            held_until, stop_delay = time.monotonic() + stop_delay, 0.0
            continue
        _forward(signum, child, send, rewrite, log, stop_everyone)


def _forward(signum, child, send, rewrite, log, stop_everyone):
    """Forward ``signum`` to the command, rewritten; with --stop-all a SIGTERM goes to every process left too."""
    forwarded = rewrite.get(signum, signum)
    if not forwarded:
        if log:
            log(f"dropped {signal_name(signum)}")
        return
    if signum == _signal.SIGTERM and stop_everyone:
        stop_everyone(forwarded)  # the command too, once: its group is among them
        if log:
            log(f"forwarded {signal_name(forwarded)} to every process (stop all)")
        return
    try:
        send(child, forwarded)
    except OSError as error:
        if log:
            log(f"could not forward {signal_name(forwarded)} to {child}: {error.strerror}")
    else:
        if log:
            log(f"forwarded {signal_name(forwarded)} to {'group' if send is posix.killpg else 'process'} {child}")


def _reap(main_pid, log):
    """Reap every zombie there is.

    Returns ``(status of main_pid or None, whether any child is left)``.
    """
    main_status = None
    while True:
        try:
            if log:
                pid, wait_status, name = _wait_naming()
            else:
                pid, wait_status = posix.waitpid(-1, posix.WNOHANG)
        except ChildProcessError:
            return main_status, False
        if pid == 0:
            return main_status, True
        status = exit_status(wait_status)
        if log:
            log(f"reaped {pid} ({name}), exit status {status}")
        if pid == main_pid:
            main_status = status


def _wait_naming():
    """``waitpid(-1, WNOHANG)`` plus the zombie's name, read from /proc while it is still there (only when verbose)."""
    zombie = posix.waitid(posix.P_ALL, 0, posix.WEXITED | posix.WNOHANG | posix.WNOWAIT)
    if zombie is None:
        return 0, 0, None
    try:
        with open(f"/proc/{zombie.si_pid}/comm", "rb") as comm:
            name = comm.read().rstrip(b"\n").decode(errors="replace")
    except OSError:
        name = "?"
    return (*posix.waitpid(zombie.si_pid, 0), name)


def _shut_down(is_pid_one, grace, log):
    if _wait_until_none_left(0, log):
        return
    signal_the_rest = _signal_namespace if is_pid_one else _proc.signal_descendants
    if log:
        log("sending SIGTERM and SIGCONT to the remaining processes")
    signal_the_rest(_signal.SIGTERM, _signal.SIGCONT)
    if _wait_until_none_left(grace, log):
        if log:
            log("every remaining process has exited")
        return
    if log:
        log(f"grace period of {grace:g}s is over, sending SIGKILL")
    signal_the_rest(_signal.SIGKILL)
    _wait_until_none_left(_AFTER_SIGKILL, log)


def _signal_namespace(*signums):
    for signum in signums:
        try:
            posix.kill(-1, signum)  # as PID 1: every process of the PID namespace but this one
        except ProcessLookupError:  # none left; kill(-1) skips, and never fails on, those we may not signal
            pass


def _wait_until_none_left(timeout, log):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if not _reap(None, log)[1]:
            return True
        if left <= 0:
            return False
        _signal.sigtimedwait(_SIGCHLD_ONLY, left)
