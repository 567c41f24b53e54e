"""The library under a hostile program (issue 15): whatever the program does around ``start()``, reaping goes on.

Each test is a program that does one hostile thing after (or before)
``start()``: closes every descriptor, raises from a signal handler during
creations, inherits SIGCHLD blocked or ignored, blocks in a C call, reuses
pids through ``ns_last_pid`` in a fresh PID namespace, or runs out of
descriptors.  It then checks that orphans are reaped and that the program's
own children keep their statuses.
"""

import sys
import textwrap

from faults import FOREIGN_PROC_NAMESPACE
from support import HELPERS, as_pid1, environment, run
from workloads import orphan_storm

TWENTY_ORPHANS = """
import os, subprocess, time
from children_workload import zombie_children

def twenty_orphans_left(timeout=10):
    '''Make 20 orphans; return how many are zombies still after up to ``timeout`` s.'''
    subprocess.run(["sh", "-c", "i=0; while [ $i -lt 20 ]; do (sleep 0 &); i=$((i+1)); done"])
    deadline = time.monotonic() + timeout
    while zombie_children("sleep") and time.monotonic() < deadline:
        time.sleep(0.05)
    return zombie_children("sleep")
"""
"""Program code that counts its orphans by name: children the program lost to an exception are not ``sleep``."""


WITH_HELPERS = environment(PYTHONPATH=str(HELPERS))
"""The environment of the programs: ``children_workload`` importable."""


def program(code, *args):
    """Run Python ``code`` (which may use ``TWENTY_ORPHANS``) with ``args``; fork's warnings about threads silenced."""
    code = TWENTY_ORPHANS + textwrap.dedent(code)
    return [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code, *args]


def test_a_program_that_closes_every_descriptor_after_start_gets_no_byte_written_and_reaping_goes_on(tmp_path):
    code = """
    import os, subprocess, sys, reaper
    reaper.start(reaper.Config(enable_child_subreaper=True))
    early = subprocess.Popen(["sh", "-c", "sleep 0.5; exit 5"])  # recorded before the descriptors go
    os.closerange(3, 4096)
    files = [open(f"{sys.argv[2]}/{number}", "w+b", buffering=0) for number in range(16)]  # reuse every number
    codes = [subprocess.run(["sh", "-c", "(sleep 0 &); exit 7"]).returncode for _ in range(100)]
    early_code = early.wait()
    storm = subprocess.run(["sh", "-c", sys.argv[1]], capture_output=True, text=True).stdout.strip()
    written = sum(len(os.pread(file.fileno(), 4096, 0)) for file in files)
    print(early_code, sorted(set(codes)), codes.count(7), storm, "written", written)
    """
    result = run(program(code, orphan_storm(300), str(tmp_path)), env=WITH_HELPERS)
    assert result.stdout == "5 [7] 100 zombies=0 written 0\n", result.stderr
    assert result.stderr == ""


def test_a_program_that_closes_every_descriptor_after_start_never_sees_an_exception_from_the_library():
    code = """
    import os, subprocess, sys, reaper
    reaper.start(reaper.Config(enable_child_subreaper=True))
    os.closerange(3, 4096)
    print(subprocess.run(["sh", "-c", sys.argv[1]], capture_output=True, text=True).stdout.strip())
    """
    result = run(program(code, orphan_storm(300)), env=WITH_HELPERS)
    assert result.stdout == "zombies=0\n", result.stderr
    assert result.stderr == ""


def test_a_signal_handler_that_raises_every_10ms_during_creations_never_stops_the_reaping():
    code = """
import signal, subprocess, reaper
from reaper import _library
reaper.start(reaper.Config(enable_child_subreaper=True))

class Tick(Exception):
    pass

def tick(signum, frame):
    # Only inside a creation: anywhere else the loop below could not count it.
    if ticking and frame.f_code.co_filename in creating and frame.f_code.co_name != "on_sigchld":
        raise Tick

creating = {subprocess.__file__, _library.__file__}
signal.signal(signal.SIGALRM, tick)
made = interrupted = 0
ticking = True
signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
while True:
    try:
        if made + interrupted >= 300:
            ticking = False
            break
        subprocess.Popen(["true"]).wait()
        made += 1
    except Tick:
        interrupted += 1
signal.setitimer(signal.ITIMER_REAL, 0)
codes = [subprocess.run(["sh", "-c", "exit 7"]).returncode for _ in range(50)]
print("interrupted", interrupted > 0, "codes", sorted(set(codes)), "orphans left", twenty_orphans_left())
"""
    result = run(program(code), env=WITH_HELPERS)
    assert result.stdout == "interrupted True codes [7] orphans left 0\n", result.stderr


