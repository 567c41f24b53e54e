"""A PID 1 for containers, and a Python port of go-reaper's API.

Two ways to reap zombies from Python code:

* :func:`run_forked` and :func:`with_reaper` (recommended): this process
  becomes a reaper that only supervises, and runs the same program again as
  its child, marked by an environment variable.  Reaping never touches the
  program's own children, so ``subprocess`` keeps every exit status.

* :func:`reap` and :func:`start`: a background thread of this process reaps
  its children.  It races with ``subprocess`` and ``os.waitpid``: when the
  thread reaps a child first, ``Popen`` reports return code 0 for it.  Use
  these only in programs that never wait for a child of their own.
"""

import posix  # not os: the reaper command imports this module too (see _supervisor)
import sys

from reaper._proc import become_subreaper
from reaper._supervisor import environ, exit_status, logger, say, supervise

__version__ = "0.1.0"
__all__ = ["Config", "Status", "reap", "run_forked", "start", "with_reaper"]


class Config:
    """How to reap; the fields of go-reaper's ``Config``.

    ``pid``, ``options``
        The arguments of every ``os.waitpid`` call in :func:`start` (default:
        any child, blocking).  With ``os.WNOHANG`` the thread sleeps until
        the next SIGCHLD instead of spinning as go-reaper's does.
    ``disable_pid1_check``
        Reap in :func:`start` even when this process is not PID 1.
    ``enable_child_subreaper``
        Become a child subreaper, so orphaned descendants are adopted; with
        :func:`start` this alone is enough to reap them.
    ``status_queue``
        An object with ``put_nowait`` (``queue.Queue``) that receives a
        :class:`Status` for every reaped child.  The reaper never blocks on
        it: when it is full the status is dropped with a warning.
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
    """Reap children in a background thread, but only when this process is PID 1.

    The same as ``start(Config())``; see the module's note on ``subprocess``.
    """
    start(Config())


def start(config):
    """Reap children in a background daemon thread, as ``config`` says.

    Off PID 1 it does nothing unless ``config.disable_pid1_check`` or
    ``config.enable_child_subreaper`` is set.  Must be called from the main
    thread: it installs a SIGCHLD handler, which calls any handler that was
    there before.
    """
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
    import threading

    # The handler only writes to a pipe: Python may re-enter a handler at
    # any bytecode, so anything that takes a lock there can deadlock.
    wake_up, woken = posix.pipe()
    posix.set_blocking(woken, False)
    previous = signal.getsignal(signal.SIGCHLD)

    def on_sigchld(signum, frame):
        try:
            posix.write(woken, b"!")
        except BlockingIOError:  # the pipe is full of wake-ups already
            pass
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGCHLD, on_sigchld)
    posix.write(woken, b"!")  # children that exited before the handler was in place
    threading.Thread(target=_reap_forever, args=(config, wake_up, log), name="reaper", daemon=True).start()


def run_forked(config=None):
    """Become a reaper and run this same program again as its child; return only in the child.

    Without ``config.clone_env_indicator`` in the environment, this process
    runs ``sys.executable`` with the interpreter options and arguments it was
    started with (``sys.orig_argv``) as its only child, with the indicator set
    to its pid, then reaps, forwards signals and shuts down exactly as the
    ``reaper`` command does, and exits with the child's exit status.  In the
    child (the indicator is set) it returns at once.
    """
    config = Config() if config is None else config
    if config.clone_env_indicator in environ():
        return
    status = supervise(
        [sys.executable, *sys.orig_argv[1:]],
        marker=config.clone_env_indicator,
        verbose=config.debug,
    )
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


def _reap_forever(config, wake_up, log):
    while True:
        posix.read(wake_up, 4096)
        while _reap_one(config, log):
            pass


def _reap_one(config, log):
    """Wait for one child as ``config`` says; tell whether to wait again at once."""
    try:
        pid, wait_status = posix.waitpid(config.pid, config.options)
    except ChildProcessError:
        return False
    except OSError as error:
        if log:
            log(f"wait failed: {error}")
        _notify(config.status_queue, Status(0, error, 0))
        return False
    if pid == 0:  # WNOHANG and nothing has exited yet: sleep until the next SIGCHLD
        return False
    if log:
        log(f"reaped {pid}, exit status {exit_status(wait_status)}")
    _notify(config.status_queue, Status(pid, None, wait_status))
    return True


def _notify(status_queue, status):
    if status_queue is None:
        return
    from queue import Full

    try:
        status_queue.put_nowait(status)
    except Full:
        say(f"status queue is full, lost the status of {status.pid}")
