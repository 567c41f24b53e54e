"""The library: go-reaper's API (see the package's docstring), read on first use of ``reaper.X``."""

import posix  # not os, as everywhere in the package (see _supervisor)
import sys

from reaper import _LAUNCH_DIRECTORY
from reaper._proc import become_subreaper, parent_and_start, reaper_above, sees_this_namespace
from reaper._supervisor import environ, exit_status, logger, say, supervise


class Config:
    """How to reap; the fields of go-reaper's ``Config``.

    ``pid``, ``options``
        Which children :func:`start` reaps, as for ``os.waitpid(pid, options)``
        (default: any child): -1 any child, a positive pid that child only, 0
        this process's group, below -1 the group ``-pid``; of those, only the
        ones this program did not create.  ``os.WUNTRACED``
        and ``os.WCONTINUED`` also report stops and continues of the children
        it may reap (never taken for an exit); the thread never blocks nor
        spins, whether ``os.WNOHANG`` is given or not: it sleeps until the
        next SIGCHLD.
    ``disable_pid1_check``
        Reap in :func:`start` even when this process is not PID 1.
    ``enable_child_subreaper``
        Become a child subreaper, so orphaned descendants are adopted; with
        :func:`start` this alone is enough to reap them.
    ``status_queue``
        An object with ``put_nowait`` (``queue.Queue``) that receives a
        :class:`Status` for every child the reaper reaped (or saw stop or
        continue).  The reaper never blocks on it: when it is full the status
        is dropped with a warning; when ``put_nowait`` fails otherwise (a
        queue shut down, a closed channel) the status is dropped, with one
        warning the first time, and reaping goes on.
    ``clone_env_indicator``
        The environment variable that marks the child of :func:`run_forked`.
    ``debug``
        Log what the reaper does to stderr, each line starting ``reaper:``.
    """

    __slots__ = (
        "clone_env_indicator",
        "debug",
        "disable_pid1_check",
        "enable_child_subreaper",
        "options",
        "pid",
        "status_queue",
    )

    def __init__(
        self,
        pid=-1,
        options=0,
        disable_pid1_check=False,
        enable_child_subreaper=False,
        status_queue=None,
        clone_env_indicator="REAPER",
        debug=False,
    ):
        self.pid = pid
        self.options = options
        self.disable_pid1_check = disable_pid1_check
        self.enable_child_subreaper = enable_child_subreaper
        self.status_queue = status_queue
        self.clone_env_indicator = clone_env_indicator
        self.debug = debug

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Config({fields})"


class Status:
    """One reaped child: its ``pid``, the ``error`` of the wait (an OSError or None),
    and the raw ``wait_status`` (see ``os.waitstatus_to_exitcode``)."""

    __slots__ = ("error", "pid", "wait_status")

    def __init__(self, pid, error, wait_status):
        self.pid = pid
        self.error = error
        self.wait_status = wait_status

    def __eq__(self, other):
        if not isinstance(other, Status):
            return NotImplemented
        return (self.pid, self.error, self.wait_status) == (other.pid, other.error, other.wait_status)

    def __hash__(self):
        return hash((self.pid, self.wait_status))

    def __repr__(self):
        return f"Status(pid={self.pid!r}, error={self.error!r}, wait_status={self.wait_status!r})"


def reap():
    """Reap orphans in a background thread, but only when this process is PID 1.

    The same as ``start(Config())``.
    """
    start(Config())


