"""The supervision core: spawn one command, then reap, forward and shut down.

:func:`supervise` is the whole life of a reaper, read top to bottom:

1. Block every catchable signal, so that none is lost and none interrupts,
   and give SIGCHLD back its default disposition if it was inherited ignored.
   (The ``reaper`` launchers block them already, before any import.)
2. Off PID 1, become a child subreaper, so orphans are still ours to reap;
   with a parent-death signal, have the kernel send it (``--pdeathsig``).
3. Spawn the command in its own process group, with the terminal's
   foreground when this process holds it, every signal at its default
   disposition and none blocked, as another user with ``--user``; a file
   without ``#!`` runs under /bin/sh.
4. Take signals one at a time from ``sigwait`` with no timeout, so an
   idle reaper never wakes: SIGCHLD reaps every zombie there is, any other
   signal is forwarded to the command alone when it handles that signal,
   else to its process group (``forward="auto"``; or always to one of them),
   except one this process caused
   itself (a SIGPIPE or SIGXFSZ of its own log write); the first SIGTERM
   may be held for a stop delay, and may go to every process left too.  The command's own
   death is found inside that reaping loop, so coalesced SIGCHLDs cannot
   hide it; its stops are not deaths, and off PID 1 a stop on a terminal
   signal (Ctrl-Z) stops the reaper too, so the shell above gets its prompt,
   where a job-control shell will continue it.
5. Once the command is gone, send SIGTERM and SIGCONT to every process left
   (as PID 1: the whole PID namespace, descendants or not; as a subreaper:
   its descendants only, or the command's process group when ``/proc`` is
   not this namespace's), return as soon as none is left, and SIGKILL them
   when the grace is over or a second stop signal comes, again and again
   until none is left; say how many were left behind if any were.
6. Return the command's exit status: its code, or 128+N for signal N.

Log lines never block: one that cannot be written at once is dropped, and
after a broken pipe or a full file the reaper stops logging for good.

The ``reaper`` command and :func:`reaper.run_forked` both run through here.
"""

import _signal
import posix  # os itself costs about 2 ms, a fifth of the interpreter's start-up
import sys
import time

from reaper import _proc
from reaper._signals import CATCHABLE, signal_name

_SIGCHLD_ONLY = {_signal.SIGCHLD}
_STOP_SIGNALS = {_signal.SIGTERM, _signal.SIGINT, _signal.SIGQUIT}
_TERMINAL_STOPS = {_signal.SIGTSTP, _signal.SIGTTIN, _signal.SIGTTOU}
_WAIT_FLAGS = posix.WNOHANG | posix.WUNTRACED
_AFTER_SIGKILL = 1.0
"""Seconds spent SIGKILLing and collecting what is left; one stuck in the kernel is left to the kernel."""
_POLL = (0.005, 0.1)
"""First and longest interval between two looks at the namespace during the shutdown (and at a stopped
command): processes that are not our children send no SIGCHLD when they exit."""

# errno values by name: the errno module costs 0.1-0.2 ms of start-up (measured), these cost nothing.
_ENOENT, _ENOEXEC, _EACCES, _ENODEV, _ENOTDIR, _EFBIG, _EPIPE = 2, 8, 13, 19, 20, 27, 32
_EOPNOTSUPP, _ETIMEDOUT, _ESTALE = 95, 110, 116
_TRY_NEXT = {_ENOENT, _ENOTDIR, _ENODEV, _ETIMEDOUT, _ESTALE}
"""The errors of one ``PATH`` entry after which ``execvp`` tries the next, as glibc's does."""
_S_IFMT, _S_IFREG, _S_IFSOCK = 0o170000, 0o100000, 0o140000


