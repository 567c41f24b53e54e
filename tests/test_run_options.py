"""--user, --pdeathsig and --cpu-count with the reaper as PID 1 of a new PID namespace, or as the child of
a process that dies; none of them changes anything when unused."""

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from reaper import _cpu
from support import PRINT_SIGNALS, REAPER, as_pid1, environment, read_line, run, running

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
app:x:1234:1234:the app:/home/app:/bin/sh
other:x:2345:2345::/home/other:/bin/sh
"""
GROUP = """\
root:x:0:
app:x:1234:
audio:x:29:other,app
video:x:44:app
staff:x:50:
"""
IDS = 'grep -E "^(Uid|Gid|Groups):" /proc/self/status; echo "HOME=$HOME USER=$USER LOGNAME=$LOGNAME"'
NO_LOGIN = {"HOME": None, "USER": None, "LOGNAME": None}


@pytest.fixture
def accounts(tmp_path):
    """A command line prefix that runs what follows as PID 1 with PASSWD and GROUP as /etc/passwd and /etc/group
    (bound over the host's in a mount namespace of its own)."""
    (tmp_path / "passwd").write_text(PASSWD)
    (tmp_path / "group").write_text(GROUP)
    binds = f"mount --bind {tmp_path}/passwd /etc/passwd && mount --bind {tmp_path}/group /etc/group"
    return ["unshare", "--mount", "sh", "-c", f'{binds} && exec "$@"', "sh", *as_pid1([])]


def ids_of(output):
    """``{"Uid": [...], "Gid": [...], "Groups": [...], "HOME": ..., ...}`` from the output of IDS."""
    found = {}
    for line in output.splitlines():
        if line.startswith(("Uid:", "Gid:", "Groups:")):
            name, _, values = line.partition(":")
            found[name] = [int(value) for value in values.split()]
        else:
            found.update(pair.split("=", 1) for pair in line.split())
    return found


@pytest.mark.parametrize(
    ("spec", "uid", "gid", "groups", "home", "user"),
    [
        ("app", 1234, 1234, [29, 44, 1234], "/home/app", "app"),
        ("1234", 1234, 1234, [29, 44, 1234], "/home/app", "app"),
        ("app:staff", 1234, 50, [29, 44, 50], "/home/app", "app"),
        ("other:44", 2345, 44, [29, 44], "/home/other", "other"),
        ("4321", 4321, 0, [], "/", ""),
        ("4321:4321", 4321, 4321, [], "/", ""),
    ],
)
def test_user_runs_the_command_with_the_users_ids_groups_and_home(accounts, spec, uid, gid, groups, home, user):
    result = run([*accounts, *REAPER, "--user", spec, "sh", "-c", IDS], env=environment(**NO_LOGIN))
    assert result.returncode == 0, result.stderr
    found = ids_of(result.stdout)
    assert (found["Uid"], found["Gid"], found["Groups"]) == ([uid] * 4, [gid] * 4, groups)
    assert (found["HOME"], found.get("USER", ""), found.get("LOGNAME", "")) == (home, user, user)


def test_the_variable_does_the_same_and_the_environment_keeps_its_own_home(accounts):
    env = environment(REAPER_USER="app", HOME="/srv", USER=None, LOGNAME=None)
    found = ids_of(run([*accounts, *REAPER, "sh", "-c", IDS], env=env).stdout)
    assert (found["Uid"][0], found["HOME"], found["USER"]) == (1234, "/srv", "app")


def test_control_without_user_the_command_runs_as_root(accounts):
    found = ids_of(run([*accounts, *REAPER, "sh", "-c", IDS], env=environment(**NO_LOGIN)).stdout)
    assert found["Uid"] == [0] * 4


def test_the_command_cannot_take_root_back_and_the_reaper_keeps_it(accounts):
    regain = "import os; os.setuid(0)"
    script = f'/usr/bin/python3 -c "{regain}"; echo "status=$?"; grep "^Uid:" /proc/1/status'
    result = run([*accounts, *REAPER, "--user", "app", "sh", "-c", script])
    assert "PermissionError" in result.stderr
    assert "status=1" in result.stdout
    assert ids_of(result.stdout)["Uid"] == [0] * 4, "the reaper, PID 1, is still root"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nobody-here", "reaper: --user: unknown user 'nobody-here' (not in /etc/passwd)\n"),
        ("app:no-group", "reaper: --user: unknown group 'no-group' (not in /etc/group)\n"),
    ],
)
def test_an_unknown_user_or_group_is_a_usage_error_that_names_it(accounts, spec, message):
    result = run([*accounts, *REAPER, "--user", spec, "sh", "-c", "echo ran"])
    assert (result.returncode, result.stderr, result.stdout) == (2, message, "")


@pytest.mark.parametrize("spec", ["", ":staff", "app:", "a:b:c"])
def test_a_malformed_user_is_a_usage_error(spec):
    result = run([*REAPER, "--user", spec, "true"])
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"reaper: --user: expected USER or USER:GROUP (names or numeric ids), got {spec!r}\n"


