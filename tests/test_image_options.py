"""The options in the image: a nested reaper's own options, --user, --pdeathsig and --cpu-count."""

import io
import os
import tarfile

import pytest

from workloads import stop_seconds, wait_for

SLEEPER = ["python3", "-c", "import time; time.sleep(1000)"]


def finish(container, timeout=120):
    """Wait for the container to exit; return (exit status, its output)."""
    return container.wait(timeout=timeout)["StatusCode"], container.logs().decode()


def test_a_nested_reaper_applies_its_own_stop_delay(image, containers):
    seconds, status = stop_seconds(containers(image.tag, ["reaper", "--stop-delay", "2", "--", *SLEEPER]), timeout=10)
    assert 2 <= seconds < 6  # run in place, it stopped in 0.12 s
    assert status == 143


def test_a_nested_reaper_applies_its_own_exit_map(image, containers):
    container = containers(image.tag, ["reaper", "--exit-map", "143:0", "--", "sh", "-c", "kill -TERM $$"])
    assert finish(container)[0] == 0


ENTRYPOINT = """\
#!/bin/sh
# The official images' pattern: set up as root, then run the command as the application's user.
set -e
chown app /data
exec reaper --user app -- "$@"
"""
DOWNSTREAM = """\
FROM {image}
RUN echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd \\
 && echo 'app:x:1000:' >> /etc/group && echo 'extra:x:2000:app' >> /etc/group \\
 && mkdir /data
COPY entrypoint.sh /usr/local/bin/entrypoint.sh
RUN chmod 755 /usr/local/bin/entrypoint.sh
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
"""
WHO = """
grep -E '^(Uid|Gid|Groups):' /proc/self/status
echo "HOME=$HOME USER=$USER data=$(stat -c %U /data)"
grep '^Uid:' /proc/1/status | sed 's/^/reaper /'
python3 -c 'import os; os.setuid(0)' 2>/dev/null || echo 'setuid(0) refused'
"""


@pytest.fixture
def downstream(image, docker_client):
    """An application image built FROM the image under test with ENTRYPOINT's set-up script; removed afterwards."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", DOWNSTREAM.format(image=image.tag)), ("entrypoint.sh", ENTRYPOINT)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    built, _ = docker_client.images.build(fileobj=context, custom_context=True, rm=True, forcerm=True)
    yield built
    docker_client.images.remove(built.id, force=True, noprune=True)  # the image under test may be untagged


def test_user_after_a_root_set_up_step(downstream, containers):
    status, output = finish(containers(downstream.id, ["sh", "-c", WHO]))
    assert status == 0, output
    lines = output.splitlines()
    assert lines[:3] == ["Uid:\t1000\t1000\t1000\t1000", "Gid:\t1000\t1000\t1000\t1000", "Groups:\t1000 2000 "]
    assert lines[3:] == ["HOME=/home/app USER=app data=app", "reaper Uid:\t0\t0\t0\t0", "setuid(0) refused"]


def test_user_by_the_variable_as_pid1(downstream, containers):
    container = containers(downstream.id, ["id", "-u"], entrypoint=["reaper"], environment={"REAPER_USER": "app"})
    assert finish(container) == (0, "1000\n")


def test_a_reaper_that_is_not_root_refuses_user_with_126(image, containers):
    container = containers(image.tag, ["--user", "root", "--", "sh", "-c", "echo ran"], user="65534:65534")
    assert finish(container) == (126, "reaper: cannot run sh as user 'root': Operation not permitted\n")


PARENT = (
    "reaper {options} -- sh -c 'trap \"echo got > /tmp/got; exit 3\" USR1; touch /tmp/ready; while :; do sleep 0.1; done'"
    " & echo $$ $! > /tmp/pids; wait"
)
"""Started by docker exec: the reaper's parent, a shell the test SIGKILLs."""


@pytest.mark.parametrize("options", ["--pdeathsig USR1", ""], ids=["pdeathsig", "control"])
def test_pdeathsig_when_the_parent_started_with_docker_exec_is_killed(image, containers, options):
    container = containers(image.tag, SLEEPER, environment={"REAPER_DEBUG": "1"})
    container.exec_run(["sh", "-c", PARENT.format(options=options)], detach=True)
    wait_for(lambda: container.exec_run(["test", "-e", "/tmp/ready"]).exit_code == 0, 60, "the command to start")
    parent, reaper = container.exec_run(["cat", "/tmp/pids"]).output.decode().split()
    container.exec_run(["sh", "-c", f"kill -KILL {parent}"])  # kill is a shell builtin in slim images
    if options:
        wait_for(lambda: f"reaped {reaper} " in container.logs().decode(), 60, "PID 1 to reap the orphaned reaper")
        assert f"reaped {reaper} (reaper), exit status 3" in container.logs().decode()
        assert container.exec_run(["cat", "/tmp/got"]).output == b"got\n"
    else:
        with pytest.raises(AssertionError, match="timed out"):
            wait_for(lambda: container.exec_run(["test", "-e", "/tmp/got"]).exit_code == 0, 3, "a signal")


COUNTS = "import os, sys; print(os.environ.get('PYTHON_CPU_COUNT'), os.cpu_count(), sys.version_info >= (3, 13))"


@pytest.mark.parametrize(
    ("cpus", "environment", "count"),
    [(1.5, {}, "2"), (0.5, {}, "1"), (0.5, {"REAPER_CPU_COUNT": "quota"}, "1"), (None, {}, "None")],
    ids=["1.5", "0.5", "variable", "no-limit"],
)
def test_cpu_count_quota(image, containers, cpus, environment, count):
    limit = {"nano_cpus": int(cpus * 1e9)} if cpus else {}
    options = [] if environment else ["--cpu-count", "quota"]
    container = containers(image.tag, [*options, "--", "python3", "-c", COUNTS], environment=environment, **limit)
    status, output = finish(container)
    variable, cpu_count, honoured = output.split()
    assert (status, variable) == (0, count)
    # Python 3.13 and newer take the variable; 3.11 and 3.12 still count the host's CPUs.
    assert int(cpu_count) == (int(count) if honoured == "True" and count != "None" else os.cpu_count())


def test_control_without_cpu_count_a_limited_container_counts_the_hosts_cpus(image, containers):
    status, output = finish(containers(image.tag, ["python3", "-c", COUNTS], nano_cpus=int(0.5e9)))
    assert (status, output.split()[:2]) == (0, ["None", str(os.cpu_count())])