def supervise(
    argv,
    *,
    marker="REAPER",
    forward="auto",
    rewrite=None,
    grace=5.0,
    verbose=False,
    stop_delay=0.0,
    stop_all=False,
    env=None,
    user=None,
    parent_death=None,
):
    """Run ``argv`` under this process as its reaper and return the exit status to leave with.

    ``marker`` names the environment variable that tells the child the pid
    of its reaper.  ``forward`` says where signals go: ``"group"``, the
    child's process group; ``"child"``, the child alone; ``"auto"``, the
    child alone when it has a handler installed for the signal (read from
    ``/proc`` as each signal is forwarded), else its group, and the group
    when ``/proc`` is not this namespace's.  ``rewrite`` maps a received
    signal number to the one to forward, 0 dropping it.  ``grace`` is how
    many seconds leftover processes get between SIGTERM and SIGKILL.
    The first SIGTERM received is held ``stop_delay`` seconds before it is
    forwarded (a second SIGTERM or a SIGINT ends the wait; other signals go
    on as usual).  With ``stop_all``, a forwarded SIGTERM goes to every
    process the shutdown is for as well, in the same pass as to the command.
    ``env`` is the command's environment (default this process's).  With
    ``user`` (an :class:`reaper._identity.Identity`) the command drops to
    its ids and groups between the fork and the exec; when it may not, it
    says so and exits 126 without running.  With ``parent_death``, ``(signal,
    pid of the parent this process started with)``, the kernel sends the
    signal when that parent dies, and it is handled as if received: when
    the parent is already gone, at once.

    When ``argv`` cannot be run, says why on stderr and returns 127 (not
    found) or 126 (any other reason).  Signals stay blocked on return: the
    caller is expected to exit with the status.
    """
    log = logger(verbose)
    _signal.pthread_sigmask(_signal.SIG_BLOCK, CATCHABLE)
    # An ignored SIGCHLD survives the exec that started this process, and makes the kernel reap
    # our children itself: the command's status would be lost.  Blocked, every other
    # disposition is the same to sigwait.  Only then: SIG_DFL would discard a pending SIGCHLD.
    if _signal.getsignal(_signal.SIGCHLD) == _signal.SIG_IGN:
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    is_pid_one = posix.getpid() == 1
    if not is_pid_one:
        try:
            _proc.become_subreaper()
        except OSError as error:
            say(f"cannot become a child subreaper, orphans will go to PID 1: {error.strerror}")
        if not _proc.sees_this_namespace():
            say("cannot see its descendants (/proc is another PID namespace's), will stop its command's group only")
    if forward == "auto" and not _proc.sees_this_namespace():  # a foreign /proc cannot tell who handles what
        forward = "group"
    if parent_death is not None:
        _watch_parent(*parent_death)
    _proc.default_glibc_signals()  # here, once: the command inherits what this process has
    env = environ() if env is None else dict(env)
    env[marker] = str(posix.getpid())
    try:
        child = _spawn(argv, env, user)
    except OSError as error:
        return exec_failure(argv[0], error)
    posix.chdir("/")
    if log:
        log(f"spawned {child}: {' '.join(argv)}")
    left = _Leftovers(is_pid_one, child, log)
    loop = _Loop(
        child=child,
        job_control=not is_pid_one,
        forward=forward,
        rewrite=rewrite or {},
        log=log,
        stop_delay=stop_delay,
        stop_everyone=left.signal if stop_all else None,
    )
    status = _forward_and_reap_until_exit(loop)
    if log:
        log(f"command {child} is gone, exit status {status}")
    _shut_down(left, grace, log)
    return status


def _watch_parent(signum, parent):
    """Have ``signum`` come when ``parent`` dies; queued to this process at once when it has died already
    (the kernel sends nothing for a parent that died before the prctl), so it is handled as received."""
    try:
        _proc.set_parent_death_signal(signum)
    except OSError as error:
        say(f"cannot set the parent-death signal, {signal_name(signum)} will not come: {error.strerror}")
        return
    if posix.getppid() != parent:
        _signal.raise_signal(signum)


class _Loop:
    """What :func:`_forward_and_reap_until_exit` works with, fixed once the command is spawned.

    ``job_control``: whether the command's Ctrl-Z may stop this process
    (off PID 1); ``forward``, ``rewrite``, ``stop_delay``: as
    :func:`supervise` takes them; ``stop_everyone``: with --stop-all, how to
    send a signal to every process the shutdown is for, else None.
    """

    __slots__ = ("child", "forward", "job_control", "log", "rewrite", "stop_delay", "stop_everyone")

    def __init__(self, *, child, job_control, forward, rewrite, log, stop_delay, stop_everyone):
        self.child, self.job_control, self.forward, self.rewrite = child, job_control, forward, rewrite
        self.log, self.stop_delay, self.stop_everyone = log, stop_delay, stop_everyone


