"""What the tests share: how to run the reaper, as PID 1 or not, and how to look at processes."""

import contextlib
import glob
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from workloads import APP_AS_PID1, NEW_PID_NAMESPACE, as_pid1, proc_stat, wait_for  # noqa: F401  (support's names)

ROOT = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).parent / "helpers"
ENTRYPOINT = str(ROOT / "entrypoint")
IMAGE_LAUNCHER = "/usr/local/lib/python-reaper/pid1"
IMAGE_ENTRYPOINT = ["python3", "-ISB", IMAGE_LAUNCHER]
"""The image's ENTRYPOINT: the base's interpreter, found on PATH, runs the launcher that no package installs to."""
RELEASE_TARGET = "py313-trixie"
RELEASE_IMAGES = [f"{RELEASE_TARGET}@linux/amd64", f"{RELEASE_TARGET}@linux/arm64"]
"""The bake target pushed to a registry as one multi-platform tag, and its images, one per platform of a release."""
"""The directory that holds the reaper package: PYTHONPATH for another interpreter than the tests'."""
PRINT_SIGNALS = [sys.executable, str(HELPERS / "print_signals.py")]
MASTER_WORKER = [sys.executable, str(HELPERS / "master_worker.py")]
"""A master with its own SIGHUP and SIGTERM handlers and a worker in its group that dies of either."""
REAPER = [sys.executable, "-m", "reaper"]
NON_REAPING_PID1 = [sys.executable, *APP_AS_PID1[1:]]
"""A PID 1 that waits for its own child only, as an application run as PID 1 does."""


def _host_pythons():
    """(major, minor) of the interpreter of the tests and of every other one this host has (pyenv's, on the
    development machines), read from pyenv's directory names: nothing runs while the tests are collected."""
    found = {sys.executable: sys.version_info[:2]}
    for python in sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3")):
        found[python] = tuple(map(int, re.match(r"(\d+)\.(\d+)", Path(python).parent.parent.name).groups()))
    return found


VERSIONS = _host_pythons()
PYTHONS = [python for python, version in VERSIONS.items() if version >= (3, 11)]
"""Every supported Python of this host, the tests' own first."""


def run(argv, timeout=120, **options):
    """Run ``argv`` to its end with text output captured; fail after ``timeout`` s."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **options)


@contextlib.contextmanager
def running(argv, **options):
    """Start ``argv`` with pipes for stdout and stderr, and kill it when the block ends."""
    options.setdefault("stdout", subprocess.PIPE)
    options.setdefault("stderr", subprocess.PIPE)
    process = subprocess.Popen(argv, text=True, **options)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def read_line(stream, timeout=10):
    """The next line of a pipe, without its newline; fail after ``timeout`` s.

    Reads the file descriptor a byte at a time, so no line waits unseen in a buffer.
    """
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        if not select.select([stream], [], [], max(0, deadline - time.monotonic()))[0]:
            raise AssertionError(f"no line within {timeout}s (got {line!r})")
        byte = os.read(stream.fileno(), 1)
        if not byte:
            raise AssertionError(f"end of output after {line!r}")
        line += byte
    return line.decode().rstrip("\n")


def without_emulator(words, emulated):
    """A command line read from ``/proc`` in a container, without qemu's under emulation
    (binfmt_misc runs qemu with the program's path before its argv, and /proc shows qemu's)."""
    return words[2:] if emulated else words


def is_alive(pid):
    """Whether ``pid`` exists and is not a zombie."""
    try:
        return proc_stat(pid)[1][0] != "Z"
    except FileNotFoundError:
        return False


def environment(**changes):
    """os.environ with ``changes`` applied; a value of None removes the variable."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


PROMPT = "PROMPT> "


def assert_job_control(argv, env=None):
    """Drive an interactive bash started by ``argv`` through a pseudo-terminal and check
    that Ctrl-C, Ctrl-Z and fg work and that ``exit 7`` ends ``argv`` with status 7.

    ``env`` defaults to this environment with PS1 set to :data:`PROMPT`.
    """
    import pexpect

    env = environment(PS1=PROMPT, TERM="dumb") if env is None else env
    shell = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", timeout=30)
    try:
        shell.expect_exact(PROMPT)
        assert "job control" not in shell.before
        assert "terminal process group" not in shell.before
        shell.sendline("sleep 30")
        wait_for(_sleep_holds_the_foreground, what="sleep in the foreground")
        shell.sendcontrol("c")
        shell.expect_exact(PROMPT)
        shell.sendline("echo status=$?")
        shell.expect_exact("status=130")
        shell.sendline("sleep 30")
        wait_for(_sleep_holds_the_foreground, what="sleep in the foreground")
        shell.sendcontrol("z")
        shell.expect("Stopped")
        shell.expect_exact(PROMPT)
        shell.sendline("fg")
        shell.expect_exact("sleep 30")
        wait_for(_sleep_holds_the_foreground, what="sleep back in the foreground")
        shell.sendcontrol("c")
        shell.expect_exact(PROMPT)
        shell.sendline("exit 7")
        shell.expect(pexpect.EOF)
    finally:
        shell.close(force=True)
    assert shell.exitstatus == 7


def _sleep_holds_the_foreground():
    """Whether a ``sleep`` is the foreground process group of its terminal (seen from the host)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = proc_stat(stat.parent.name)
        except OSError:
            continue
        if name == "sleep" and fields[0] != "Z" and fields[2] == fields[5]:
            return True
    return False


def defined_tests():
    """The names of every test function of ``tests/``: what a doc may cite."""
    return set(re.findall(r"^def (test_\w+)", "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py")), re.M))
