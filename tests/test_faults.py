"""A PID 1 that cannot be broken: each test puts the reaper in a hostile spot (tests/faults.py) and
checks one promise, as PID 1 of a new namespace and as a subreaper where both apply."""

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from faults import (
    FOREIGN_PROC_NAMESPACE,
    INHERITED,
    NOBODY,
    POSIX_SPAWNED,
    PRINT_SIGNALS_AS_NOBODY,
    REAPER_AS_NOBODY,
    SYSTEM_PYTHON,
    TRACER,
    WITHOUT_KILL,
    broken_pipe,
    cpu_seconds,
    denying,
    enter_namespace,
    file_size_limit,
    full_pipe,
    full_socket,
    inheriting,
    pending,
    stopped_terminal,
)
from support import (
    MASTER_WORKER,
    NON_REAPING_PID1,
    PRINT_SIGNALS,
    PROMPT,
    REAPER,
    as_pid1,
    environment,
    is_alive,
    read_line,
    run,
    running,
)
from workloads import namespace_pid1, proc_stat, wait_for

WHERE = pytest.mark.parametrize("wrap", [as_pid1, list], ids=["pid1", "subreaper"])


EXIT_ON_SIGTERM = str(int(signal.SIGTERM))
"""Tell the PRINT_SIGNALS helper to exit 0 after printing SIGTERM."""


def stop(process, reaper):
    """SIGTERM the reaper, whose command exits on it: its exit status must then be 0."""
    os.kill(reaper, signal.SIGTERM)
    assert read_line(process.stdout) == EXIT_ON_SIGTERM
    assert process.wait(timeout=10) == 0


def reaper_pid(process, wrap):
    """The host pid of the reaper that ``process`` (started from ``wrap(argv)``) runs."""
    return namespace_pid1(process.pid) if wrap is as_pid1 else process.pid


# 1. Self-inflicted signals are never forwarded.


@WHERE
@pytest.mark.parametrize("stderr", ["broken pipe", "file over its size limit"])
def test_a_signal_raised_by_its_own_log_write_is_never_forwarded(wrap, stderr, tmp_path):
    if stderr == "broken pipe":
        options = {"stderr": broken_pipe()}
    else:
        options = {"stderr": os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT), "preexec_fn": file_size_limit(0)}
    with running(wrap([*REAPER, "-v", *PRINT_SIGNALS, EXIT_ON_SIGTERM]), **options) as process:
        os.close(options["stderr"])
        assert read_line(process.stdout) == "ready"
        reaper = reaper_pid(process, wrap)
        for _ in range(20):  # each would log a line, and each failed write raise SIGPIPE or SIGXFSZ again
            os.kill(reaper, signal.SIGUSR1)
            assert read_line(process.stdout) == str(signal.SIGUSR1)
        time.sleep(0.5)
        os.kill(reaper, signal.SIGUSR2)
        assert read_line(process.stdout) == str(signal.SIGUSR2)  # no SIGPIPE (13) nor SIGXFSZ (25) came first
        assert cpu_seconds(reaper) < 2, "the reaper spins"
        stop(process, reaper)


# 2. No log line can ever block.


@WHERE
@pytest.mark.parametrize("stderr", ["full socket nobody reads", "full pipe of another user", "stopped terminal"])
def test_a_log_line_that_cannot_be_written_at_once_never_blocks_the_reaper(wrap, stderr):
    if stderr == "full socket nobody reads":
        _reader, writer = full_socket()
        stream, reaper, printer = writer.fileno(), REAPER, PRINT_SIGNALS
    elif stderr == "stopped terminal":
        _reader, stream = stopped_terminal()
        reaper, printer = REAPER, PRINT_SIGNALS
    else:
        _reader, stream = full_pipe()  # root's pipe: nobody may not reopen it non-blocking through /proc
        reaper, printer = REAPER_AS_NOBODY, PRINT_SIGNALS_AS_NOBODY
    with running(wrap([*reaper, "-v", *printer, EXIT_ON_SIGTERM]), stderr=stream) as process:
        assert read_line(process.stdout) == "ready"
        reaper = reaper_pid(process, wrap)
        for signum in (signal.SIGUSR1, signal.SIGHUP, signal.SIGUSR2):
            os.kill(reaper, signum)
            assert read_line(process.stdout) == str(signum)
        stop(process, reaper)