def test_a_reaper_that_may_not_change_ids_exits_126_and_runs_nothing(accounts):
    without = ["setpriv", "--bounding-set", "-setuid,-setgid"]
    result = run([*accounts, *without, *REAPER, "--user", "app", "sh", "-c", "echo ran"])
    assert (result.returncode, result.stdout) == (126, "")
    assert result.stderr == "reaper: cannot run sh as user 'app': Operation not permitted\n"


def test_a_subreaper_drops_too(accounts):
    found = ids_of(run([*accounts, "sh", "-c", '"$@"; true', "sh", *REAPER, "--user", "app", "sh", "-c", IDS]).stdout)
    assert found["Uid"] == [1234] * 4


ORPHAN_OF_A_DEAD_PARENT = """
import os, subprocess, sys
parent = subprocess.Popen(["sh", "-c", '"$@" & echo $!; wait', "sh", *sys.argv[1:]], stdout=subprocess.PIPE, text=True)
reaper = int(parent.stdout.readline())
print(parent.stdout.readline().strip(), flush=True)  # the command's "ready"
os.kill(parent.pid, 9)
parent.wait()
print(f"forwarded {parent.stdout.readline()}".strip(), flush=True)
print("reaper", os.waitstatus_to_exitcode(os.waitpid(reaper, 0)[1]), flush=True)
"""
"""PID 1 of a namespace: starts ``sh -c 'REAPER ... &'``, SIGKILLs that sh once the command is ready, then
prints the signal the command reports and the reaper's exit status (the orphaned reaper is its child then)."""


def test_pdeathsig_forwards_the_signal_when_the_reapers_parent_dies():
    argv = [*REAPER, "--pdeathsig", "TERM", *PRINT_SIGNALS, str(signal.SIGTERM)]
    result = run(as_pid1([sys.executable, "-c", ORPHAN_OF_A_DEAD_PARENT, *argv]), timeout=60)
    assert result.stdout.splitlines() == ["ready", f"forwarded {signal.SIGTERM}", "reaper 0"], result.stderr


def test_pdeathsig_from_the_variable_and_the_reaper_exits_with_the_commands_status():
    argv = [*REAPER, "sh", "-c", "echo ready; sleep 30"]
    env = environment(REAPER_PDEATHSIG="USR1")
    result = run(as_pid1([sys.executable, "-c", ORPHAN_OF_A_DEAD_PARENT, *argv]), env=env, timeout=60)
    assert result.stdout.splitlines() == ["ready", "forwarded", f"reaper {128 + signal.SIGUSR1}"], result.stderr


def test_control_without_pdeathsig_the_orphaned_reaper_keeps_running():
    argv = [*REAPER, *PRINT_SIGNALS]
    with running(as_pid1([sys.executable, "-c", ORPHAN_OF_A_DEAD_PARENT, *argv])) as unshare:
        assert read_line(unshare.stdout) == "ready"
        with pytest.raises(AssertionError, match="no line"):
            read_line(unshare.stdout, timeout=3)


def test_pdeathsig_when_the_parent_is_gone_before_the_option_is_applied():
    # The race: the parent died between the reaper's start and the prctl, so the kernel sends nothing.
    # The parent recorded at start is then not getppid() any more; here it is one that never was.
    code = (
        "import sys; from reaper._supervisor import supervise;"
        "sys.exit(supervise(sys.argv[1:], parent_death=(15, 4_000_000)))"
    )
    result = run([sys.executable, "-c", code, "sleep", "300"], timeout=60)  # SIGTERM comes before it can wait
    assert result.returncode == 128 + signal.SIGTERM


@pytest.mark.parametrize("text", ["KILL", "STOP", "CHLD", "NOPE", ""])
def test_a_pdeathsig_that_cannot_be_forwarded_is_a_usage_error(text):
    result = run([*REAPER, "--pdeathsig", text, "true"])
    assert (result.returncode, result.stdout, result.stderr.count("\n")) == (2, "", 1)
    assert result.stderr.startswith("reaper: --pdeathsig: ")


class CpuGroup:
    """A new cgroup with a CPU quota, under the cpu controller's hierarchy (v1 here, v2 on CI runners)."""

    V1, V2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")

    def __init__(self, parent=None):
        self.v2 = parent.v2 if parent else (self.V2 / "cgroup.controllers").exists()
        top = parent.path if parent else (self.V2 if self.v2 else self.V1)
        self.path = top / (f"reaper-test-{uuid.uuid4().hex[:8]}" if parent is None else "inner")
        self.path.mkdir()
        if self.v2 and parent is None:
            (top / "cgroup.subtree_control").write_text("+cpu")  # the controller the quota needs
        if self.v2:
            (self.path / "cgroup.subtree_control").write_text("+cpu")

    def limit(self, cpus):
        """Allow ``cpus`` CPUs, or lift the limit with None."""
        quota = "max" if cpus is None else str(int(cpus * 100_000))
        if self.v2:
            (self.path / "cpu.max").write_text(f"{quota} 100000")
        else:
            (self.path / "cpu.cfs_period_us").write_text("100000")
            (self.path / "cpu.cfs_quota_us").write_text("-1" if cpus is None else quota)

    def inside(self):
        """A command line prefix that runs what follows as PID 1 in this group."""
        return ["sh", "-c", f'echo $$ > {self.path}/cgroup.procs && exec "$@"', "sh", *as_pid1([])]