def start(config):
    """Reap, in a background daemon thread, the children that no code of this program will wait for.

    Off PID 1 it does nothing unless ``config.disable_pid1_check`` or
    ``config.enable_child_subreaper`` is set.  It must be called from the
    main thread (it installs a SIGCHLD handler, which calls any handler that
    was there before), once; otherwise it raises RuntimeError before it
    changes anything.

    How the program keeps its children: from this call on, every way Python
    has to create a process (``os.fork``, ``os.forkpty``, ``os.posix_spawn``,
    ``os.posix_spawnp``, ``os.system`` and ``_posixsubprocess.fork_exec``, on
    which ``subprocess``, ``asyncio``, ``multiprocessing``, ``os.popen``,
    ``os.spawn*`` and ``pty`` are built) records the pid and start time of
    the child it creates, and the children that exist at this call are
    recorded too.  The thread looks at a zombie without reaping it
    (``waitid`` with ``WNOWAIT``) and reaps it only when it is not one of
    those; when it is, it reaps the others from the list of its children in
    ``/proc``.  While a creation is under way (for ``os.system``, the whole
    call) a zombie the thread does not know is left until it ends.

    Limits: a child created by C code that forks on its own (a C extension,
    ``ctypes``) is taken for an orphan and reaped, so that code's own wait
    fails; code that waits for any child (``os.wait()``, ``waitpid(-1)``)
    still races with the thread; a child the program creates and never waits
    for stays a zombie, as it would without a reaper.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("reaper.start() must be called from the main thread")
    if _children.active:
        raise RuntimeError("reaper.start() was called already: this process is reaping")
    log = logger(config.debug)
    if config.enable_child_subreaper:
        try:
            become_subreaper()
        except OSError as error:
            say(f"cannot become a child subreaper: {error.strerror}")
    if posix.getpid() != 1 and not (config.disable_pid1_check or config.enable_child_subreaper):
        if log:
            log("reaper disabled, pid not 1")
        return
    import signal

    # The handler only writes to a pipe: Python may re-enter a handler at
    # any bytecode, so anything that takes a lock there can deadlock.
    wake_up, woken = posix.pipe()
    posix.set_blocking(woken, False)
    previous = signal.getsignal(signal.SIGCHLD)

    def on_sigchld(signum, frame):
        _wake(_children.wake)  # after a fork, the child's tracker has no pipe: it wakes nobody
        if callable(previous):
            previous(signum, frame)

    _track_creators()
    _children.activate(woken)
    signal.signal(signal.SIGCHLD, on_sigchld)
    _wake(woken)  # children that exited before the handler was in place
    threading.Thread(target=_reap_forever, args=(_children, config, wake_up, log), name="reaper", daemon=True).start()


def run_forked(config=None):
    """Become a reaper and run this same program again as its child; return only in the child.

    Unless this process is that child, it runs ``sys.executable`` with the
    interpreter options and arguments it was started with
    (``sys.orig_argv``, the script by its absolute path) as its only child,
    from the working directory it had when it imported ``reaper``, with
    ``config.clone_env_indicator`` set to its pid; then it reaps, forwards
    signals and shuts down exactly as the ``reaper`` command does, and exits
    with the child's exit status.

    This process is the child, and the call returns at once, when the
    indicator names a live ancestor and this process is not PID 1: as PID 1
    an inherited or forged indicator is ignored, as the command ignores
    ``REAPER``.  A program read from standard input cannot be run again:
    then it raises RuntimeError, before it changes anything.
    """
    config = Config() if config is None else config
    if posix.getpid() != 1 and reaper_above(environ().get(config.clone_env_indicator, "")):
        return
    if not sys.argv or sys.argv[0] in ("", "-"):
        raise RuntimeError(
            "reaper.run_forked() cannot run again a program read from standard input: run it from a file"
        )
    try:
        posix.chdir(_LAUNCH_DIRECTORY)  # the child starts where this program started; supervise leaves it for /
    except OSError:
        pass
    status = supervise(_program_again(), marker=config.clone_env_indicator, verbose=config.debug)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    posix._exit(status)


def with_reaper(config, entry_point):
    """Run ``entry_point()`` in the child of :func:`run_forked`, then exit with what it returns.

    ``None`` exits 0, an int exits with that status, and an exception is
    raised as usual (a traceback and exit status 1).
    """
    run_forked(config)
    sys.exit(entry_point())


def _program_again():
    """The command line that runs this program again, its script named by its absolute path."""
    argv = [sys.executable, *sys.orig_argv[1:]]
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None) if getattr(main, "__spec__", None) is None else None
    where = len(argv) - len(sys.argv)  # the script comes after the interpreter's options
    if script and where > 0 and argv[where].rpartition("/")[2] == script.rpartition("/")[2]:
        argv[where] = script  # absolute since Python 3.9, whatever directory the program is in now
    return argv


class _Children:
    """The children this program created, and the lock that makes a creation and a reaping pass exclusive.

    A creation counts itself in ``creating`` before it forks and records
    the child's pid and start time after, both under ``lock``; a reaping
    pass holds ``lock`` throughout and reaps no unknown process while a
    creation is under way (its child's pid is not known yet): it sets
    ``deferred``, and the creation wakes the thread again when it ends.
    """

    def __init__(self):
        self.lock = None  # made by activate: the reaper command imports this module and must not import threading
        self.active = False
        self.wake = None
        self.creating = 0
        self.deferred = False
        self.mine = {}  # pid -> start time in clock ticks (None when /proc cannot tell)
        self.prune_at = 64
        self.pid = 0
        self.sees_proc = False
        self.told = False

    def activate(self, wake):
        import threading

        self.lock = threading.RLock()  # reentrant: a signal handler may create a process inside a creation
        self.pid = posix.getpid()
        self.sees_proc = sees_this_namespace()
        self.wake = wake
        with self.lock:
            for pid in self.children():  # created before this call, perhaps by code that will wait for them
                self.record(pid)
            self.active = True

    def begin(self):
        with self.lock:
            self.creating += 1

    def end(self, pid):
        with self.lock:
            if pid:
                self.record(pid)
            self.creating -= 1
            wake = self.deferred and not self.creating
            if wake:
                self.deferred = False
        if wake:
            _wake(self.wake)

    def record(self, pid):
        if not self.sees_proc:
            self.mine[pid] = None
            return
        known = parent_and_start(pid)
        if known is not None:  # else it was reaped already, by the program's own code
            self.mine[pid] = known[1]
        if len(self.mine) >= self.prune_at:  # forget the children the program has waited for
            for gone in [pid for pid, start in self.mine.items() if (parent_and_start(pid) or (0, -1))[1] != start]:
                del self.mine[gone]
            self.prune_at = max(64, 2 * len(self.mine))

    def is_theirs(self, pid, peeked):
        """Whether ``pid`` is, or may be, a process that code of this program will wait for.

        ``peeked``: ``pid`` came from ``waitid``, which also reports the
        processes this program traces; the list of children does not.
        """
        start = self.mine.get(pid, False)
        if peeked or start is not False:
            known = parent_and_start(pid) if self.sees_proc else None
            if known is not None and known[0] != self.pid:
                return True  # traced by this program, not its child: its tracer waits for it
            if start is not False:
                if start is None or known is None or start == known[1]:
                    return True
                del self.mine[pid]  # the pid was reused: the program's child of that pid is long gone
        if self.creating:
            self.deferred = True
            return True
        return False

    def children(self):
        """The pids of this process's children (of all its threads), or nothing when /proc cannot tell."""
        if not self.sees_proc:
            return []
        found = []
        for task in posix.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/children", "rb") as listed:
                    found += map(int, listed.read().split())
            except OSError:  # the thread ended meanwhile; its children went to another one, listed too
                pass
        return found

    def reap(self, config, log):
        """Reap what ``config`` selects and the program will not wait for, then report it.

        Returns how long to sleep before looking again without a SIGCHLD:
        None, or a short while when a zombie of the program's hides others
        and /proc cannot list them.
        """
        reaped = []
        with self.lock:
            pause = self.reap_unlocked(config, reaped)
        # Reported outside the lock: a slow put_nowait must not hold up the program's creations.
        for status in reaped:
            if log:
                log(
                    f"wait failed: {status.error}"
                    if status.error
                    else f"reaped {status.pid}, {_describe(status.wait_status)}"
                )
            self.notify(config.status_queue, status)
        return pause

    def reap_unlocked(self, config, reaped):
        extra = config.options & (posix.WUNTRACED | posix.WCONTINUED)
        idtype, ident = _selected(config.pid)
        while True:
            try:
                seen = posix.waitid(idtype, ident, posix.WEXITED | posix.WNOHANG | posix.WNOWAIT | extra)
            except ChildProcessError:
                return None
            except OSError as error:  # reported as go-reaper reports a failed wait
                reaped.append(Status(0, error, 0))
                return None
            if seen is None:
                return None
            if self.is_theirs(seen.si_pid, peeked=True) or not self.reap_one(seen.si_pid, extra, reaped):
                break
        if config.pid > 0 or self.deferred:
            return None
        if not self.sees_proc:
            return 0.5
        for pid in self.children():
            if config.pid != -1 and _group_of(pid) != ident:
                continue
            if not self.is_theirs(pid, peeked=False):
                self.reap_one(pid, extra, reaped)
        return None

    def reap_one(self, pid, extra, reaped):
        try:
            pid, wait_status = posix.waitpid(pid, posix.WNOHANG | extra)
        except ChildProcessError:
            return False
        except OSError as error:
            reaped.append(Status(0, error, 0))
            return False
        if pid == 0:
            return False
        reaped.append(Status(pid, None, wait_status))
        return True

    def notify(self, status_queue, status):
        if status_queue is None:
            return
        from queue import Full

        try:
            status_queue.put_nowait(status)
        except Full:
            say(f"status queue is full, lost the status of {status.pid}")
        except Exception as error:  # a queue shut down, a closed channel: reaping goes on
            if not self.told:
                self.told = True
                say(f"status queue refused a status ({type(error).__name__}), dropping this and later ones")


_children = _Children()


def _forget_in_child():
    """After a fork, the child neither reaps nor tracks: its tracker starts afresh, with no lock held."""
    global _children
    _children = _Children()


_tracked = False


def _track_creators():
    """Make every Python way of creating a process record its child in ``_children``."""
    global _tracked
    if _tracked:  # a child of a fork that calls start() again
        return
    _tracked = True
    import _posixsubprocess
    import os

    def first(result):
        return result[0]

    def itself(result):
        return result

    def nothing(result):
        return None

    for name, pid_of in (
        ("fork", itself),
        ("forkpty", first),
        ("posix_spawn", itself),
        ("posix_spawnp", itself),
        ("system", nothing),
    ):
        original = getattr(posix, name, None)
        if original is not None:
            tracked = _tracking(original, pid_of)
            for module in (os, posix):  # os.spawn*, pty and multiprocessing's fork call os.fork at call time
                setattr(module, name, tracked)
    tracked = _tracking(_posixsubprocess.fork_exec, itself)
    subprocess = sys.modules.get("subprocess")  # it binds fork_exec at import
    if subprocess is not None and getattr(subprocess, "_fork_exec", None) is _posixsubprocess.fork_exec:
        subprocess._fork_exec = tracked
    _posixsubprocess.fork_exec = tracked  # multiprocessing's spawn and forkserver call it at call time
    os.register_at_fork(after_in_child=_forget_in_child)


def _tracking(create, pid_of):
    def created(*args, **kwargs):
        children = _children
        if not children.active:
            return create(*args, **kwargs)
        children.begin()
        pid = None
        try:
            result = create(*args, **kwargs)
            pid = pid_of(result)
            return result
        finally:
            if pid != 0:  # in the child of a fork, _forget_in_child has replaced the tracker
                children.end(pid)

    created.__name__ = create.__name__
    created.__qualname__ = create.__qualname__
    created.__doc__ = create.__doc__
    created.__wrapped__ = create
    return created


def _selected(pid):
    """``waitid``'s idtype and id for a ``waitpid`` pid."""
    if pid == -1:
        return posix.P_ALL, 0
    if pid > 0:
        return posix.P_PID, pid
    return posix.P_PGID, -pid if pid < -1 else posix.getpgrp()


def _group_of(pid):
    try:
        return posix.getpgid(pid)
    except OSError:
        return None


def _describe(wait_status):
    """A wait status in words; a stop or a continue is never taken for an exit."""
    if posix.WIFSTOPPED(wait_status):
        return f"stopped by signal {posix.WSTOPSIG(wait_status)}"
    if posix.WIFCONTINUED(wait_status):
        return "continued"
    return f"exit status {exit_status(wait_status)}"


def _wake(fd):
    if fd is None:
        return
    try:
        posix.write(fd, b"!")
    except BlockingIOError:  # the pipe is full of wake-ups already
        pass


def _reap_forever(children, config, wake_up, log):
    import select

    pause = None
    while True:
        if select.select([wake_up], [], [], pause)[0]:
            posix.read(wake_up, 4096)
        try:
            pause = children.reap(config, log)
        except Exception as error:  # a PID 1 whose reaping thread dies piles up zombies for ever
            say(f"reaping failed, will retry on the next SIGCHLD: {error!r}")
            pause = None