# 3. A /proc of another PID namespace is not believed.

BYSTANDER_BESIDE_A_SUBREAPER = """
import subprocess, sys
reaper = subprocess.Popen(sys.argv[2:])  # pid 2 of the namespace: the host's kthreadd, whose children are pids 3...
bystander = subprocess.Popen(sys.argv[1].split())  # pid 3: not the reaper's descendant
print("status", reaper.wait(), flush=True)
bystander.wait()
"""


def test_a_subreaper_under_a_foreign_proc_signals_no_process_outside_its_tree():
    command = ["sh", "-c", "sleep 30 & sleep 0.5; exit 3"]
    pid1 = [*NON_REAPING_PID1[:2], BYSTANDER_BESIDE_A_SUBREAPER, " ".join(PRINT_SIGNALS)]
    with running([*FOREIGN_PROC_NAMESPACE, *pid1, *REAPER, "--grace", "1", *command]) as namespace:
        assert read_line(namespace.stdout) == "ready"
        assert read_line(namespace.stdout, timeout=20) == "status 3"
        with pytest.raises(AssertionError, match="no line"):
            read_line(namespace.stdout, timeout=1)  # the bystander got no signal
        namespace.kill()
        errors = namespace.stderr.read()
    assert errors.count("cannot see its descendants") == 1, errors


def test_a_subreaper_under_a_foreign_proc_still_stops_its_commands_group(tmp_path):
    flushed = tmp_path / "flushed"
    leftover = (
        f"sh -c 'trap \"echo flushed > {flushed}; exit 0\" TERM; while :; do sleep 0.1; done' & sleep 0.3; exit 3"
    )
    result = run([*FOREIGN_PROC_NAMESPACE, *NON_REAPING_PID1, *REAPER, "--grace", "5", "sh", "-c", leftover])
    assert result.returncode == 3
    assert flushed.read_text() == "flushed\n"
    assert "cannot see its descendants" in result.stderr


def test_under_a_foreign_proc_auto_forwards_to_the_group():
    # The /proc of another namespace cannot tell whether COMMAND handles a signal: the group gets it.
    with running([*FOREIGN_PROC_NAMESPACE, *REAPER, "-v", *MASTER_WORKER]) as namespace:
        assert read_line(namespace.stdout) == "ready"
        reaper = namespace_pid1(namespace.pid)
        os.kill(reaper, signal.SIGHUP)
        assert read_line(namespace.stdout) == "HUP"
        os.kill(reaper, signal.SIGTERM)
        assert read_line(namespace.stdout) == f"worker {-signal.SIGHUP}"  # the worker got the SIGHUP too
        assert namespace.wait(timeout=10) == 0
        assert "forwarded SIGHUP to group" in namespace.stderr.read()


# 4. The shutdown leaves nothing behind.

FLUSHER = "trap 'sleep 0.5; echo flushed > {path}; exit 0' TERM; echo entered > {ready}; while :; do sleep 0.1; done"
UNTIL_GO = "while [ ! -e {go} ]; do sleep 0.05; done; exit 3"


def test_as_pid1_a_process_entered_from_outside_gets_sigterm_and_time_to_flush(tmp_path):
    flushed, ready, go = tmp_path / "flushed", tmp_path / "ready", tmp_path / "go"
    with running(as_pid1([*REAPER, "--grace", "20", "sh", "-c", UNTIL_GO.format(go=go)])) as unshare:
        entered = enter_namespace(namespace_pid1(unshare.pid), ["sh", "-c", FLUSHER.format(path=flushed, ready=ready)])
        wait_for(ready.exists, what="the entered process")
        started = time.monotonic()
        go.touch()
        assert unshare.wait(timeout=30) == 3
        entered.wait(timeout=10)
    assert flushed.read_text() == "flushed\n"
    assert time.monotonic() - started < 10, "the reaper waited out the grace although nothing was left"


FORKER = (
    "setsid sh -c 'trap \"\" TERM; i=0; while [ $i -lt 5000 ]; do sleep 997 & i=$((i+1)); done' & sleep 0.5; exit 3"
)


def _sleepers():
    return [stat for stat in Path("/proc").glob("[0-9]*/cmdline") if _read(stat) == b"sleep\x00997\x00"]


