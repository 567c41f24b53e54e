"""In-process reaping (issue 11): ``reap()`` and ``start()`` reap orphans and never a child the program waits for.

Every way Python has to create a child, on every Python this host has, as
PID 1 and as a subreaper, while a storm of 2,000 orphans runs beside; and the
control, the same run with a thread that reaps any child, shows the stolen
statuses.
"""

import json
import sys
import textwrap

import pytest

import offline
from support import ENTRYPOINT, HELPERS, PYTHONS, as_pid1, environment, run
from workloads import orphan_storm

WORKLOAD = [str(HELPERS / "children_workload.py")]

EVERY_STATUS_KEPT = {
    "subprocess.run": {"7": 1000},
    "asyncio": {"7": 200},
    "multiprocessing fork": {"7": 1},
    "multiprocessing spawn": {"7": 1},
    "multiprocessing forkserver": {"7": 1},
    "os.system": {str(7 << 8): 20},
    "os.spawnv": {"7": 20},
    "os.fork": {"7": 20},
    "os.popen": {str(7 << 8): 20},
    "os.posix_spawn": {"7": 20},
    "pty.fork": {"7": 20},
    "storm": "zombies=0",
    "zombies left": 0,
}


def workload(python, mode, pid1):
    argv = [python, *WORKLOAD, mode, orphan_storm(2000)]
    result = run(as_pid1(argv) if pid1 else argv, timeout=240, env=environment(PYTHONPATH=ENTRYPOINT))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("python", PYTHONS)
def test_reap_as_pid1_keeps_every_childs_status_for_its_waiter_and_reaps_every_orphan(python):
    assert workload(python, "reap", pid1=True) == EVERY_STATUS_KEPT


@pytest.mark.parametrize("python", PYTHONS)
def test_start_as_a_subreaper_keeps_every_childs_status_for_its_waiter_and_reaps_every_orphan(python):
    assert workload(python, "start", pid1=False) == EVERY_STATUS_KEPT


@pytest.mark.parametrize("pid1", [True, False], ids=["pid1", "subreaper"])
def test_control_a_thread_that_reaps_any_child_steals_the_programs_statuses(pid1):
    seen = workload(sys.executable, "naive", pid1)
    assert seen["storm"] == "zombies=0"
    assert seen["subprocess.run"].get("7", 0) < 1000, seen
    assert seen["asyncio"].get("7", 0) < 200, seen
    wrong = [way for way, counts in seen.items() if way in EVERY_STATUS_KEPT and counts != EVERY_STATUS_KEPT[way]]
    assert len(wrong) >= 5, seen


def test_the_limit_a_child_that_c_code_forks_and_waits_for_is_taken_for_an_orphan():
    code = """
    import ctypes, os, time, reaper
    reaper.reap()
    libc, with_the_gil = ctypes.CDLL(None, use_errno=True), ctypes.PyDLL(None)
    pid = with_the_gil.fork()  # as a C extension forks: unseen by the reaper
    if pid == 0:
        with_the_gil._exit(7)
    while os.path.exists(f"/proc/{pid}"):  # until the reaper has taken it: it cannot know it is not an orphan
        time.sleep(0.01)
    status = ctypes.c_int()
    print(libc.waitpid(pid, ctypes.byref(status), 0), os.strerror(ctypes.get_errno()))
    """
    result = run(as_pid1([sys.executable, "-c", textwrap.dedent(code)]))
    assert result.stdout == "-1 No child processes\n", result.stderr


BASE_ONLY_PYTHONS = [key for key, recipe in offline.OFFLINE_BASES.items() if recipe.suite == "sid"]
"""3.14 and 3.15: no interpreter on the host, Debian unstable's in their offline bases."""


@pytest.mark.parametrize("key", BASE_ONLY_PYTHONS, ids="-".join)
def test_reap_as_pid1_of_a_container_keeps_every_status_on_the_pythons_only_the_bases_have(docker_client, key):
    base = offline.offline_base(docker_client, offline.OFFLINE_BASES[key])
    command = ["python3", "/helpers/children_workload.py", "reap", orphan_storm(2000)]
    output = docker_client.containers.run(
        base,
        command,
        environment={"PYTHONPATH": "/reaper"},
        volumes={ENTRYPOINT: {"bind": "/reaper", "mode": "ro"}, str(HELPERS): {"bind": "/helpers", "mode": "ro"}},
        remove=True,
    )
    assert json.loads(output.decode().splitlines()[-1]) == EVERY_STATUS_KEPT
