"""How a stop reaches the processes: --stop-delay, --stop-all, --exit-map and what -v says about each reap.

Each runs the reaper as PID 1 of a new PID namespace and, where it differs, as a subreaper.
"""

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import pytest

from support import NON_REAPING_PID1, PRINT_SIGNALS, REAPER, as_pid1, environment, read_line, run, running
from workloads import children, namespace_pid1

STAMPED = [*PRINT_SIGNALS, "--stamp"]


@contextlib.contextmanager
def printer_behind(*options):
    """The stamped printer behind ``reaper OPTIONS`` as PID 1: yields (unshare's process, the reaper's pid)."""
    with running(as_pid1([*REAPER, *options, *STAMPED])) as process:
        reaper = namespace_pid1(process.pid)
        assert read_line(process.stdout) == "ready"
        yield process, reaper


def received(process, timeout=10):
    """The next signal the stamped printer got: (number, seconds on the monotonic clock)."""
    signum, stamp = read_line(process.stdout, timeout).split()
    return int(signum), int(stamp) / 1e9


@pytest.fixture
def delayed_printer():
    with printer_behind("--stop-delay", "2") as started:
        yield started


def assert_sigterm_held(process, reaper, seconds, forwarded=signal.SIGTERM):
    """Send SIGTERM to ``reaper``; check that the printer of ``process`` gets ``forwarded`` ``seconds`` later."""
    sent = time.monotonic()
    os.kill(reaper, signal.SIGTERM)
    signum, at = received(process)
    assert signum == forwarded
    assert seconds <= at - sent < seconds + 1.5


def test_stop_delay_holds_the_first_sigterm_for_the_delay(delayed_printer):
    assert_sigterm_held(*delayed_printer, 2.0)


def test_a_second_sigterm_ends_the_stop_delay_and_is_forwarded_once(delayed_printer):
    process, reaper = delayed_printer
    sent = time.monotonic()
    os.kill(reaper, signal.SIGTERM)
    time.sleep(0.5)
    os.kill(reaper, signal.SIGTERM)
    signum, at = received(process)
    assert signum == signal.SIGTERM
    assert 0.5 <= at - sent < 1.5
    with pytest.raises(AssertionError, match="no line"):
        read_line(process.stdout, timeout=2.5)  # neither a second one nor the held one again at 2 s


def test_a_sigint_ends_the_stop_delay_and_is_forwarded_too(delayed_printer):
    process, reaper = delayed_printer
    os.kill(reaper, signal.SIGTERM)
    time.sleep(0.5)
    sent = time.monotonic()
    os.kill(reaper, signal.SIGINT)
    # Both are forwarded at once; which one the printer sees first is not ours to say:
    # when both are pending, sigwaitinfo hands out the lower number first.
    assert sorted([received(process)[0], received(process)[0]]) == [signal.SIGINT, signal.SIGTERM]
    assert time.monotonic() - sent < 1.0


def test_other_signals_are_forwarded_at_once_during_the_stop_delay(delayed_printer):
    process, reaper = delayed_printer
    stopped = time.monotonic()
    os.kill(reaper, signal.SIGTERM)
    time.sleep(0.3)
    sent = time.monotonic()
    os.kill(reaper, signal.SIGUSR1)
    signum, at = received(process)
    assert (signum, at - sent < 0.5) == (signal.SIGUSR1, True)
    signum, at = received(process)
    assert signum == signal.SIGTERM
    assert 2.0 <= at - stopped < 3.5


def test_stop_delay_applies_after_the_rewrite():
    with printer_behind("--stop-delay", "1", "--rewrite", "TERM:USR2") as started:
        assert_sigterm_held(*started, 1.0, forwarded=signal.SIGUSR2)


def test_a_command_that_exits_during_the_stop_delay_ends_the_reaper_at_once():
    script = "trap 'exit 0' USR1; echo ready; while :; do sleep 0.05; done"
    with running(as_pid1([*REAPER, "--stop-delay", "30", "sh", "-c", script])) as unshare:
        reaper = namespace_pid1(unshare.pid)
        assert read_line(unshare.stdout) == "ready"
        os.kill(reaper, signal.SIGTERM)
        os.kill(reaper, signal.SIGUSR1)
        assert unshare.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("args", "env", "script", "status"),
    [
        (["--exit-map", "143:0"], {}, "kill -TERM $$", 0),
        (["--exit-map", "143:0"], {}, "exit 1", 1),
        (["--exit-map", "143:0"], {}, "exit 143", 0),
        (["--exit-map", "1:0", "--exit-map", "0:7"], {}, "exit 1", 0),
        ([], {"REAPER_EXIT_MAP": "143:0,137:0"}, "kill -KILL $$", 0),
        (["--exit-map", "143:3"], {"REAPER_EXIT_MAP": "143:0"}, "kill -TERM $$", 3),
        (["--exit-map", "127:0"], {}, "exec no-such-program", 0),
    ],
)
def test_exit_map_replaces_the_final_status(args, env, script, status):
    assert run(as_pid1([*REAPER, *args, "sh", "-c", script]), env=environment(**env)).returncode == status
    assert run([*REAPER, *args, "sh", "-c", script], env=environment(**env)).returncode == status


def test_exit_map_maps_a_command_that_cannot_be_found():
    assert run([*REAPER, "--exit-map", "127:9", "no-such-program-here"]).returncode == 9


STOP_ALL = """
setsid sh -c 'trap "date +%s.%N > {dir}/daemon; sleep 1; echo flushed > {dir}/flushed; exit 0" TERM
  while :; do sleep 0.05; done' &
trap 'date +%s.%N > {dir}/command; sleep 2; exit 0' TERM
sleep 0.3
echo ready
while :; do sleep 0.05; done
"""