def _spawn(argv, env, user=None):
    """Start ``argv`` in its own process group, with the terminal's foreground when ours holds it, as
    ``user`` when given; return its pid.

    The child gets every signal at its default disposition and none blocked,
    glibc's two internal ones (32 and 33) included: not ``posix_spawn``,
    which leaves those two ignored in the child and does not run a file
    without #! under /bin/sh.  The common case shares this process's memory
    until the exec (:func:`_spawn_sharing_memory`), milliseconds cheaper
    than a fork of the interpreter; a terminal to hand over, a user to
    become or an exec that fails take a fork, whose child says why it could
    not run.  Raises OSError when no process can be created.
    """
    terminal = _foreground_terminal()
    if terminal is None and user is None:
        pid = _spawn_sharing_memory(argv, env)
        if pid is not None:
            return pid
    try:
        pid = posix.fork()
    except OSError:
        _close(terminal)
        raise
    if pid == 0:
        try:
            posix.setpgid(0, 0)
            if terminal is not None:
                # Before the exec: an interactive shell that starts in the background stops itself with SIGTTIN.
                posix.tcsetpgrp(terminal, posix.getpid())
            if user is not None:
                try:
                    user.become()
                except OSError as error:
                    say(f"cannot run {argv[0]} as user {user}: {error.strerror}")
                    posix._exit(126)
            status = _exec_with_defaults(argv, env)
        except OSError as error:
            status = exec_failure(argv[0], error)
        posix._exit(status)
    _close(terminal)
    try:
        posix.setpgid(pid, pid)  # so the group exists before any signal is forwarded to it
    except OSError:  # the child has set it and exec'd already
        pass
    return pid


def _spawn_sharing_memory(argv, env):
    """Start ``argv`` in its own process group through CPython's ``_posixsubprocess`` (a vfork where
    the kernel allows one); return its pid, or None when the exec failed (its child reaped).

    The child takes this thread's signal mask, so every signal is unblocked
    for the moment of the spawn; a signal that comes meanwhile is caught,
    then raised again once all are blocked, for the loop to take as usual.
    The child resets what is caught to its default before it unblocks
    anything.  This process keeps the catching handler, blocked for good:
    giving a signal back SIG_DFL discards it when it is pending and its
    default is to ignore it (SIGCHLD, SIGCONT, SIGURG, SIGWINCH), so a
    SIGCHLD of the command coming before that reset would be lost.
    """
    import _posixsubprocess

    encoding = sys.getfilesystemencoding()
    executables = [path.encode(encoding, "surrogateescape") for path in _candidates(argv[0], env)]
    environment = [f"{key}={value}".encode(encoding, "surrogateescape") for key, value in env.items()]
    caught = []
    catch = lambda signum, frame: caught.append(signum)  # noqa: E731
    read_end, write_end = posix.pipe()  # close-on-exec: EOF once the exec succeeded, else the child's errno
    try:
        for signum in CATCHABLE:
            _signal.signal(signum, catch)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
        try:
            pid = _posixsubprocess.fork_exec(
                argv, executables, False, (), None, environment, -1, -1, -1, -1, -1, -1, read_end, write_end,
                False, False, 0, None, None, None, -1, None, *_ALLOW_VFORK,
            )  # fmt: skip
        finally:
            _signal.pthread_sigmask(_signal.SIG_BLOCK, CATCHABLE)  # runs the handlers of what came meanwhile
            for signum in caught:
                _signal.raise_signal(signum)
        posix.close(write_end)
        write_end = None
        failed = posix.read(read_end, 64)
    finally:
        posix.close(read_end)
        _close(write_end)
    if failed:
        posix.waitpid(pid, 0)
        return None
    try:
        posix.setpgid(pid, pid)  # where vfork is a fork (qemu-user), so the group exists before any forwarding
    except OSError:
        pass
    return pid