def _read(path):
    try:
        return path.read_bytes()
    except OSError:
        return b""


@WHERE
def test_the_sigkill_pass_repeats_until_a_forker_has_nothing_left(wrap):
    try:
        result = run(wrap([*REAPER, "--grace", "0.5", "sh", "-c", FORKER]))
        assert result.returncode == 3
        wait_for(lambda: not _sleepers(), what="the forker's sleepers to be gone")  # killed: gone at once
        assert "left behind" not in result.stderr
    finally:  # a failed run must not leave thousands of SIGTERM-proof sleepers to the next test
        for stat in _sleepers():
            try:
                os.kill(int(stat.parent.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


@WHERE
def test_what_cannot_be_killed_is_counted_on_one_line(wrap):
    leftover = [*NOBODY, "sleep", "30"]
    command = ["sh", "-c", f"{' '.join(leftover)} & sleep 0.3; exit 3"]
    result = run(wrap([*WITHOUT_KILL, *REAPER, "--grace", "0.5", *command]))
    assert (result.returncode, result.stderr) == (3, "reaper: 1 processes left behind\n")


# 5. A second stop signal ends the grace.

STUBBORN = "setsid sh -c 'trap \"\" TERM; while :; do sleep 0.1; done' & sleep 0.3; exit 3"


@WHERE
@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_a_second_stop_signal_during_the_grace_kills_the_rest_at_once(wrap, second):
    with running(wrap([*REAPER, "-v", "--grace", "60", "sh", "-c", STUBBORN])) as process:
        reaper = reaper_pid(process, wrap)
        while "sending SIGTERM and SIGCONT" not in read_line(process.stderr, timeout=20):
            pass
        os.kill(reaper, second)
        assert process.wait(timeout=15) == 3


# 6. Exit statuses and one line, never a traceback.


@WHERE
def test_a_closed_stdout_does_not_change_the_exit_status(wrap):
    result = run(["sh", "-c", '"$@" >&-', "sh", *wrap([*REAPER, "sh", "-c", "exit 5"])])
    assert (result.returncode, result.stderr) == (5, "")


@pytest.mark.parametrize("option", ["--help", "--version"])
@pytest.mark.parametrize("stdout", [">&-", ">/dev/full"])
def test_help_and_version_on_a_closed_or_full_stdout_fail_with_one_line(option, stdout):
    result = run(["sh", "-c", f'"$@" {stdout}', "sh", *REAPER, option])
    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("reaper: ")


@WHERE
def test_a_command_stopped_under_ptrace_is_not_taken_for_an_exit(wrap):
    with running(wrap([*REAPER, "sh", "-c", "sleep 2; exit 7"])) as process:
        reaper = reaper_pid(process, wrap)
        child = wait_for(lambda: _child_of(reaper), what="the command")
        tracer = subprocess.run([*TRACER, str(child)], capture_output=True, text=True, timeout=30)
        assert tracer.stdout == "stopped\ncontinued\n", tracer.stderr
        assert process.wait(timeout=10) == 7
        assert process.stderr.read() == ""


@WHERE
def test_a_command_stopped_by_a_signal_is_not_taken_for_an_exit(wrap):
    with running(wrap([*REAPER, "sh", "-c", "kill -TSTP $$; echo continued; kill -STOP $$; exit 4"])) as process:
        reaper = reaper_pid(process, wrap)
        # PID 1 never stops, nor a subreaper with no job-control shell above (see the Ctrl-Z test): it waits
        os.kill(wait_for(lambda: _stopped_child(reaper), what="the command stopped"), signal.SIGCONT)
        assert read_line(process.stdout) == "continued"
        child = wait_for(lambda: _stopped_child(reaper), what="the command stopped by SIGSTOP")
        assert _state(reaper) != "T"  # SIGSTOP is not Ctrl-Z: the command's own business
        os.kill(child, signal.SIGCONT)
        assert process.wait(timeout=10) == 4


def _child_of(pid):
    from workloads import children

    return (children(pid) or [None])[0]


def _state(pid):
    return proc_stat(pid)[1][0]


def _stopped_child(pid):
    child = _child_of(pid)
    return child if child and _state(child) == "T" else None


# 7. A script without #! runs under /bin/sh.


@WHERE
@pytest.mark.parametrize("nested", [False, True], ids=["spawned", "run in place"])
def test_a_script_without_a_shebang_runs_under_sh(wrap, nested, tmp_path):
    script = tmp_path / "script"
    script.write_text('echo "ran with $1"; exit 6\n')
    script.chmod(0o755)
    result = run(wrap([*REAPER, *(REAPER if nested else []), str(script), "it"]))
    assert (result.returncode, result.stdout, result.stderr) == (6, "ran with it\n", "")
    assert run(wrap([*REAPER, "./script", "it"]), cwd=tmp_path).returncode == 6


def test_a_script_without_a_shebang_runs_under_sh_from_a_terminal(tmp_path):
    script = tmp_path / "script"
    script.write_text('echo "ran with $1"; exit 6\n')
    script.chmod(0o755)
    terminal = pexpect.spawn(REAPER[0], [*REAPER[1:], str(script), "it"], encoding="utf-8", timeout=30)
    terminal.expect_exact("ran with it")
    terminal.expect(pexpect.EOF)
    terminal.close()
    assert terminal.exitstatus == 6


# 10. Every signal at its default disposition, none blocked.


@WHERE
def test_the_command_starts_with_no_signal_ignored_or_blocked(wrap):
    result = run(wrap([*REAPER, "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]))
    assert result.stdout.split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


@WHERE
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGUSR1, 138)], ids=["TERM", "USR1"])
def test_a_signal_that_comes_while_the_command_is_spawned_reaches_the_command(wrap, signum, status):
    """Pending when the reaper starts, the signal is there the moment the spawn unblocks every signal for
    the child's sake: caught and forwarded, never acted on by the reaper (SIGUSR1's default would kill it)."""
    result = run(wrap([*pending(int(signum)), *REAPER, "sleep", "60"]))
    assert (result.returncode, result.stderr) == (status, "")


def test_a_command_that_exits_at_once_is_reaped_every_time(tmp_path):
    """Its SIGCHLD can come at any instant of the spawn: while every signal is unblocked for the child's
    sake, or just after; one lost is a reaper waiting for ever.  (A reaper that gave the caught signals
    back SIG_DFL after the spawn discarded a pending SIGCHLD and hung about once in 1,000 starts.)"""
    entrypoint = _image_entrypoint(tmp_path)
    for attempt in range(1500):
        try:
            result = subprocess.run([*entrypoint, "true"], timeout=10, capture_output=True)
        except subprocess.TimeoutExpired:
            pytest.fail(f"start {attempt + 1}: the reaper never reaped a command that exited at once")
        assert (result.returncode, result.stderr) == (0, b"")


@WHERE
def test_a_sigchld_that_comes_while_the_command_is_spawned_is_not_lost(wrap):
    """The command's death is found by the reaping a SIGCHLD starts: one taken during the spawn still counts."""
    result = run(wrap([*pending(int(signal.SIGCHLD)), *REAPER, "sh", "-c", "exit 7"]))
    assert (result.returncode, result.stderr) == (7, "")


IGNORED = ["grep", "^SigIgn", "/proc/self/status"]


@WHERE
def test_the_command_starts_with_no_signal_ignored_when_the_reaper_was_started_with_some(wrap):
    result = run([*POSIX_SPAWNED, *wrap([*REAPER, *IGNORED])])
    assert result.stdout.split() == ["SigIgn:", "0" * 16], result.stderr


def test_control_a_program_started_by_posix_spawn_has_glibcs_internal_signals_ignored():
    ignored = int(run([*POSIX_SPAWNED, *IGNORED]).stdout.split()[1], 16)
    assert ignored & (1 << 31 | 1 << 32)  # signal N is bit N-1


def test_the_command_starts_with_no_signal_ignored_from_a_terminal():
    terminal = pexpect.spawn(REAPER[0], [*REAPER[1:], "grep", "SigIgn", "/proc/self/status"], encoding="utf-8")
    terminal.expect(pexpect.EOF)
    assert "SigIgn:\t0000000000000000" in terminal.before


# 11. Ctrl-Z on a host terminal.


def _interactive_shell():
    env = environment(PS1=PROMPT, TERM="dumb")
    shell = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], env=env, encoding="utf-8", timeout=15)
    shell.expect_exact(PROMPT)
    return shell