def stop_times(argv, directory, pid1):
    """Stop the reaper of ``argv`` with SIGTERM; return (when the command got it, when the daemon did, output)."""
    with running(as_pid1(argv) if pid1 else argv) as process:
        reaper = namespace_pid1(process.pid) if pid1 else process.pid
        assert read_line(process.stdout) == "ready"
        os.kill(reaper, signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    command, daemon = (float((directory / name).read_text()) for name in ("command", "daemon"))
    return command, daemon, (directory / "flushed").read_text()


@pytest.mark.parametrize("pid1", [True, False], ids=["pid1", "subreaper"])
def test_stop_all_sends_sigterm_to_a_daemon_when_the_command_gets_it(tmp_path, pid1):
    argv = [*REAPER, "--stop-all", "--grace", "20", "sh", "-c", STOP_ALL.format(dir=tmp_path)]
    command, daemon, flushed = stop_times(argv, tmp_path, pid1)
    assert abs(daemon - command) < 0.5
    assert flushed == "flushed\n"


def test_control_without_stop_all_a_daemon_gets_sigterm_only_after_the_command_exits(tmp_path):
    argv = [*REAPER, "--grace", "20", "sh", "-c", STOP_ALL.format(dir=tmp_path)]
    command, daemon, flushed = stop_times(argv, tmp_path, pid1=True)
    assert daemon - command >= 1.9
    assert flushed == "flushed\n"


def test_stop_all_as_a_subreaper_leaves_a_shared_namespace_alone(tmp_path):
    # Kubernetes' shareProcessNamespace: PID 1 is the pause container, a sidecar runs beside the reaper.
    # The sidecar is started apart, so that PID 1 adopts it: it is no descendant of the reaper.
    sidecar = " ".join(PRINT_SIGNALS)
    reaper = " ".join([*REAPER, "--stop-all", "sh", "-c", "'echo ready; sleep 30'"])
    pod = f"(setsid {sidecar} > {tmp_path}/sidecar &); exec {reaper}"
    with running(as_pid1([*NON_REAPING_PID1, "sh", "-c", pod])) as unshare:
        assert read_line(unshare.stdout) == "ready"
        pause = namespace_pid1(unshare.pid)
        assert len(children(pause)) == 2, "the sidecar and the reaper"
        reaper_pid = next(pid for pid in children(pause) if b"reaper" in Path(f"/proc/{pid}/cmdline").read_bytes())
        os.kill(reaper_pid, signal.SIGTERM)
        assert unshare.wait(timeout=30) == 128 + signal.SIGTERM
    assert (tmp_path / "sidecar").read_text() == "ready\n"


def test_verbose_logs_name_each_reaped_process():
    result = run(as_pid1([*REAPER, "-v", "sh", "-c", "(sleep 0.2 &); sleep 0.5; kill -USR1 $$"]))
    assert result.returncode == 128 + signal.SIGUSR1
    assert re.search(r"^reaper: reaped \d+ \(sleep\), exit status 0$", result.stderr, re.M), result.stderr
    assert re.search(r"^reaper: reaped \d+ \(sh\), exit status 138$", result.stderr, re.M), result.stderr


def test_the_longest_grace_and_stop_delay_accepted_are_waited_without_overflow():
    # 1e300 overflowed the clock; the largest value accepted must be one the waits can hold.
    leftover = "setsid sh -c 'trap \"exit 0\" TERM; while :; do sleep 0.05; done' & echo ready; sleep 30"
    argv = [*REAPER, "--grace", "1000000000", "--stop-delay", "1000000000", "sh", "-c", leftover]
    with running(as_pid1(argv)) as unshare:
        reaper = namespace_pid1(unshare.pid)
        assert read_line(unshare.stdout) == "ready"
        os.kill(reaper, signal.SIGTERM)
        time.sleep(0.3)
        os.kill(reaper, signal.SIGTERM)  # ends the delay
        assert unshare.wait(timeout=20) == 128 + signal.SIGTERM
        assert "Traceback" not in unshare.stderr.read()


# A reaper under another reaper (`docker run IMAGE reaper --stop-delay 2 -- app`): what its own
# command line says is applied; what it merely inherited was applied above, and it runs in place.


def test_a_nested_reaper_applies_its_own_stop_delay():
    with printer_behind(*REAPER, "--stop-delay", "2") as started:
        assert_sigterm_held(*started, 2.0)


def test_a_nested_reaper_applies_its_own_exit_map():
    assert run(as_pid1([*REAPER, *REAPER, "--exit-map", "143:0", "sh", "-c", "kill -TERM $$"])).returncode == 0


@pytest.mark.parametrize(
    ("options", "env", "in_place"),
    [
        ([], {}, True),
        (["-v"], {}, True),
        ([], {"REAPER_STOP_DELAY": "2", "REAPER_EXIT_MAP": "1:0"}, True),
        (["--stop-delay", "2"], {}, False),
        (["--grace=1"], {}, False),
        (["--forward", "child"], {}, False),
        (["--rewrite", "TERM:INT"], {}, False),
        (["--stop-all"], {}, False),
        (["--exit-map", "1:0"], {}, False),
    ],
    ids=["nothing", "verbose", "inherited", "stop-delay", "grace", "forward", "rewrite", "stop-all", "exit-map"],
)
def test_a_nested_reaper_runs_in_place_only_when_its_command_line_gives_nothing_to_apply(options, env, in_place):
    result = run(as_pid1([*REAPER, *REAPER, *options, "sh", "-c", "echo $PPID"]), env=environment(**env))
    assert result.returncode == 0, result.stderr
    assert (result.stdout == "1\n") is in_place
