"""The reaper as a real PID 1 of a new PID namespace, and as a subreaper off PID 1."""

import os
import re
import signal
import sys
import time

import pytest

import support
from reaper._signals import CATCHABLE, signal_name
from support import NON_REAPING_PID1, PRINT_SIGNALS, REAPER, as_pid1, environment, is_alive, read_line, run, running
from workloads import children, context_switches, namespace_pid1, orphan_storm, wait_for, zombies_reported

STORM = 5000


def test_orphan_storm_leaves_no_zombie():
    result = run(as_pid1([*REAPER, "sh", "-c", orphan_storm(STORM)]))
    assert result.returncode == 0, result.stderr
    assert zombies_reported(result.stdout) == 0


def test_control_orphan_storm_under_a_non_reaping_pid1_leaves_zombies():
    result = run(as_pid1([*NON_REAPING_PID1, "sh", "-c", orphan_storm(STORM)]))
    assert zombies_reported(result.stdout) > STORM * 0.9


@pytest.mark.parametrize("code", [0, 1, 2, 42, 126, 127, 128, 255])
def test_exit_code_passes_through_pid1(code):
    assert run(as_pid1([*REAPER, "sh", "-c", f"exit {code}"])).returncode == code


def test_every_exit_code_passes_through_a_subreaper():
    script = 'for code in $(seq 0 255); do "$@" sh -c "exit $code"; echo $?; done'
    result = run(["sh", "-c", script, "sh", *REAPER], timeout=240)
    assert result.stdout.split() == [str(code) for code in range(256)]


@pytest.mark.parametrize(
    "signum", [signal.SIGHUP, signal.SIGINT, signal.SIGKILL, signal.SIGUSR1, signal.SIGSEGV, signal.SIGTERM]
)
def test_signal_death_exits_128_plus_signal(signum):
    result = run(as_pid1([*REAPER, "sh", "-c", f"kill -{int(signum)} $$"]))
    assert result.returncode == 128 + signum


def test_every_catchable_signal_is_forwarded_to_the_child():
    with running(as_pid1([*REAPER, *PRINT_SIGNALS])) as unshare:
        reaper = namespace_pid1(unshare.pid)
        assert read_line(unshare.stdout) == "ready"
        for signum in sorted(CATCHABLE - {signal.SIGCHLD}):
            os.kill(reaper, signum)
            assert read_line(unshare.stdout) == str(signum), signal_name(signum)


def test_rewrite_changes_and_drops_signals():
    with running(as_pid1([*REAPER, "--rewrite", "TERM:USR1", "--rewrite", "HUP:0", *PRINT_SIGNALS])) as unshare:
        reaper = namespace_pid1(unshare.pid)
        assert read_line(unshare.stdout) == "ready"
        # A forwarded SIGHUP would come out first: it has the lowest number.
        os.kill(reaper, signal.SIGHUP)
        os.kill(reaper, signal.SIGUSR2)
        assert read_line(unshare.stdout) == str(signal.SIGUSR2)
        os.kill(reaper, signal.SIGTERM)
        assert read_line(unshare.stdout) == str(signal.SIGUSR1)


def shell_wrapped_printer(*exit_on):
    printer = " ".join([*PRINT_SIGNALS, *map(str, exit_on)])
    return ["sh", "-c", f"{printer}; exit $?"]


def test_a_shell_wrapped_app_gets_sigterm_through_its_process_group():
    with running(as_pid1([*REAPER, *shell_wrapped_printer(signal.SIGTERM)])) as unshare:
        reaper = namespace_pid1(unshare.pid)
        assert read_line(unshare.stdout) == "ready"
        os.kill(reaper, signal.SIGTERM)
        assert read_line(unshare.stdout) == str(signal.SIGTERM)
        assert unshare.wait(timeout=10) == 128 + signal.SIGTERM  # the shell in the group got it too


@pytest.mark.parametrize(("mode", "app_sees_it"), [("group", True), ("child", False), ("auto", True)])
def test_forward_mode_decides_who_gets_the_signal(mode, app_sees_it):
    # The shell ignores SIGWINCH, so only a forward to the group reaches the app behind it.
    with running(as_pid1([*REAPER, "--forward", mode, *shell_wrapped_printer()])) as unshare:
        reaper = namespace_pid1(unshare.pid)
        assert read_line(unshare.stdout) == "ready"
        os.kill(reaper, signal.SIGWINCH)
        if app_sees_it:
            assert read_line(unshare.stdout) == str(signal.SIGWINCH)
        else:
            with pytest.raises(AssertionError, match="no line"):
                read_line(unshare.stdout, timeout=1)


