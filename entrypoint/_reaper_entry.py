import _signal  # first of all: a signal that reaches PID 1 before it is blocked is lost for good

_signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())

# The `reaper` console script's entry point.  It lives outside the package so
# that the block above comes before the package is read: importing anything
# first would widen the window in which a SIGTERM to a starting PID 1 is lost.
from reaper._command import run  # noqa: E402

__all__ = ["run"]
