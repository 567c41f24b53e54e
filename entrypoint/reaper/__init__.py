"""A PID 1 for containers, and a Python port of go-reaper's API.

Two ways to reap zombies from Python code:

* :func:`reap` and :func:`start`: a background thread of this process reaps
  the processes that no code of this program will wait for (orphans adopted
  as PID 1 or as a child subreaper), and leaves every child the program
  created to the code that waits for it: ``subprocess``, ``asyncio``,
  ``multiprocessing``, ``os.system``, ``os.spawn*``, ``os.fork`` and
  ``os.posix_spawn`` keep every exit status.  See :func:`start` for how, and
  for the limits.

* :func:`run_forked` and :func:`with_reaper`: this process becomes a reaper
  that only supervises, and runs the same program again as its child, marked
  by an environment variable, exactly as the ``reaper`` command runs a
  command.
"""

import posix  # built in: the reaper command imports this package first, and must start fast

__version__ = "0.1.0"
__all__ = ["Config", "Status", "reap", "run_forked", "start", "with_reaper"]

try:
    _LAUNCH_DIRECTORY = posix.getcwd()
    """Where the program started, as far as we can tell: run_forked re-runs it from there."""
except OSError:  # the working directory was removed
    _LAUNCH_DIRECTORY = "/"


def __getattr__(name):
    # The library is read on first use: the reaper command, which imports this
    # package before anything else, needs none of it, and the image ships none.
    if name in __all__:
        from reaper import _library

        return getattr(_library, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})
