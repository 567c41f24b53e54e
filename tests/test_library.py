"""The library: go-reaper's API in Python, run as PID 1 and off it."""

import os
import signal
import sys
import textwrap

import pytest

import reaper
from faults import FOREIGN_PROC_NAMESPACE
from support import ENTRYPOINT, PRINT_SIGNALS, PYTHONS, VERSIONS, as_pid1, environment, read_line, run, running
from workloads import namespace_pid1, orphan_storm

ORPHANS_AND_SUBPROCESSES = """
import sys
import reaper
{setup}
import subprocess  # after the set-up: a module imported after start() is tracked too
codes = [subprocess.run(["sh", "-c", "(sleep 0 &); exit 7"]).returncode for _ in range(1000)]
print("codes", sorted(set(codes)), codes.count(7), flush=True)
storm = subprocess.run(["sh", "-c", sys.argv[1]], capture_output=True, text=True)
print(storm.stdout, flush=True)
"""


def python(code, *args):
    return [sys.executable, "-c", textwrap.dedent(code), *args]


def test_run_forked_keeps_every_subprocess_exit_code_while_orphans_are_reaped():
    code = ORPHANS_AND_SUBPROCESSES.format(setup="reaper.run_forked()")
    result = run(as_pid1(python(code, orphan_storm(300))))
    assert "codes [7] 1000" in result.stdout, result.stderr
    assert "zombies=0" in result.stdout


def test_reap_keeps_every_subprocess_exit_code_of_a_module_imported_after_it():
    code = ORPHANS_AND_SUBPROCESSES.format(setup="reaper.reap()")
    result = run(as_pid1(python(code, orphan_storm(300))))
    assert "codes [7] 1000" in result.stdout, result.stderr
    assert "zombies=0" in result.stdout


def test_reap_leaves_a_child_created_before_it_to_its_waiter():
    code = """
    import subprocess, reaper
    early = [subprocess.Popen(["sh", "-c", "sleep 0.5; exit 7"]) for _ in range(20)]
    reaper.reap()
    print([process.wait() for process in early].count(7))
    """
    result = run(as_pid1(python(code)))
    assert result.stdout == "20\n", result.stderr


def test_reap_as_pid1_with_a_proc_of_another_namespace_keeps_exit_codes_and_reaps_orphans():
    code = """
    import os, subprocess, time, reaper
    reaper.reap()
    codes = [subprocess.run(["sh", "-c", "(sleep 0 &); exit 7"]).returncode for _ in range(300)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until every orphan is reaped: no child left at all
        try:
            left = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            left = None
            break
        time.sleep(0.05)
    print(sorted(set(codes)), codes.count(7), left)
    """
    result = run([*FOREIGN_PROC_NAMESPACE, *python(code)])
    assert result.stdout == "[7] 300 None\n", result.stderr


def test_run_forked_exits_with_the_childs_status_and_marks_the_child():
    code = """
    import os, sys, reaper
    reaper.run_forked()
    print("child", os.environ["REAPER"], os.getppid(), flush=True)
    sys.exit(9)
    """
    with running(python(code)) as parent:
        assert parent.stdout.read() == f"child {parent.pid} {parent.pid}\n"
        assert parent.wait(timeout=30) == 9


def test_run_forked_reruns_the_program_with_its_interpreter_options():
    code = "import sys, reaper; reaper.run_forked(); print(sys.flags.optimize, sys.argv[1:])"
    assert run([sys.executable, "-O", "-c", code, "a", "b"]).stdout == "1 ['a', 'b']\n"


def test_run_forked_as_pid1_ignores_an_inherited_or_forged_marker():
    code = "import os, reaper; reaper.run_forked(); print(os.getpid() != 1, os.environ['REAPER'] == str(os.getppid()))"
    assert run(as_pid1(python(code)), env=environment(REAPER="1")).stdout == "True True\n"


def test_run_forked_off_pid1_ignores_a_marker_that_names_no_ancestor():
    code = "import os, reaper; reaper.run_forked(); print(os.environ['REAPER'] == str(os.getppid()))"
    assert run(python(code), env=environment(REAPER="abc")).stdout == "True\n"


@pytest.mark.parametrize("argv", [["-"], []], ids=["dash", "no-argument"])
def test_run_forked_refuses_a_program_read_from_stdin(argv):
    result = run([sys.executable, *argv], input="import reaper\nreaper.run_forked()\nprint('ran')\n")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "RuntimeError: reaper.run_forked() cannot run again a program read from standard input" in result.stderr


@pytest.mark.parametrize("how", [["app.py"], ["-m", "app"]], ids=["script", "module"])
def test_run_forked_reruns_a_relative_script_after_the_program_changed_directory(tmp_path, how):
    (tmp_path / "app.py").write_text(
        "import os, sys, reaper\nos.chdir('/')\nreaper.run_forked()\nprint('child in', os.getcwd(), sys.argv[1:])\n"
    )
    result = run([sys.executable, *how, "x"], cwd=tmp_path)
    assert result.stdout == "child in / ['x']\n", result.stderr
    assert result.returncode == 0