def test_ctrl_z_stops_the_reaper_too_and_fg_gives_the_command_the_terminal_back():
    shell = _interactive_shell()
    try:
        shell.sendline(" ".join([*REAPER, "--", "cat"]))
        shell.sendline("first line")
        shell.expect_exact("first line\r\nfirst line")  # the echo, then cat's copy: cat reads the terminal
        shell.sendcontrol("z")
        shell.expect("Stopped")
        shell.expect_exact(PROMPT)
        shell.sendline("fg")
        shell.sendline("second line")
        shell.expect_exact("second line\r\nsecond line")  # back in the foreground, cat reads again
        shell.sendcontrol("c")
        shell.expect_exact(PROMPT)
        shell.sendline("echo status=$?")
        shell.expect_exact("status=130")
    finally:
        shell.close(force=True)


def test_a_subreaper_stopped_with_its_command_leaves_nothing_running():
    shell = _interactive_shell()
    try:
        shell.sendline(" ".join([*REAPER, "sh", "-c", "'kill -TSTP $$; echo continued'"]))
        shell.expect("Stopped")
        shell.expect_exact(PROMPT)
        shell.sendline("fg")
        shell.expect_exact("continued")
        shell.expect_exact(PROMPT)
        shell.sendline("echo status=$?; jobs -l | wc -l")
        shell.expect_exact("status=0\r\n0")
    finally:
        shell.close(force=True)