_ALLOW_VFORK = (True,) if sys.version_info < (3, 14) else ()
"""``_posixsubprocess.fork_exec``'s last argument before 3.14, which made vfork its only way."""


def _foreground_terminal():
    """Return a descriptor of this process's controlling terminal when our process group is its
    foreground, else None; the caller closes it (:func:`_close`).

    Whatever fd 0 is: a command may read ``/dev/tty`` with stdin redirected.
    """
    terminal = _controlling_terminal()
    try:
        if terminal is not None and posix.tcgetpgrp(terminal) == posix.getpgrp():
            return terminal
    except OSError:
        pass
    _close(terminal)
    return None


def _controlling_terminal():
    """Return a new descriptor (close-on-exec) of the controlling terminal, or None when the session has none."""
    try:
        return posix.open("/dev/tty", posix.O_RDWR | posix.O_NONBLOCK | posix.O_NOCTTY)
    except OSError:  # ENXIO: no controlling terminal
        return None


def _close(fd):
    """Close ``fd`` unless it is None."""
    if fd is not None:
        posix.close(fd)


def _exec_with_defaults(argv, env):
    """Exec ``argv`` with every signal at its default and none blocked; return 127 or 126 if the exec fails."""
    # Only system calls once forked: every object Python touches in the child
    # of a fork costs a copy-on-write fault, milliseconds of start-up in all.
    for signum in CATCHABLE:
        _signal.signal(signum, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
    try:
        _execvp(argv, env)
    except OSError as error:
        return exec_failure(argv[0], error)


def _execvp(argv, env):
    """``execvp`` with ``env``: search ``PATH`` for a name without a slash; /bin/sh runs a file without ``#!``."""
    name = argv[0]
    paths = _candidates(name, env)
    denied = None
    for path in paths:
        try:
            posix.execve(path, argv, env)
        except OSError as error:
            if error.errno == _ENOEXEC:
                posix.execve("/bin/sh", ["/bin/sh", path, *argv[1:]], env)
            if error.errno == _EACCES:
                denied = error
            elif error.errno not in _TRY_NEXT or len(paths) == 1:
                raise
    if denied is not None:
        raise denied
    raise FileNotFoundError(_ENOENT, posix.strerror(_ENOENT))


def _candidates(name, env):
    """The paths ``execvp`` tries for ``name``: itself when it has a slash, else each directory of ``PATH``."""
    if "/" in name:
        return [name]
    return [f"{directory or '.'}/{name}" for directory in env.get("PATH", "/bin:/usr/bin").split(":")]


def _forward_and_reap_until_exit(loop):
    """Take signals one at a time until the command is gone, and return its exit status.

    SIGCHLD reaps every zombie there is (the command's death is found
    there, so coalesced SIGCHLDs cannot hide it); any other signal is
    forwarded (:func:`_forward`): the SIGPIPE or SIGXFSZ of this process's
    own log write never comes here (:func:`say` takes it).  The first SIGTERM is held
    ``loop.stop_delay`` seconds when there is one: a second SIGTERM or a
    SIGINT sends it at once.  Waits with no timeout otherwise: an idle
    reaper is never scheduled.
    """
    child, log, job_control, stop_delay = loop.child, loop.log, loop.job_control, loop.stop_delay
    # sigwait, not sigwaitinfo: no siginfo object made per reap, the hot path of an orphan storm.
    sigwait, catchable, sigchld = _signal.sigwait, tuple(CATCHABLE), _signal.SIGCHLD  # no lookups per signal
    held_until = None  # while the first SIGTERM is held (--stop-delay): when to forward it
    while True:
        if held_until is None:
            signum = sigwait(catchable)
        else:
            info = _signal.sigtimedwait(catchable, max(0.0, held_until - time.monotonic()))
            if info is None:  # the stop delay is over
                held_until = None
                _forward(_signal.SIGTERM, loop)
                continue
            signum = info.si_signo
        if signum == sigchld:
            status, _ = _reap(child, log, job_control)
            if status is not None:
                return status
            continue
        if held_until is not None and signum in (_signal.SIGTERM, _signal.SIGINT):
            held_until = None
            _forward(_signal.SIGTERM, loop)
            if signum == _signal.SIGTERM:  # a second SIGTERM: the held one goes now, once
                continue
        elif signum == _signal.SIGTERM and stop_delay:
            if log:
                log(f"holding SIGTERM for {stop_delay:g}s (stop delay)")
            held_until, stop_delay = time.monotonic() + stop_delay, 0.0
            continue
        _forward(signum, loop)


def _forward(signum, loop):
    """Forward ``signum`` to the command, rewritten, as ``loop.forward`` says (see :func:`supervise`); with
    --stop-all a SIGTERM goes to every process left too."""
    child, forward, log, stop_everyone = loop.child, loop.forward, loop.log, loop.stop_everyone
    forwarded = loop.rewrite.get(signum, signum)
    if not forwarded:
        if log:
            log(f"dropped {signal_name(signum)}")
        return
    if signum == _signal.SIGTERM and stop_everyone:
        stop_everyone(forwarded)  # the command too, once: its group is among them
        if log:
            log(f"forwarded {signal_name(forwarded)} to every process (stop all)")
        return
    alone = forward == "child" or (forward == "auto" and _proc.handles(child, forwarded))
    try:
        (posix.kill if alone else posix.killpg)(child, forwarded)
    except OSError as error:
        if log:
            log(f"could not forward {signal_name(forwarded)} to {child}: {error.strerror}")
    else:
        if log:
            why = f" (it handles {signal_name(forwarded)})" if alone and forward == "auto" else ""
            log(f"forwarded {signal_name(forwarded)} to {'process' if alone else 'group'} {child}{why}")


def _reap(main_pid, log, job_control=False):
    """Reap every zombie there is.

    Returns ``(status of main_pid or None, whether any child is left)``.  A
    stopped child (WUNTRACED, or a group stop under ptrace) is not an exit;
    with ``job_control``, the command's stop on a terminal signal stops
    this process too, when a job-control shell will continue it.  A wait
    that fails for another reason than ECHILD (a seccomp profile) makes the
    reaper wait another way for good, and say so once.
    """
    main_status = None
    waitpid, stopped = _waitpid, posix.WIFSTOPPED  # the hot path of an orphan storm: no lookups
    naming = log is not None and _names_reaped and _proc.sees_this_namespace()  # names from our own /proc only
    name = ""
    while True:
        try:
            if naming:
                pid, wait_status, name = _wait_naming()
            else:
                pid, wait_status = waitpid(-1, _WAIT_FLAGS)
        except ChildProcessError:
            return main_status, False
        except OSError as error:
            waitpid = _wait_another_way(error)
            continue
        if pid == 0:
            return main_status, True
        if stopped(wait_status):
            if job_control and pid == main_pid and posix.WSTOPSIG(wait_status) in _TERMINAL_STOPS:
                _stop_with(main_pid, log)
        elif pid == main_pid:
            main_status = exit_status(wait_status)
            if log:
                log(f"reaped {pid}{name}, exit status {main_status}")
        elif log:
            log(f"reaped {pid}{name}, exit status {exit_status(wait_status)}")


_names_reaped = True
"""Whether -v names each reaped process: until ``waitid`` fails (see :func:`_wait_naming`)."""


def _wait_naming():
    """``waitpid(-1, _WAIT_FLAGS)`` plus `` (name)`` of the process, read from /proc before it is reaped (only when verbose).

    When ``waitid`` fails, says so once and goes on without names.
    """
    global _names_reaped
    try:
        found = posix.waitid(posix.P_ALL, 0, posix.WEXITED | posix.WSTOPPED | posix.WNOHANG | posix.WNOWAIT)
    except ChildProcessError:
        raise
    except OSError as error:
        if _names_reaped:  # the rest of this pass still comes here
            _names_reaped = False
            say(f"cannot name reaped processes (waitid: {error.strerror}), reaping without names")
        return (*_waitpid(-1, _WAIT_FLAGS), "")
    if found is None:
        return 0, 0, ""
    try:
        with open(f"/proc/{found.si_pid}/comm", "rb") as comm:
            name = comm.read().rstrip(b"\n").decode(errors="replace")
    except OSError:
        name = "?"
    return (*_waitpid(found.si_pid, _WAIT_FLAGS), f" ({name})")


def _waitid_reaping(pid, options):
    """``waitpid(pid, options)`` through ``waitid``, for where ``wait4`` is denied (WNOHANG and WUNTRACED only)."""
    found = posix.waitid(
        posix.P_ALL if pid == -1 else posix.P_PID, max(pid, 0), posix.WEXITED | posix.WSTOPPED | posix.WNOHANG
    )
    if found is None:
        return 0, 0
    code, number = found.si_code, found.si_status
    if code == posix.CLD_EXITED:
        return found.si_pid, (number & 0xFF) << 8
    if code in (posix.CLD_KILLED, posix.CLD_DUMPED):
        return found.si_pid, number | (0x80 if code == posix.CLD_DUMPED else 0)
    return found.si_pid, number << 8 | 0x7F  # stopped, or trapped


_waitpid = posix.waitpid
"""How the reaper waits: ``waitpid`` until it fails for another reason than ECHILD (see :func:`_wait_another_way`)."""


def _wait_another_way(error):
    """``waitpid`` failed with ``error``: wait through ``waitid`` from now on, say so once, and return
    the new way.  Raises ``error`` when ``waitid`` failed already: no way to reap is left."""
    global _waitpid
    if _waitpid is _waitid_reaping:
        raise error
    say(f"waitpid failed ({error.strerror}), reaping with waitid")
    _waitpid = _waitid_reaping
    return _waitpid


def _stop_with(child, log):
    """The command stopped on Ctrl-Z (or TTIN, TTOU): stop too, so the shell above gets its prompt
    back; once continued, give the command the terminal if it is ours, and continue it.

    Stops only where a job-control shell will continue this process (see
    :func:`_in_a_shells_job`), and never stays stopped once the command runs
    again or is gone: a watcher process continues it then.
    """
    if not _in_a_shells_job():
        if log:
            log(f"command {child} stopped; no job-control shell above, going on")
        return
    if log:
        log(f"command {child} stopped, stopping too")
    watcher = _watch_while_stopped(child)
    posix.kill(posix.getpid(), _signal.SIGSTOP)  # returns once a SIGCONT came
    _signal.sigtimedwait({_signal.SIGCONT}, 0)  # that SIGCONT: it is sent below, once
    if watcher is not None:
        posix.kill(watcher, _signal.SIGKILL)  # not reaped yet: its pid cannot be another process's
    terminal = _foreground_terminal()
    try:
        if terminal is not None:
            posix.tcsetpgrp(terminal, child)
        posix.killpg(child, _signal.SIGCONT)
    except OSError:
        pass
    _close(terminal)
    if log:
        log(f"continued, so is command {child}{' in the foreground' if terminal is not None else ''}")


def _in_a_shells_job():
    """Tell whether a job-control shell will continue this process once it stops: it leads its own
    process group, its parent is in another group of the same session (the group is not orphaned),
    and that session has a controlling terminal; and ``/proc`` is this namespace's (the watcher reads it)."""
    me = posix.getpid()
    try:
        parent = posix.getppid()
        if posix.getpgrp() != me or posix.getpgid(parent) == me or posix.getsid(parent) != posix.getsid(0):
            return False
    except OSError:
        return False
    terminal = _controlling_terminal()
    _close(terminal)
    return terminal is not None and _proc.sees_this_namespace()


def _watch_while_stopped(child):
    """Fork a watcher that, once this process has stopped, continues it when ``child`` runs again or is
    gone (continued or killed by someone else than the shell), then exits; return its pid, or None
    when it cannot be forked.  The watcher exits too when this process is gone."""
    me = posix.getpid()
    try:
        watcher = posix.fork()
    except OSError:
        return None
    if watcher:
        return watcher
    try:
        interval = _POLL[0]
        for waiting in (lambda: _proc.state(me) != "T", lambda: _proc.state(child) == "T"):
            while posix.getppid() == me and waiting():  # until this process stops, then until the child goes on
                time.sleep(interval)
                interval = min(interval * 2, _POLL[1])
        if posix.getppid() == me:
            posix.kill(me, _signal.SIGCONT)
    finally:
        posix._exit(0)


def _shut_down(left, grace, log):
    """Stop every process ``left`` once the command is gone: SIGTERM and SIGCONT, then SIGKILL.

    Returns as soon as none is left.  SIGKILLs the rest when ``grace``
    seconds are over or a new SIGTERM, SIGINT or SIGQUIT comes (one that came
    before the grace began does not count), again and again for at most
    ``_AFTER_SIGKILL`` seconds (a process may fork while it is killed); says
    on one line, even when quiet, how many were left behind, if any.
    """
    if left.none():
        return
    for signum in _STOP_SIGNALS:  # came before the grace began: they cannot mean "end the grace"
        while _signal.sigtimedwait({signum}, 0):
            pass
    if log:
        log("sending SIGTERM and SIGCONT to the remaining processes")
    left.signal(_signal.SIGTERM, _signal.SIGCONT)
    ended_by = left.wait(grace, _STOP_SIGNALS)
    if ended_by is None:
        if log:
            log("every remaining process has exited")
        return
    if log:
        reason = f"grace period of {grace:g}s is over" if ended_by is True else f"{signal_name(ended_by)} received"
        log(f"{reason}, sending SIGKILL")
    deadline = time.monotonic() + _AFTER_SIGKILL
    while True:  # again and again: a process may fork while it is being killed
        left.signal(_signal.SIGKILL)
        if left.wait(_POLL[1]) is None:
            return
        if time.monotonic() >= deadline:
            break
    count = left.count()
    say(f"{'some' if count is None else count} processes left behind")


class _Leftovers:
    """The processes the shutdown is for: as PID 1 every other process of the namespace, off PID 1
    this process's descendants (through ``/proc``, when it is this namespace's) or else the command's
    process group."""

    def __init__(self, is_pid_one, child, log):
        self.is_pid_one = is_pid_one
        self.child = child
        self.log = log

    def none(self):
        """Reap what is dead and tell whether nothing is left."""
        if _reap(None, self.log)[1]:
            return False
        if not self.is_pid_one:  # every descendant of a subreaper is a child of it, or below a child
            return True
        try:
            posix.kill(-1, 0)  # anyone in the namespace, child or not (a `docker exec`)?
        except ProcessLookupError:
            return True
        return False

    def signal(self, *signums):
        if self.is_pid_one:
            for signum in signums:
                try:
                    posix.kill(-1, signum)  # every process of the namespace but this one
                except ProcessLookupError:  # none left; kill(-1) skips, and never fails on, those we may not signal
                    pass
        elif _proc.sees_this_namespace():
            _proc.signal_descendants(*signums)
        else:
            for signum in signums:
                try:
                    posix.killpg(self.child, signum)
                except OSError:
                    pass

    def wait(self, timeout, interrupted_by=()):
        """Wait until none is left (return None), ``timeout`` s are over (True), or a signal of
        ``interrupted_by`` came from another process (that signal)."""
        deadline = time.monotonic() + timeout
        awaited = _SIGCHLD_ONLY | set(interrupted_by)
        interval = _POLL[0]
        while True:
            if self.none():
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            info = _signal.sigtimedwait(awaited, min(left, interval) if self.is_pid_one else left)
            if info is None:
                interval = min(interval * 2, _POLL[1])
            elif info.si_signo != _signal.SIGCHLD and info.si_pid != posix.getpid():
                return info.si_signo

    def count(self):
        """How many are left, or None when ``/proc`` cannot tell."""
        if not _proc.sees_this_namespace():
            return None
        return len(_proc.others()) if self.is_pid_one else len(_proc.descendants())


def replace_process(argv, env=None):
    """Exec ``argv`` in this process with default signal dispositions and an empty mask.

    Searches ``PATH`` and runs a file without ``#!`` under /bin/sh, as
    ``execvp`` does.  Returns the exit status for the failure (127 or 126)
    if the exec fails.
    """
    _proc.default_glibc_signals()
    return _exec_with_defaults(argv, environ() if env is None else env)


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
    """Turn the raw wait status of an exit or a death into an exit status: the code, or 128+N for signal N.

    Raises ValueError for a stopped or continued status, which is not an exit.
    """
    code = posix.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def logger(verbose):
    """Return :func:`say` when ``verbose``, else None.

    Callers test ``if log:`` before building a message, so that a quiet
    reaper formats nothing per signal or per reaped process.
    """
    return say if verbose else None


def printable(text):
    """Return ``text`` with every character that is not printable (a newline, a control character)
    written as its escape (``\\n``), so that a name given by the user cannot split or forge a line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def say(message):
    """Write ``reaper: message`` to stderr, on one line, dropping the line rather than ever blocking.

    A line that cannot be written at once (a full pipe or socket, a
    terminal under flow control) is dropped.  After a broken pipe or a file
    that hit its size limit, every later line is dropped: the SIGPIPE or
    SIGXFSZ that such a write raises is the reaper's own: taken here, never forwarded.
    """
    global _write_line
    try:
        _write_line(f"reaper: {printable(message)}\n".encode(errors="surrogateescape"))
    except OSError as error:
        if error.errno in (_EPIPE, _EFBIG):
            _write_line = _drop
            _take_own_signal(_signal.SIGPIPE if error.errno == _EPIPE else _signal.SIGXFSZ)


def _take_own_signal(signum):
    """Take the ``signum`` the kernel just sent this process for its own failed write, so that it is
    never forwarded; one that another process sent meanwhile (merged with it) is raised again.

    By the sender's pid: glibc reports a signal this process raised itself
    as sent with kill(), like the kernel's, so no si_code tells them apart.
    """
    info = _signal.sigtimedwait({signum}, 0)
    if info is not None and info.si_pid != posix.getpid():
        _signal.raise_signal(signum)


def _write_first_line(line):
    """Choose how to write to stderr at once or fail, never waiting, then write ``line`` that way.

    Never sets O_NONBLOCK on fd 2 itself: the command shares that open file
    description, and its writes must keep blocking.  In order of preference:
    a plain write for a regular file (nothing to wait for but the disk), a
    write with ``RWF_NOWAIT`` (pipes and sockets on recent kernels), a second
    non-blocking open of stderr (terminals, and pipes on older kernels), a
    ``MSG_DONTWAIT`` send (sockets on older kernels); otherwise nothing is
    ever written.
    """
    global _write_line
    try:
        mode = posix.fstat(2).st_mode & _S_IFMT
    except OSError:  # stderr is closed
        mode = None
    if mode == _S_IFREG:
        _write_line = lambda line: posix.write(2, line)  # noqa: E731
    elif mode is not None:
        _write_line = lambda line: posix.pwritev(2, [line], -1, posix.RWF_NOWAIT)  # noqa: E731
        try:
            return _write_line(line)
        except OSError as error:
            if error.errno != _EOPNOTSUPP:
                raise
        _write_line = _nonblocking_stderr(mode)
    else:
        _write_line = _drop
    return _write_line(line)


def _nonblocking_stderr(mode):
    try:
        fd = posix.open("/proc/self/fd/2", posix.O_WRONLY | posix.O_APPEND | posix.O_NONBLOCK | posix.O_NOCTTY)
        return lambda line: posix.write(fd, line)
    except OSError:  # a socket, another user's pipe or terminal, no /proc
        pass
    if mode == _S_IFSOCK:
        import _socket

        stderr = _socket.socket(fileno=posix.dup(2))
        return lambda line: stderr.send(line, _socket.MSG_DONTWAIT)
    return _drop


def _drop(line):
    pass


_write_line = _write_first_line
"""How :func:`say` writes a line; the first line chooses (see :func:`_write_first_line`)."""