def test_an_exception_at_any_instruction_of_a_creation_wrapper_never_stops_the_reaping():
    code = """
import subprocess, sys, reaper
from reaper import _library
reaper.start(reaper.Config(enable_child_subreaper=True))

class Injected(Exception):
    pass

def raise_at(instruction):
    '''A tracer that raises at the instruction-th line or instruction the library runs in this thread.'''
    seen = 0

    def tracer(frame, event, argument):
        nonlocal seen
        if frame.f_code.co_filename != _library.__file__:
            return None
        frame.f_trace_opcodes = True
        if event in ("line", "opcode"):  # 3.12 and newer may give lines only
            seen += 1
            if seen == instruction:
                raise Injected
        return tracer

    return tracer

instruction, codes = 0, []
while True:
    instruction += 1
    sys.settrace(raise_at(instruction))
    try:
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 7"], os.environ)
    except Injected:
        continue
    finally:
        sys.settrace(None)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    break
codes += [subprocess.run(["sh", "-c", "exit 7"]).returncode for _ in range(20)]
print("instructions", instruction > 10, "codes", sorted(set(codes)), len(codes), "orphans left", twenty_orphans_left())
"""
    result = run(program(code), env=WITH_HELPERS)
    assert result.stdout == "instructions True codes [7] 21 orphans left 0\n", result.stderr


SIGCHLD_BLOCKED = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD}); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
]
"""Run the Python program that follows with SIGCHLD blocked, as a careless parent leaves it."""


def test_sigchld_inherited_blocked_is_reaped_and_the_programs_threads_keep_their_mask():
    code = """
import signal, subprocess, sys, threading, reaper
reaper.reap()
storm = subprocess.run(["sh", "-c", sys.argv[1]], capture_output=True, text=True).stdout.strip()
late = int(subprocess.run(["sh", "-c", "sleep 0.3 >/dev/null & echo $!"], capture_output=True).stdout)
deadline = time.monotonic() + 10  # it exits when the program has no child left, and no SIGCHLD can wake anyone
while os.path.exists(f"/proc/{late}") and time.monotonic() < deadline:
    time.sleep(0.05)
late = os.path.exists(f"/proc/{late}")
masks = [signal.SIGCHLD in signal.pthread_sigmask(signal.SIG_BLOCK, [])]
thread = threading.Thread(target=lambda: masks.append(signal.SIGCHLD in signal.pthread_sigmask(signal.SIG_BLOCK, [])))
thread.start()
thread.join()
print(storm, "late orphan left", late, "then", twenty_orphans_left(), "still blocked", masks)
"""
    result = run(as_pid1([*SIGCHLD_BLOCKED, *program(code, orphan_storm(300))[1:]]), env=WITH_HELPERS)
    assert result.stdout == "zombies=0 late orphan left False then 0 still blocked [True, True]\n", result.stderr


def test_the_librarys_sigchld_never_makes_a_blocking_c_call_fail_with_eintr():
    code = """
    import ctypes, os, subprocess, sys, reaper
    reaper.start(reaper.Config(enable_child_subreaper=True))
    libc = ctypes.CDLL(None, use_errno=True)
    read_end, write_end = os.pipe()
    storm = subprocess.Popen(["sh", "-c", sys.argv[1]], stdout=write_end)
    buffer = ctypes.create_string_buffer(64)
    got = libc.read(read_end, buffer, 64)  # blocks in C while the storm's orphans exit
    said = buffer.raw[:got].decode().strip() if got > 0 else os.strerror(ctypes.get_errno())
    print(got > 0, said, storm.wait())
    """
    result = run(program(code, orphan_storm(300)), env=WITH_HELPERS)
    assert result.stdout == "True zombies=0 0\n", result.stderr


