"""The library: go-reaper's API in Python, run as PID 1 and off it."""

import os
import signal
import sys
import textwrap

import reaper
from support import PRINT_SIGNALS, as_pid1, read_line, run, running
from workloads import namespace_pid1, orphan_storm

ORPHANS_AND_SUBPROCESSES = """
import subprocess, sys
import reaper
{setup}
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


def test_control_in_process_reaping_steals_subprocess_exit_codes():
    code = ORPHANS_AND_SUBPROCESSES.format(setup="reaper.reap()")
    result = run(as_pid1(python(code, orphan_storm(300))))
    assert "codes [0, 7]" in result.stdout, result.stdout + result.stderr
    assert "zombies=0" in result.stdout


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
os.posix_spawnp("sh", ["sh", "-c", "sh -c 'sleep 0.2; exit 5' & exit 3"], os.environ)
time.sleep(1)
found = []
while not statuses.empty():
    status = statuses.get()
    found.append((status.error, os.waitstatus_to_exitcode(status.wait_status)))
print(sorted(found, key=lambda item: item[1]))
"""


def test_start_as_a_subreaper_reports_every_reaped_child_on_the_status_queue():
    result = run(python(STATUS_QUEUE.format(size=0)))
    assert result.stdout == "[(None, 3), (None, 5)]\n", result.stderr
    assert "reaper: reaped" in result.stderr


def test_a_full_status_queue_drops_the_status_with_a_warning_and_never_blocks():
    result = run(python(STATUS_QUEUE.format(size=1)))
    assert result.stdout == "[(None, 3)]\n", result.stderr
    assert "reaper: status queue is full, lost the status of" in result.stderr


def test_wnohang_waits_for_sigchld_instead_of_spinning():
    code = """
    import os, time, reaper
    reaper.start(reaper.Config(disable_pid1_check=True, options=os.WNOHANG))
    pid = os.posix_spawnp("sleep", ["sleep", "1"], os.environ)
    before = time.process_time()
    time.sleep(2)
    print(round(time.process_time() - before, 2), os.path.exists(f"/proc/{pid}"))
    """
    cpu, still_there = run(python(code)).stdout.split()
    assert float(cpu) < 0.2
    assert still_there == "False"


def test_config_and_status_mirror_go_reaper():
    config = reaper.Config()
    assert (config.pid, config.options, config.clone_env_indicator) == (-1, 0, "REAPER")
    assert not (config.disable_pid1_check or config.enable_child_subreaper or config.debug)
    assert config.status_queue is None
    assert "clone_env_indicator='REAPER'" in repr(config)
    assert reaper.Status(4, None, 256) == reaper.Status(4, None, 256) != reaper.Status(5, None, 256)