# 12. The start-up window: signals are blocked before anything of the reaper is imported.


def _image_entrypoint(prefix):
    """The image's ENTRYPOINT, laid out under ``prefix`` as the benchmarks lay it out, on this interpreter."""
    from measure import install_reaper

    return install_reaper(SYSTEM_PYTHON, prefix)


@pytest.mark.parametrize("launcher", ["image entrypoint", "console script"])
def test_every_signal_is_blocked_before_the_reaper_package_is_read(launcher, tmp_path):
    argv = (
        _image_entrypoint(tmp_path) if launcher == "image entrypoint" else [str(Path(sys.executable).parent / "reaper")]
    )
    trace = tmp_path / "trace"
    run(["strace", "-f", "-e", "trace=rt_sigprocmask,openat", "-o", str(trace), *argv, "true"], check=True)
    calls = trace.read_text().splitlines()
    blocked = next(index for index, call in enumerate(calls) if "rt_sigprocmask(SIG_BLOCK, ~[" in call)
    # The package's first file read: its source, or its bytecode (beside it in the image, cached elsewhere).
    package = next(index for index, call in enumerate(calls) if re.search(r"/reaper/(__pycache__/)?__init__", call))
    assert blocked < package, "\n".join(calls[package : blocked + 1])


# 13. Whatever dispositions and mask it inherits, it reaps, forwards and returns the status.


@WHERE
@pytest.mark.parametrize("inherited", INHERITED)
def test_started_with_sigchld_ignored_it_returns_the_commands_status(wrap, inherited):
    # An ignored SIGCHLD survives the exec: the kernel would reap the command itself, and its status be lost.
    command = ["sh", "-c", "sleep 0 & grep -E '^Sig(Ign|Blk)' /proc/self/status; exit 3"]
    result = run(wrap([*inheriting(inherited), *REAPER, *command]), timeout=30)
    assert (result.returncode, result.stderr) == (3, "")
    assert result.stdout.split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


@WHERE
@pytest.mark.parametrize("inherited", INHERITED)
def test_started_with_sigchld_ignored_it_forwards_a_sigterm(wrap, inherited):
    with running(wrap([*inheriting(inherited), *REAPER, *PRINT_SIGNALS, EXIT_ON_SIGTERM])) as process:
        assert read_line(process.stdout) == "ready"
        stop(process, reaper_pid(process, wrap))


# 14. Off PID 1 it stops with its command only where a job-control shell will continue it.

STOPS_ITSELF = "echo $$ > {pid}; kill -TSTP $$; exit 3"


