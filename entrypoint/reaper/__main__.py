"""``python -m reaper``: the reaper command."""

from reaper._command import run

run()