AUTO = {
    "default": ([], {}),
    "--forward auto": (["--forward", "auto"], {}),
    "REAPER_FORWARD=auto": ([], {"REAPER_FORWARD": "auto"}),
}


@pytest.mark.parametrize("wrap", [as_pid1, list], ids=["pid1", "subreaper"])
@pytest.mark.parametrize(
    ("mode", "worker"), [*((name, -signal.SIGTERM) for name in AUTO), ("--forward group", -signal.SIGHUP)]
)
def test_auto_forwards_a_signal_the_command_handles_to_the_command_alone(wrap, mode, worker):
    options, variables = AUTO.get(mode, (["--forward", "group"], {}))
    argv = wrap([*REAPER, "-v", *options, *support.MASTER_WORKER])
    with running(argv, env=environment(**{"REAPER_FORWARD": None, **variables})) as process:
        assert read_line(process.stdout) == "ready"
        reaper = namespace_pid1(process.pid) if wrap is as_pid1 else process.pid
        os.kill(reaper, signal.SIGHUP)  # the master reloads; a worker of gunicorn's would die of it
        assert read_line(process.stdout) == "HUP"
        os.kill(reaper, signal.SIGTERM)
        assert read_line(process.stdout) == f"worker {worker}"  # -1: the SIGHUP killed the worker
        assert process.wait(timeout=10) == 0
        target = "process" if worker == -signal.SIGTERM else "group"
        assert re.search(rf"^reaper: forwarded SIGHUP to {target} \d+", process.stderr.read(), re.M)


HANDLER_OF = (
    "import signal, sys, time\n"
    "signal.signal(int(sys.argv[1]), lambda *_: None)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)"
)


@pytest.mark.parametrize("handled", [signal.SIGUSR1, signal.SIGRTMIN + 1], ids=["SIGUSR1", "SIGRTMIN+1"])
def test_auto_reads_the_handlers_of_standard_and_real_time_signals_and_none_once_the_process_is_gone(handled):
    """Signals 1-31 are read from /proc/PID/stat's sigcatch, the others from status' SigCgt."""
    from reaper import _proc

    others = [signal.SIGUSR2, signal.SIGRTMIN + 2, signal.SIGHUP]
    with running([sys.executable, "-c", HANDLER_OF, str(int(handled))]) as process:
        assert read_line(process.stdout) == "ready"
        assert _proc.handles(process.pid, handled)
        assert _proc.handles(process.pid, signal.SIGINT)  # Python's own handler
        assert not any(_proc.handles(process.pid, other) for other in others)
        process.kill()
        process.wait()
        assert not _proc.handles(process.pid, handled)


@pytest.mark.parametrize("mode", AUTO)
def test_auto_reaches_the_app_behind_a_shell_that_does_not_trap_the_signal(mode):
    options, variables = AUTO[mode]
    printer = " ".join([*PRINT_SIGNALS, str(signal.SIGTERM)])
    argv = as_pid1([*REAPER, "-v", *options, "sh", "-c", f"{printer}; echo done"])
    with running(argv, env=environment(**{"REAPER_FORWARD": None, **variables})) as unshare:
        assert read_line(unshare.stdout) == "ready"
        os.kill(namespace_pid1(unshare.pid), signal.SIGTERM)
        assert read_line(unshare.stdout) == str(signal.SIGTERM)  # through the group: the shell has no handler
        assert unshare.wait(timeout=10) == 128 + signal.SIGTERM  # the shell, in the group, got it too
        assert re.search(r"^reaper: forwarded SIGTERM to group \d+$", unshare.stderr.read(), re.M)


DAEMON = """
setsid sh -c 'trap "sleep 0.5; echo flushed > {path}; exit 0" TERM; while :; do sleep 0.1; done' &
setsid sh -c 'trap "" TERM; {ignorer}' &
sleep 0.3
exit 3
"""


def test_a_daemon_that_flushes_on_sigterm_has_flushed_before_the_reaper_exits(tmp_path):
    flushed = tmp_path / "flushed"
    started = time.monotonic()
    result = run(as_pid1([*REAPER, "--grace", "20", "sh", "-c", DAEMON.format(path=flushed, ignorer="true")]))
    assert result.returncode == 3
    assert flushed.read_text() == "flushed\n"
    assert time.monotonic() - started < 10, "the reaper slept the grace period although nothing was left"