@pytest.mark.parametrize("session", ["its parent's group", "its own group without a terminal"])
def test_without_a_job_control_shell_above_the_reaper_never_stops_with_its_command(session, tmp_path):
    pid = tmp_path / "pid"
    options = {"start_new_session": session != "its parent's group"}
    with running([*REAPER, "sh", "-c", STOPS_ITSELF.format(pid=pid)], **options) as process:
        child = wait_for(lambda: _stopped_child(process.pid), what="the command stopped")
        os.kill(child, signal.SIGCONT)  # as a script, a CI runner or a service manager would, never the reaper
        assert process.wait(timeout=10) == 3


@pytest.mark.parametrize(("by_someone_else", "status"), [(signal.SIGCONT, 3), (signal.SIGKILL, 128 + signal.SIGKILL)])
def test_a_reaper_stopped_in_a_job_control_shell_never_stays_stopped_once_its_command_goes_on(
    by_someone_else, status, tmp_path
):
    pid = tmp_path / "pid"
    shell = _interactive_shell()
    try:
        shell.sendline(" ".join([*REAPER, "sh", "-c", f"'{STOPS_ITSELF.format(pid=pid)}'"]))
        shell.expect("Stopped")
        shell.expect_exact(PROMPT)
        child = int(wait_for(pid.read_text, what="the command's pid"))
        reaper = int(Path(f"/proc/{child}/stat").read_text().rsplit(") ", 1)[1].split()[1])
        assert _state(reaper) == "T"  # it stopped with its command, as a job does on Ctrl-Z
        os.kill(child, by_someone_else)
        wait_for(lambda: not is_alive(reaper), what="the reaper to go on and exit")
        shell.sendline("")
        shell.expect(rf"\[1\]\+ +Exit {status} ")  # the job's end, as the shell reports it
    finally:
        shell.close(force=True)


# 15. The command gets the terminal's foreground whatever fd 0 is.


@WHERE
def test_a_command_that_reads_the_terminal_with_stdin_redirected_gets_the_foreground(wrap):
    shell = _interactive_shell()
    try:
        shell.sendline(" ".join(wrap([*REAPER, "sh", "-c", "'stty -echo </dev/tty; echo done'"])) + " </dev/null")
        shell.expect_exact("done")  # a background group's stty would stop on SIGTTOU instead
        shell.expect_exact(PROMPT)
        shell.sendline("echo status=$?")
        shell.expect_exact("status=0")
    finally:
        shell.close(force=True)


# 16. Names of reaped processes come from this namespace's /proc only.

LOGS_AN_ORPHAN = ["-v", "sh", "-c", "(sleep 0 &); sleep 0.3; exit 3"]


@pytest.mark.parametrize("where", ["pid1", "subreaper"])
def test_a_foreign_proc_never_names_a_reaped_process(where):
    pid1 = [] if where == "pid1" else NON_REAPING_PID1
    result = run([*FOREIGN_PROC_NAMESPACE, *pid1, *REAPER, *LOGS_AN_ORPHAN])
    assert result.returncode == 3
    reaped = [line for line in result.stderr.splitlines() if " reaped " in line]
    assert len(reaped) == 2, result.stderr
    assert all(re.fullmatch(r"reaper: reaped \d+, exit status \d+", line) for line in reaped), result.stderr


def test_control_its_own_proc_names_a_reaped_process():
    result = run(as_pid1([*REAPER, *LOGS_AN_ORPHAN]))
    assert re.search(r"^reaper: reaped \d+ \(sleep\), exit status 0$", result.stderr, re.M), result.stderr


# 17. A failing system call in the reap path changes neither the exit status nor anything else.


@WHERE
@pytest.mark.parametrize("errno_name", ["EPERM", "ENOSYS"])
@pytest.mark.parametrize("verbose", [["-v"], []], ids=["verbose", "quiet"])
@pytest.mark.parametrize("syscall", ["waitid", "wait4"])
def test_a_denied_wait_never_changes_the_exit_status(wrap, syscall, errno_name, verbose):
    command = ["sh", "-c", "for i in 1 2 3; do (sleep 0 &); done; sleep 0.3; exit 3"]
    result = run(wrap([*denying(syscall, errno_name), *REAPER, *verbose, *command]), timeout=30)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if os.strerror(getattr(errno, errno_name)) in line]
    # Only -v uses waitid (to name what it reaps); both ways need wait4 (waitpid) or its stand-in.
    assert len(said) == (1 if verbose or syscall == "wait4" else 0), result.stderr