IGNORED_SIGCHLD = """
import signal, subprocess, sys, reaper
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
if sys.argv[1] == "start":
    reaper.start(reaper.Config(enable_child_subreaper=True))
else:
    import ctypes
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # a subreaper without the library: the control
never_waited = [subprocess.Popen(["true"]) for _ in range(50)]
code = subprocess.run(["sh", "-c", "(sleep 0 &); exit 7"]).returncode
deadline = time.monotonic() + 10
while any(os.path.exists(f"/proc/{process.pid}") for process in never_waited) and time.monotonic() < deadline:
    time.sleep(0.05)
left = sum(os.path.exists(f"/proc/{process.pid}") for process in never_waited)
ignored = signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN
print("children left", left, "code", code, "orphans left", twenty_orphans_left(), "still ignored", ignored)
"""


def test_sigchld_ignored_before_start_keeps_its_meaning_and_orphans_are_still_reaped():
    without_the_library = run(program(IGNORED_SIGCHLD, "control"), env=WITH_HELPERS)
    with_it = run(program(IGNORED_SIGCHLD, "start"), env=WITH_HELPERS)
    expected = "children left 0 code 0 orphans left 0 still ignored True\n"
    assert without_the_library.stdout == expected, without_the_library.stderr
    assert with_it.stdout == expected, with_it.stderr


def test_a_recorded_pid_reused_by_an_orphan_is_reaped_without_this_namespaces_proc():
    code = """
    import os, subprocess, time, reaper
    reaper.reap()
    reused = left = 0
    for _ in range(5):
        child = subprocess.Popen(["true"])
        child.wait()  # recorded, then waited for: its pid is free again
        orphan = subprocess.run(
            ["sh", "-c", f"echo {child.pid - 1} >/proc/sys/kernel/ns_last_pid; sleep 0.2 >/dev/null & echo $!"],
            capture_output=True, text=True,
        ).stdout
        reused += int(orphan) == child.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            time.sleep(0.05)
        else:
            left += 1
    print("reused", reused, "left", left)
    """
    result = run([*FOREIGN_PROC_NAMESPACE, *program(code)], env=WITH_HELPERS)
    assert result.stdout == "reused 5 left 0\n", result.stderr


def test_a_pid_reused_within_one_clock_tick_is_not_taken_for_the_programs_child():
    code = """
    import os, time, reaper
    reaper.reap()

    def start_tick(pid):
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
        return int(data[data.rindex(b")") + 2 :].split()[19])

    same_tick = left = 0
    for _ in range(300):  # until a few reuses fell within the tick: each takes a few ms on a quiet machine
        if same_tick == 3:
            break
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        started = start_tick(pid)
        os.waitpid(pid, 0)  # the program's child, waited for: its pid is free again
        hold, release = os.pipe()
        middle = os.fork()
        if middle == 0:  # makes an orphan of the same pid, which waits for the program to look at it
            with open("/proc/sys/kernel/ns_last_pid", "w") as last:
                last.write(str(pid - 1))
            if os.fork() == 0:
                os.close(release)
                os.read(hold, 1)
            os._exit(0)
        os.close(hold)
        os.waitpid(middle, 0)
        try:
            same_tick += start_tick(pid) == started
        except FileNotFoundError:
            pass
        os.close(release)  # the orphan exits
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.01)
        left += os.path.exists(f"/proc/{pid}")
    print("same tick", same_tick > 0, "left", left)
    """
    result = run(as_pid1(program(code)), env=WITH_HELPERS)
    assert result.stdout == "same tick True left 0\n", result.stderr


def test_a_child_created_with_no_descriptor_left_keeps_its_status_and_reaping_goes_on():
    code = """
    import collections, os, resource, subprocess, sys, reaper
    reaper.start(reaper.Config(enable_child_subreaper=True))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    held = []
    while True:
        try:
            held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            break
    seen = collections.Counter()
    for _ in range(20):
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        try:
            seen[os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])] += 1
        except OSError as error:
            seen[type(error).__name__] += 1
    for fd in held:
        os.close(fd)
    storm = subprocess.run(["sh", "-c", sys.argv[1]], capture_output=True, text=True).stdout.strip()
    print(dict(seen), storm)
    """
    result = run(program(code, orphan_storm(300)), env=WITH_HELPERS)
    assert result.stdout == "{7: 20} zombies=0\n", result.stderr