def test_run_forked_forwards_signals_and_passes_a_signal_death_through():
    code = f"""
    import os, reaper
    reaper.run_forked(reaper.Config(clone_env_indicator="MY_MARK"))
    os.execv({PRINT_SIGNALS[0]!r}, {PRINT_SIGNALS!r})
    """
    with running(as_pid1(python(code))) as unshare:
        parent = namespace_pid1(unshare.pid)
        assert read_line(unshare.stdout) == "ready"
        os.kill(parent, signal.SIGUSR1)
        assert read_line(unshare.stdout) == str(signal.SIGUSR1)
        os.kill(parent, signal.SIGQUIT)
        assert read_line(unshare.stdout) == str(signal.SIGQUIT)
        os.kill(namespace_pid1(parent), signal.SIGKILL)
        assert unshare.wait(timeout=30) == 128 + signal.SIGKILL


def test_with_reaper_exits_with_what_the_entry_point_returns():
    code = """
    import os, reaper
    reaper.with_reaper(reaper.Config(), lambda: 40 + int(os.environ["REAPER"] != ""))
    """
    assert run(python(code)).returncode == 41


def test_reap_does_nothing_off_pid1():
    code = "import threading, reaper; reaper.reap(); print(threading.active_count())"
    assert run(python(code)).stdout == "1\n"


def test_reap_as_pid1_reaps_orphans():
    code = "import subprocess, sys, time, reaper; reaper.reap(); print(subprocess.run(['sh', '-c', sys.argv[1]], capture_output=True, text=True).stdout)"
    assert "zombies=0" in run(as_pid1(python(code, orphan_storm(300)))).stdout


STATUS_QUEUE = """
import os, queue, sys, time, reaper
statuses = queue.Queue(maxsize={size})
reaper.start(reaper.Config(enable_child_subreaper=True, status_queue=statuses, debug=True))
pid = os.posix_spawnp("sh", ["sh", "-c", "sh -c 'sleep 0.2; exit 5' & sh -c 'sleep 0.2; exit 6' & exit 3"], os.environ)
mine = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:  # until both orphans are reaped: no child left at all
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        break
    time.sleep(0.05)
found = []
while not statuses.empty():
    status = statuses.get()
    found.append((status.error, os.waitstatus_to_exitcode(status.wait_status)))
print(mine, sorted(found, key=lambda item: item[1]))
"""


def test_start_as_a_subreaper_reports_every_orphan_it_reaped_on_the_status_queue():
    result = run(python(STATUS_QUEUE.format(size=0)))
    assert result.stdout == "3 [(None, 5), (None, 6)]\n", result.stderr
    assert "reaper: reaped" in result.stderr


def test_a_full_status_queue_drops_the_status_with_a_warning_and_never_blocks():
    result = run(python(STATUS_QUEUE.format(size=1)))
    assert result.stdout in ("3 [(None, 5)]\n", "3 [(None, 6)]\n"), result.stderr
    assert "reaper: status queue is full, lost the status of" in result.stderr


@pytest.mark.parametrize(
    ("interpreter", "refusing"),
    [
        (sys.executable, "multiprocessing.Queue(); statuses.close()"),
        *((python, "queue.Queue(); statuses.shutdown()") for python in PYTHONS if VERSIONS[python] >= (3, 13)),
    ],
)
def test_a_status_queue_that_refuses_statuses_never_stops_the_reaping(interpreter, refusing):
    code = f"""
    import multiprocessing, queue, subprocess, sys, reaper
    statuses = {refusing}
    reaper.start(reaper.Config(enable_child_subreaper=True, status_queue=statuses))
    print(subprocess.run(["sh", "-c", sys.argv[1]], capture_output=True, text=True).stdout)
    """
    result = run([interpreter, "-c", textwrap.dedent(code), orphan_storm(300)], env=environment(PYTHONPATH=ENTRYPOINT))
    assert "zombies=0" in result.stdout, result.stderr
    assert result.stderr.count("reaper: status queue refused a status") == 1, result.stderr


def test_a_stopped_and_continued_orphan_is_reported_as_such_never_as_an_exit():
    code = """
    import os, queue, signal, subprocess, sys, reaper
    statuses = queue.Queue()
    options = os.WUNTRACED | os.WCONTINUED
    reaper.start(reaper.Config(enable_child_subreaper=True, options=options, status_queue=statuses, debug=True))
    subprocess.run(["sh", "-c", "(sh -c 'kill -STOP $$; sleep 1; exit 4' &)"])  # an exit right away would hide the continue
    stopped = statuses.get(timeout=30)
    print("stopped", os.WIFSTOPPED(stopped.wait_status) and os.WSTOPSIG(stopped.wait_status), flush=True)
    os.kill(stopped.pid, signal.SIGCONT)
    continued, exited = statuses.get(timeout=30), statuses.get(timeout=30)
    print("continued", continued.pid == stopped.pid and os.WIFCONTINUED(continued.wait_status))
    print("exited", exited.pid == stopped.pid and os.waitstatus_to_exitcode(exited.wait_status))
    print(subprocess.run(["sh", "-c", sys.argv[1]], capture_output=True, text=True).stdout)
    """
    result = run(python(code, orphan_storm(300)))
    assert result.stdout.startswith(f"stopped {signal.SIGSTOP}\ncontinued True\nexited 4\n"), result.stderr
    assert f"stopped by signal {signal.SIGSTOP}" in result.stderr
    assert "continued\n" in result.stderr
    assert "zombies=0" in result.stdout


