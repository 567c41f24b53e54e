"""The library: go-reaper's API (see the package's docstring), read on first use of ``reaper.X``."""

import _thread
import posix  # not os, as everywhere in the package (see _supervisor)
import sys

from reaper import _LAUNCH_DIRECTORY
from reaper._proc import become_subreaper, parent_and_start, reaper_above, sees_this_namespace
from reaper._supervisor import environ, exit_status, logger, say, supervise

_ANY_CHANGE = posix.WEXITED | posix.WSTOPPED | posix.WCONTINUED
_UNTIL_A_CHILD_CHANGES = "until a child changes state"
_CREATION_LOOK = 0.5
"""Seconds before a deferred pass looks again, should the creation it waits for never say it ended."""
_BLIND_LOOK = 1.0
"""Seconds between passes while no SIGCHLD can wake the thread and no child is there to wait for."""


class Config:
    """How to reap; the fields of go-reaper's ``Config``.

    ``pid``, ``options``
        Which children :func:`start` reaps, as for ``os.waitpid(pid, options)``
        (default: any child): -1 any child, a positive pid that child only, 0
        this process's group, below -1 the group ``-pid``; of those, only the
        ones this program did not create.  ``os.WUNTRACED``
        and ``os.WCONTINUED`` also report stops and continues of the children
        it may reap (never taken for an exit); the thread never spins,
        whether ``os.WNOHANG`` is given or not: it sleeps until a child
        changes state.
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
    changes anything.  A SIGCHLD ignored at this call stays ignored: the
    kernel then reaps every child at once, the program's and the orphans.

    How the program keeps its children: from this call on, every way Python
    has to create a process (``os.fork``, ``os.forkpty``, ``os.posix_spawn``,
    ``os.posix_spawnp``, ``os.system`` and ``_posixsubprocess.fork_exec``, on
    which ``subprocess``, ``asyncio``, ``multiprocessing``, ``os.popen``,
    ``os.spawn*`` and ``pty`` are built) records the child it creates (by a
    pidfd where the kernel gives each process its own, else by its start
    time), and the children that exist at this call are recorded too.  The
    thread waits for a child to change state (``waitid`` with ``WNOWAIT``,
    which reaps nothing), and reaps it only when it is not one of those;
    when it is, it reaps the others from the list of its children in
    ``/proc`` and sleeps until the next SIGCHLD.  While a creation is under
    way (for ``os.system``, the whole call) a zombie the thread does not
    know is left until it ends.  The library keeps no descriptor of its own
    but those pidfds, and checks each is still its own before it uses it.

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

    previous = signal.getsignal(signal.SIGCHLD)
    chained = previous if callable(previous) else None

    def on_sigchld(signum, frame):
        # Few instructions and no call of Python code: another handler of the program may raise between any two.
        try:
            _children.wake.release()  # a lock, never a descriptor: the program may close any of them
        except RuntimeError:  # woken already
            pass
        except SystemError:  # released, but CPython ran this handler with another handler's exception pending
            pass
        if chained is not None:
            chained(signum, frame)

    _track_creators()
    # SIGCHLD blocked in the main thread: no handler runs, so the thread also looks again now and then.
    _children.activate(blind=signal.SIGCHLD in signal.pthread_sigmask(signal.SIG_BLOCK, ()))
    if previous != signal.SIG_IGN:
        signal.signal(signal.SIGCHLD, on_sigchld)
        if chained is None:  # SIG_DFL interrupted no system call: neither does the library's handler
            signal.siginterrupt(signal.SIGCHLD, False)
    threading.Thread(target=_reap_forever, args=(_children, config, log), name="reaper", daemon=True).start()


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
    """The children this program created, the creations under way, and the lock that wakes the reaping thread.

    Shared with the program's threads by single dictionary operations
    (atomic under the GIL) and no lock, so that an exception raised at any
    point of a creation (the program's signal handlers run between any two
    instructions) leaves nothing held: a creation registers its frame in
    ``creating`` before it forks, records its child in ``mine`` after, and
    unregisters.  The thread reads ``creating`` before ``mine``, so a child
    it finds in neither was not created by this program's Python code; a
    registration whose frame no longer runs (an exception skipped its end)
    is dropped when the thread looks.  Only the thread closes pidfds.
    """

    def __init__(self):
        self.active = False
        self.wake = _thread.allocate_lock()  # released to wake the thread: a binary semaphore
        self.wake.acquire()
        self.creating = {}  # the frame of each creation under way -> its thread
        self.mine = {}  # pid -> (pidfd, its (st_dev, st_ino), start time in clock ticks), each part None when unknown
        self.retired = []  # identities replaced by a reused pid's, for the thread to release
        self.deferred = False
        self.prune_at = 64
        self.pid = 0
        self.sees_proc = False
        self.pidfds = False
        self.idle = None
        self.told = False

    def activate(self, blind):
        self.pid = posix.getpid()
        self.sees_proc = sees_this_namespace()
        self.pidfds = _pidfds_are_unique()
        self.idle = _BLIND_LOOK if blind else None
        for pid in self.children() or ():  # created before this call, perhaps by code that will wait for them
            self.record(pid)
        self.active = True

    def wake_up(self):
        try:
            self.wake.release()
        except RuntimeError:  # woken already
            pass

    def sleep(self, timeout):
        self.wake.acquire(timeout=-1 if timeout is None else timeout)

    def record(self, pid):
        identity = self.identify(pid)
        if identity is None:
            return
        replaced = self.mine.pop(pid, None)
        self.mine[pid] = identity
        if replaced is not None:
            self.retired.append(replaced)

    def identify(self, pid):
        """The identity of the program's child ``pid``, or None when it was reaped already.

        A pidfd (exact) where the kernel gives each process its own, and the
        start time from ``/proc`` (exact to a clock tick); with neither (no
        descriptor left, no ``/proc`` of this namespace) the pid alone.
        """
        pidfd = key = None
        if self.pidfds:
            try:
                pidfd = posix.pidfd_open(pid)
                key = _key_of(pidfd)
            except ProcessLookupError:  # reaped by the kernel (SIGCHLD ignored) or by the program already
                return None
            except OSError:  # no descriptor left: the start time, or the pid alone, must do
                pidfd = None
        known = parent_and_start(pid) if self.sees_proc else None
        if pidfd is None and known is None and not self.is_child(pid):
            return None
        return pidfd, key, None if known is None else known[1]

    def is_child(self, pid):
        """Whether ``pid`` is a child of this process not reaped yet (whichever process has that pid now)."""
        try:
            posix.waitid(posix.P_PID, pid, _ANY_CHANGE | posix.WNOHANG | posix.WNOWAIT)
        except ChildProcessError:
            return False
        except OSError:
            pass
        return True

    def is_same(self, pid, identity):
        """Whether ``pid`` is (or, when that cannot be told, may be) the process of ``identity``."""
        pidfd, key, start = identity
        if pidfd is not None and _key_of(pidfd) == key:
            try:
                posix.waitid(posix.P_PIDFD, pidfd, _ANY_CHANGE | posix.WNOHANG | posix.WNOWAIT)
                return True
            except ChildProcessError:  # the program reaped it: the pid now names another process
                return False
            except OSError:
                pass
        if start is not None:
            known = parent_and_start(pid)
            if known is not None:
                return known[1] == start
        return self.is_child(pid)

    def forget(self, pid, identity):
        if self.mine.get(pid) is identity and self.mine.pop(pid, None) is identity:
            self.release(identity)

    def release(self, identity):
        """Close the pidfd of ``identity``, unless the program closed it and the number is now one of its own."""
        pidfd, key, _ = identity
        if pidfd is not None and _key_of(pidfd) == key:
            try:
                posix.close(pidfd)
            except OSError:
                pass

    def prune(self):
        """Forget the children the program has waited for."""
        while self.retired:
            self.release(self.retired.pop())
        if len(self.mine) < self.prune_at:
            return
        for pid, identity in list(self.mine.items()):
            if not self.is_same(pid, identity):
                self.forget(pid, identity)
        self.prune_at = max(64, 2 * len(self.mine))

    def under_way(self):
        """Whether a creation is under way; drops the registrations that an exception left behind."""
        if not self.creating:
            return False
        registered = list(self.creating.items())  # before the stacks: a later registration is not in them
        running = sys._current_frames()
        for frame, thread in registered:
            current = running.get(thread)
            while current is not None and current is not frame:
                current = current.f_back
            if current is not None:
                return True
            self.creating.pop(frame, None)
        return False

    def is_theirs(self, pid, peeked):
        """Whether ``pid`` is, or may be, a process that code of this program will wait for.

        ``peeked``: ``pid`` came from ``waitid``, which also reports the
        processes this program traces; the list of children does not.
        """
        under_way = self.under_way()  # before mine: a creation records its child before it ends
        identity = self.mine.get(pid)
        if identity is not None:
            if self.is_same(pid, identity):
                return True
            self.forget(pid, identity)  # the pid was reused: the program's child of that pid is long gone
        if peeked and self.sees_proc:
            known = parent_and_start(pid)
            if known is not None and known[0] != self.pid:
                return True  # traced by this program, not its child: its tracer waits for it
        if under_way:
            self.deferred = True
            return True
        return False

    def children(self):
        """The pids of this process's children (of all its threads), or None when /proc cannot tell."""
        if not self.sees_proc:
            return None
        found = []
        try:
            for task in posix.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{task}/children", "rb") as listed:
                        found += map(int, listed.read().split())
                except (FileNotFoundError, ProcessLookupError):  # the thread ended; its children went to another
                    pass
        except OSError:  # no descriptor left
            return None
        return found

    def reap(self, config, log):
        """Reap what ``config`` selects and the program will not wait for, then report it.

        Returns how to wait before the next pass: ``_UNTIL_A_CHILD_CHANGES``,
        or a timeout for the wake lock (None: until the next SIGCHLD).
        """
        self.prune()
        reaped = []
        pause = self.reap_some(config, reaped)
        for status in reaped:
            if log:
                log(
                    f"wait failed: {status.error}"
                    if status.error
                    else f"reaped {status.pid}, {_describe(status.wait_status)}"
                )
            self.notify(config.status_queue, status)
        return pause

    def reap_some(self, config, reaped):
        extra = config.options & (posix.WUNTRACED | posix.WCONTINUED)
        idtype, ident = _selected(config.pid)
        self.deferred = False
        while True:
            try:
                seen = posix.waitid(idtype, ident, posix.WEXITED | posix.WNOHANG | posix.WNOWAIT | extra)
            except ChildProcessError:
                return self.idle
            except OSError as error:  # reported as go-reaper reports a failed wait
                reaped.append(Status(0, error, 0))
                return self.idle
            if seen is None:
                return _UNTIL_A_CHILD_CHANGES
            if self.is_theirs(seen.si_pid, peeked=True) or not self.reap_one(seen.si_pid, extra, reaped):
                break
        if self.deferred:
            return _CREATION_LOOK  # the creation wakes the thread when it ends; this covers one an exception cut short
        if config.pid > 0:
            return self.idle
        children = self.children()
        if children is None:
            return _BLIND_LOOK
        for pid in children:
            if config.pid != -1 and _group_of(pid) != ident:
                continue
            if not self.is_theirs(pid, peeked=False):
                self.reap_one(pid, extra, reaped)
        return _CREATION_LOOK if self.deferred else self.idle

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
    """After a fork, the child neither reaps nor tracks: its tracker starts afresh, without the parent's pidfds."""
    global _children
    parents, _children = _children, _Children()
    for identity in [*parents.mine.values(), *parents.retired]:
        parents.release(identity)


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
        frame = sys._getframe()
        try:  # everything inside: an exception anywhere leaves at most a registration, which the thread drops
            children.creating[frame] = _thread.get_ident()
            result = create(*args, **kwargs)
            pid = pid_of(result)
            if pid:  # 0 in the child of a fork, where _forget_in_child has replaced the tracker
                children.record(pid)
            return result
        finally:
            children.creating.pop(frame, None)
            children.wake_up()  # the new child is one to wait for, and a deferred pass may go on

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