def test_a_daemon_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    flushed = tmp_path / "flushed"
    script = DAEMON.format(path=flushed, ignorer="while :; do sleep 0.1; done")
    started = time.monotonic()
    result = run(as_pid1([*REAPER, "-v", "--grace", "1.5", "sh", "-c", script]))
    elapsed = time.monotonic() - started
    assert result.returncode == 3
    assert flushed.read_text() == "flushed\n"
    assert "grace period of 1.5s is over, sending SIGKILL" in result.stderr
    assert 1.5 <= elapsed < 10


def test_an_idle_reaper_never_wakes_up():
    with running(as_pid1([*REAPER, "sleep", "60"])) as unshare:
        reaper = namespace_pid1(unshare.pid)
        wait_for(lambda: children(reaper), what="the reaper's child")
        time.sleep(0.5)
        before = context_switches(reaper)
        time.sleep(5)
        assert context_switches(reaper) == before


def test_the_child_is_told_its_reaper_pid():
    assert run(as_pid1([*REAPER, "sh", "-c", "echo $REAPER"])).stdout == "1\n"
    with running([*REAPER, "sh", "-c", "echo $REAPER"]) as reaper:
        assert reaper.stdout.read() == f"{reaper.pid}\n"


def test_a_forged_marker_is_ignored_by_pid1():
    script = "echo REAPER=$REAPER; " + orphan_storm(200)
    result = run(as_pid1([*REAPER, "sh", "-c", script]), env=environment(REAPER="4242"))
    assert result.stdout.startswith("REAPER=1\n")
    assert zombies_reported(result.stdout) == 0


def test_a_reaper_under_a_reaper_runs_the_command_in_place():
    result = run(as_pid1([*REAPER, *REAPER, "sh", "-c", "echo parent=$PPID reaper=$REAPER"]))
    assert result.stdout == "parent=1 reaper=1\n"


def test_a_marker_that_names_no_ancestor_is_ignored():
    with (
        running(["sleep", "60"]) as stranger,
        running([*REAPER, "sh", "-c", "echo $PPID"], env=environment(REAPER=str(stranger.pid))) as reaper,
    ):
        assert reaper.stdout.read() == f"{reaper.pid}\n"


ADOPTION = """
orphan=$(sh -c 'sleep 5 >/dev/null & echo $!')
read -r line < /proc/$orphan/stat
set -- ${line##*) }
echo adopter=$2 me=$PPID
kill $orphan
"""


def test_a_subreaper_adopts_and_reaps_orphans():
    adopted = run([*REAPER, "sh", "-c", ADOPTION]).stdout.split()
    assert adopted[0].split("=")[1] == adopted[1].split("=")[1]
    result = run([*REAPER, "sh", "-c", orphan_storm(500)])
    assert result.returncode == 0, result.stderr
    assert zombies_reported(result.stdout) == 0


def test_control_a_plain_parent_adopts_no_orphan():
    adopted = run([*NON_REAPING_PID1, "sh", "-c", ADOPTION]).stdout.split()
    assert adopted[0].split("=")[1] != adopted[1].split("=")[1]


def test_a_subreaper_signals_its_descendants_and_nobody_else(tmp_path):
    flushed = tmp_path / "flushed"
    with running(["setsid", *PRINT_SIGNALS]) as bystander:
        assert read_line(bystander.stdout) == "ready"
        result = run([*REAPER, "sh", "-c", DAEMON.format(path=flushed, ignorer="true")])
        assert result.returncode == 3
        assert flushed.read_text() == "flushed\n"
        with pytest.raises(AssertionError, match="no line"):
            read_line(bystander.stdout, timeout=1)
        assert is_alive(bystander.pid)


def test_descendants_a_subreaper_may_not_signal_do_not_crash_the_shutdown():
    # Root without CAP_KILL (docker's --cap-drop ALL) may not signal another user's process.
    without_kill = ["setpriv", "--bounding-set", "-kill", "--inh-caps", "-kill"]
    leftover = "setpriv --reuid 65534 --regid 65534 --clear-groups sleep 30 & sleep 0.3; exit 3"
    subreaper = [*without_kill, *REAPER, "--grace", "0.5", "sh", "-c", leftover]
    result = run(as_pid1([*NON_REAPING_PID1, *subreaper]))
    assert (result.returncode, result.stderr) == (3, "reaper: 1 processes left behind\n")