def test_a_ptrace_stop_of_the_programs_child_stays_with_the_program_and_the_thread_reaps_on():
    code = """
    import ctypes, os, signal, subprocess, sys, time, reaper
    PTRACE_TRACEME, PTRACE_CONT = 0, 7
    reaper.start(reaper.Config(enable_child_subreaper=True, debug=True))
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        libc.ptrace(PTRACE_TRACEME, 0, 0, 0)
        os.kill(os.getpid(), signal.SIGSTOP)
        os._exit(7)

    def wait_for_the_child():  # polls, so that a stolen status shows as None instead of a hang
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                return status
            time.sleep(0.01)

    status = wait_for_the_child()
    print("stopped", status is not None and os.WIFSTOPPED(status) and os.WSTOPSIG(status), flush=True)
    libc.ptrace(PTRACE_CONT, pid, 0, 0)
    status = wait_for_the_child()
    print("exited", status is not None and os.waitstatus_to_exitcode(status), flush=True)
    print(subprocess.run(["sh", "-c", sys.argv[1]], capture_output=True, text=True).stdout)
    """
    result = run(python(code, orphan_storm(300)))
    assert result.stdout.startswith(f"stopped {signal.SIGSTOP}\nexited 7\n"), result.stdout + result.stderr
    assert "zombies=0" in result.stdout
    assert "Traceback" not in result.stderr


def test_wnohang_waits_for_sigchld_instead_of_spinning():
    code = """
    import os, subprocess, time, reaper
    reaper.start(reaper.Config(disable_pid1_check=True, options=os.WNOHANG))
    orphan = int(subprocess.run(["sh", "-c", "sleep 1 & echo $!"], capture_output=True, text=True).stdout)
    before = time.process_time()
    time.sleep(2)
    print(round(time.process_time() - before, 2), os.path.exists(f"/proc/{orphan}"))
    """
    cpu, still_there = run(python(code)).stdout.split()
    assert float(cpu) < 0.2
    assert still_there == "False"


def test_config_pid_selects_what_is_reaped_as_waitpid_does():
    code = """
    import os, queue, subprocess, time, reaper
    statuses = queue.Queue()
    reaper.start(reaper.Config(enable_child_subreaper=True, pid=0, status_queue=statuses))
    in_our_group = int(subprocess.run(["sh", "-c", "sleep 0.3 & echo $!"], capture_output=True, text=True).stdout)
    in_another = int(subprocess.run(["setsid", "sh", "-c", "sleep 0.3 & echo $!"], capture_output=True, text=True).stdout)
    def state(pid):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(") ", 1)[1][0]
        except FileNotFoundError:
            return "gone"

    deadline = time.monotonic() + 30
    while (state(in_our_group), state(in_another)) != ("gone", "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # time enough to reap the other one too, if the reaper wrongly would
    reaped = set()
    while not statuses.empty():
        reaped.add(statuses.get().pid)
    print(in_our_group in reaped, in_another in reaped, state(in_another))
    try:
        reaper.start(reaper.Config())
    except RuntimeError as error:
        print(error)
    """
    assert run(python(code)).stdout == "True False Z\nreaper.start() was called already: this process is reaping\n"


def test_start_from_another_thread_raises_before_it_changes_anything():
    code = """
    import ctypes, os, threading, reaper
    PR_GET_CHILD_SUBREAPER = 37
    libc = ctypes.CDLL(None)
    fds = os.listdir("/proc/self/fd")
    raised = []

    def call():
        try:
            reaper.start(reaper.Config(enable_child_subreaper=True))
        except Exception as error:
            raised.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    flag = ctypes.c_int(-1)
    libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
    print(type(raised[0]).__name__, flag.value, os.listdir("/proc/self/fd") == fds)
    """
    assert run(python(code)).stdout == "RuntimeError 0 True\n"


def test_config_and_status_mirror_go_reaper():
    config = reaper.Config()
    assert (config.pid, config.options, config.clone_env_indicator) == (-1, 0, "REAPER")
    assert not (config.disable_pid1_check or config.enable_child_subreaper or config.debug)
    assert config.status_queue is None
    assert "clone_env_indicator='REAPER'" in repr(config)
    assert reaper.Status(4, None, 256) == reaper.Status(4, None, 256) != reaper.Status(5, None, 256)