def _key_of(fd):
    """What tells one open file from another: ``(st_dev, st_ino)``, or None when ``fd`` is closed."""
    try:
        status = posix.fstat(fd)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _pidfds_are_unique():
    """Whether this kernel gives each process's pidfd its own inode (pidfs, Linux 6.9), so a pidfd can be told
    from any other descriptor; before, every pidfd shares one anonymous inode with epoll's and eventfd's."""
    import select

    try:
        pidfd = posix.pidfd_open(posix.getpid())
    except (AttributeError, OSError):  # kernels before 5.3, or no descriptor left
        return False
    try:
        with select.epoll() as anonymous:
            return _key_of(pidfd) != _key_of(anonymous.fileno())
    except OSError:
        return False
    finally:
        posix.close(pidfd)


def _reap_forever(children, config, log):
    """Reap, then wait for a child to change state (no signal needed), or for a wake-up when none can."""
    idtype, ident = _selected(config.pid)
    extra = config.options & (posix.WUNTRACED | posix.WCONTINUED)
    while True:
        try:
            pause = children.reap(config, log)
        except Exception as error:  # a PID 1 whose reaping thread dies piles up zombies for ever
            say(f"reaping failed, will retry on the next SIGCHLD: {error!r}")
            pause = children.idle
        if pause is _UNTIL_A_CHILD_CHANGES:
            try:
                posix.waitid(idtype, ident, posix.WEXITED | posix.WNOWAIT | extra)
                continue
            except OSError:  # no child left (or a wait refused): the next creation or SIGCHLD wakes the thread
                pause = children.idle
        children.sleep(pause)