@pytest.fixture
def cpu_cgroup():
    """A new cpu cgroup limited to 1.5 CPUs, removed afterwards (empty then: the runs are over)."""
    group = CpuGroup()
    try:
        group.limit(1.5)
        yield group
    finally:
        group.path.rmdir()


COUNT = 'echo "count=${PYTHON_CPU_COUNT-unset}"'


NO_COUNT = environment(PYTHON_CPU_COUNT=None)


def test_cpu_count_quota_sets_the_quota_rounded_up(cpu_cgroup):
    result = run([*cpu_cgroup.inside(), *REAPER, "--cpu-count", "quota", "sh", "-c", COUNT], env=NO_COUNT)
    assert (result.returncode, result.stdout, result.stderr) == (0, "count=2\n", "")


def test_cpu_count_of_a_parent_cgroups_limit(cpu_cgroup):
    inner = CpuGroup(parent=cpu_cgroup)
    try:
        env = environment(REAPER_CPU_COUNT="quota", PYTHON_CPU_COUNT=None)
        assert run([*inner.inside(), *REAPER, "sh", "-c", COUNT], env=env).stdout == "count=2\n"
    finally:
        inner.path.rmdir()


def test_cpu_count_never_exceeds_the_affinity(cpu_cgroup):
    cpu_cgroup.limit(8)
    pinned = ["taskset", "-c", "0"]
    result = run([*pinned, *cpu_cgroup.inside(), *REAPER, "--cpu-count", "quota", "sh", "-c", COUNT], env=NO_COUNT)
    assert result.stdout == "count=1\n"


def test_cpu_count_keeps_a_count_the_environment_sets(cpu_cgroup):
    argv = [*cpu_cgroup.inside(), *REAPER, "--cpu-count", "quota", "sh", "-c", COUNT]
    assert run(argv, env=environment(PYTHON_CPU_COUNT="7")).stdout == "count=7\n"


@pytest.mark.parametrize("options", [["--cpu-count", "quota"], []], ids=["no-limit", "control-unused"])
def test_cpu_count_sets_nothing_without_a_limit_or_the_option(cpu_cgroup, options):
    if options:
        cpu_cgroup.limit(None)
    result = run([*cpu_cgroup.inside(), *REAPER, *options, "sh", "-c", COUNT], env=NO_COUNT)
    assert result.stdout == "count=unset\n"


def test_cpu_count_takes_only_quota():
    result = run([*REAPER, "--cpu-count", "all", "true"])
    assert (result.returncode, result.stderr) == (2, "reaper: --cpu-count: expected 'quota', got 'all'\n")


def test_none_of_them_changes_the_command_when_unused():
    script = f'{IDS}; echo "count=${{PYTHON_CPU_COUNT-unset}}"'
    bare = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    reaped = run(as_pid1([*REAPER, "sh", "-c", script]))
    assert reaped.stdout == bare.stdout


V2_MOUNT = "30 23 0:26 {root} {top} rw,nosuid - cgroup2 cgroup2 rw\n"


@pytest.mark.parametrize(
    ("cpu_max", "parent_max", "count"),
    [("150000 100000", "max 100000", 2), ("max 100000", "50000 100000", 1), ("max 100000", "max 100000", None)],
)
def test_cpu_count_reads_cgroup_v2s_cpu_max(tmp_path, cpu_max, parent_max, count):
    # This machine has the cpu controller on cgroup v1, so v2 is read from a mount laid out as a
    # container sees one (its own cgroup as the mount's root), the files being what the kernel writes.
    (tmp_path / "cpu.max").write_text(parent_max + "\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "cpu.max").write_text(cpu_max + "\n")
    memberships = "0::/kubepods/pod1/app\n"
    mounts = V2_MOUNT.format(root="/kubepods/pod1", top=tmp_path)
    assert _cpu.count_from(memberships, mounts) == count


def test_cpu_count_without_a_cgroup_mount_is_no_limit():
    assert _cpu.count_from("0::/\n", "") is None


def test_a_nested_reaper_keeps_the_user_the_reaper_above_dropped_to(accounts):
    # It inherited REAPER_USER and supervises for its own --stop-delay: it is that user already, and may
    # not change ids, which it does not need to.  (The system's Python: the user cannot read this venv's.)
    inner = ["/usr/bin/python3", "-m", "reaper", "--stop-delay", "1"]
    env = environment(REAPER_USER="app", PYTHONPATH=str(Path(__file__).parent.parent / "entrypoint"), **NO_LOGIN)
    result = run([*accounts, *REAPER, *inner, "sh", "-c", f"{IDS}; echo parent=$PPID"], env=env)
    assert result.returncode == 0, result.stderr
    found = ids_of(result.stdout)
    assert (found["Uid"], found["HOME"]) == ([1234] * 4, "/home/app")
    assert found["parent"] != "1", "the nested reaper supervises"
