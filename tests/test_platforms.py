"""Where containers really run: CI job containers and orchestrators, reproduced with the local engine.

Each claim of docs/platforms.md has its test here. The runner's
sequence is reproduced flag for flag from actions/runner
(ContainerOperationProvider.StartContainerAsync and DockerCommandManager.DockerCreate).
"""

import contextlib
import re
import time
import uuid

import pytest

from support import ROOT, defined_tests, run, without_emulator
from workloads import ZOMBIES_IN_NAMESPACE, orphan_storm, stop_seconds, wait_for, zombies_reported

STEP_ORPHANS = 50
STEPS = 4  # 200 orphans in all, made by a handful of docker exec steps
ORPHANS = f"i=0; while [ $i -lt {STEP_ORPHANS} ]; do (sleep 0 &); i=$((i+1)); done"
STEP_ENV = {"HOME": "/github/home", "GITHUB_ACTIONS": "true", "CI": "true"}
WORKSPACE = "/__w/repo/repo"


def docker(*args, **options):
    """Run the docker CLI, as the runners do; return its CompletedProcess (text)."""
    return run(["docker", *args], **options)


@contextlib.contextmanager
def github_job_container(image, tmp_path, env=()):
    """A job container created and started as actions/runner does; yields its id, then removes it.

    ``env`` adds ``-e`` options (a job's ``container.env``).
    """
    name = f"platforms-{uuid.uuid4().hex[:12]}"
    work = tmp_path / "work"
    for directory in ("repo/repo", "_temp/_github_home", "_temp/_github_workflow", "_actions", "_tool"):
        (work / directory).mkdir(parents=True, exist_ok=True)
    (tmp_path / "externals").mkdir()
    assert docker("network", "create", "--label", "platforms", name).returncode == 0
    create = ["create", "--name", name, "--label", "platforms", "--workdir", WORKSPACE, "--network", name]
    for item in ("HOME=/github/home", *env):
        create += ["-e", item]
    create += ["-e", "GITHUB_ACTIONS=true", "-e", "CI=true"]
    for source, target in (
        ("/var/run/docker.sock", "/var/run/docker.sock"),
        (work, "/__w"),
        (tmp_path / "externals", "/__e:ro"),
        (work / "_temp", "/__w/_temp"),
        (work / "_actions", "/__w/_actions"),
        (work / "_tool", "/__t"),
        (work / "_temp/_github_home", "/github/home"),
        (work / "_temp/_github_workflow", "/github/workflow"),
    ):
        create += ["-v", f"{source}:{target}"]
    create += ["--entrypoint", "tail", image, "-f", "/dev/null"]
    try:
        created = docker(*create)
        assert created.returncode == 0, created.stderr
        assert docker("start", name).returncode == 0
        yield name
    finally:
        docker("rm", "--force", name)
        docker("network", "rm", name)


def github_step(container, tmp_path, script, shell=("sh", "-e")):
    """Run ``script`` as a `run:` step: written under _temp, then `docker exec -i` with the step's shell."""
    step = f"{uuid.uuid4()}.sh"
    (tmp_path / "work" / "_temp" / step).write_text(script)
    options = ["-i", "--workdir", WORKSPACE, *(f"-e{name}" for name in STEP_ENV)]
    return docker("exec", *options, container, *shell, f"/__w/_temp/{step}", env={**STEP_ENV, "PATH": "/usr/bin:/bin"})


def zombies_in(container):
    """The zombies in the container's PID namespace, a second after the last step."""
    return zombies_reported(docker("exec", container, "sh", "-c", ZOMBIES_IN_NAMESPACE).stdout)


def pid1_command(container, emulated):
    return without_emulator(docker("exec", container, "cat", "/proc/1/cmdline").stdout.split("\0")[:-1], emulated)


def test_a_github_job_container_reaps_the_orphans_of_its_steps_and_stops_fast(image, tmp_path):
    with github_job_container(image.tag, tmp_path) as container:
        assert docker("exec", container, "sh", "-c", "cat /etc/*release | grep ^ID").returncode == 0
        for _ in range(STEPS):
            assert github_step(container, tmp_path, ORPHANS).returncode == 0
        assert zombies_in(container) == 0
        assert pid1_command(container, image.emulated)[1:] == [
            "-ISB",
            "/usr/local/lib/python-reaper/pid1",
            "--",
            "/usr/local/bin/tail",
            "-f",
            "/dev/null",
        ]
        started = time.monotonic()
        assert docker("stop", "-t", "10", container).returncode == 0
        assert time.monotonic() - started < 5
        assert docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout.strip() == "143"


def test_control_a_github_job_container_of_the_bare_base_keeps_every_zombie(image, tmp_path):
    with github_job_container(image.base.id, tmp_path) as container:
        for _ in range(STEPS):
            assert github_step(container, tmp_path, ORPHANS).returncode == 0
        assert zombies_in(container) >= 150


STEP_THAT_LEAVES = ORPHANS + "\nsleep 1000 &\nexit 3\n"
REAPING_STEP_SHELL = ("reaper", "--", "bash", "--noprofile", "--norc", "-eo", "pipefail")
"""The recipe of docs/platforms.md, `shell: reaper -- bash --noprofile --norc -eo pipefail {0}`, as the runner runs it."""


def test_a_step_shell_behind_reaper_reaps_its_orphans_where_pid1_does_not(image, tmp_path):
    # REAPER_KEEPALIVE=0 leaves the runner's plain tail as PID 1: a PID 1 nothing in the image can replace.
    with github_job_container(image.tag, tmp_path, env=["REAPER_KEEPALIVE=0"]) as container:
        assert pid1_command(container, image.emulated) == ["tail", "-f", "/dev/null"]
        assert github_step(container, tmp_path, STEP_THAT_LEAVES, shell=REAPING_STEP_SHELL).returncode == 3
        assert zombies_in(container) == 0
        left = docker("exec", container, "sh", "-c", "cat /proc/[0-9]*/comm").stdout.split()
        assert "sleep" not in left, "the step's background sleep outlived the step"
        assert github_step(container, tmp_path, ORPHANS, shell=("bash", "-e")).returncode == 0
        assert zombies_in(container) >= STEP_ORPHANS * 0.75  # the control: orphans of a step without the recipe


@pytest.fixture
def sleeper(containers):
    """Start ``docker run --entrypoint sleep IMAGE infinity`` with ``environment``; return the container."""
    return lambda image, environment=None: containers(image, ["infinity"], entrypoint="sleep", environment=environment)


def exec_orphan_steps(container):
    for _ in range(STEPS):
        assert container.exec_run(["sh", "-c", ORPHANS]).exit_code == 0
    return zombies_reported(container.exec_run(["sh", "-c", ZOMBIES_IN_NAMESPACE]).output.decode())


def test_sleep_infinity_as_entrypoint_reaps_and_stops_fast(image, sleeper):
    container = sleeper(image.tag)
    assert exec_orphan_steps(container) == 0
    seconds, status = stop_seconds(container, timeout=10)
    assert (seconds < 5, status) == (True, 143)


def test_control_sleep_infinity_as_entrypoint_of_the_bare_base_keeps_every_zombie(image, sleeper):
    assert exec_orphan_steps(sleeper(image.base.id)) >= 150


def test_reaper_keepalive_0_leaves_the_plain_program_as_pid1(image, sleeper):
    container = sleeper(image.tag, {"REAPER_KEEPALIVE": "0"})

    def pid1():
        return without_emulator(container.exec_run(["cat", "/proc/1/cmdline"]).output.split(b"\0")[:-1], image.emulated)

    # Until the wrapper has exec'd its program (or shown it never will: the wait fails).
    wait_for(lambda: pid1() == [b"sleep", b"infinity"], 120, "PID 1 to be sleep infinity itself")


ORDINARY_USES = r"""
t() { printf '== %s\n' "$*"; "$@" 2>&1; echo "rc=$?"; }
printf 'a\nb\nc\n' > /tmp/abc; printf 'x\n' > '/tmp/with space'
t tail --version
t tail --help
t tail -n 2 /tmp/abc
t tail -c 3 /tmp/abc
t tail -n +2 /tmp/abc '/tmp/with space'
t tail -n 1 ''
t tail /nonexistent
t tail --bogus
t tail -n x /tmp/abc
t timeout 0.5 tail -f /dev/null
printf '== stdin\n'; printf '1\n2\n' | tail -n 1; echo "rc=$?"
printf '== stdin as -\n'; printf '1\n2\n' | tail -n 1 -; echo "rc=$?"
printf '== no PATH\n'; env -i "$BIN/tail" -n 1 /tmp/abc; echo "rc=$?"
t sleep --version
t sleep --help
t sleep 0
t sleep 0.1s
t sleep x
t sleep
t sleep 1 2 x
t timeout -s USR1 0.3 sleep 5
t timeout --preserve-status -s TERM 0.3 sleep 5
printf '== no PATH\n'; env -i "$BIN/sleep" 0; echo "rc=$?"
"""


def test_tail_and_sleep_behave_as_the_bases_for_ordinary_uses(image, containers):
    def uses(reference, bin_directory):
        container = containers(
            reference, ["sh", "-c", ORDINARY_USES], entrypoint=[], environment={"BIN": bin_directory}
        )
        assert container.wait(timeout=60)["StatusCode"] == 0
        return container.logs().decode()

    in_image = uses(image.tag, "/usr/local/bin")
    assert in_image == uses(image.base.id, "/usr/bin")
    assert "rc=124" in in_image and "rc=143" in in_image and "Usage: tail" in in_image


@pytest.mark.parametrize(
    ("program", "args", "stdin"),
    [("tail", ["--help"], ""), ("sleep", ["x"], ""), ("tail", ["-n", "1"], "one\ntwo\n"), ("sleep", ["0.1"], "")],
)
def test_tail_and_sleep_as_pid1_behave_as_the_bases(image, program, args, stdin):
    def as_entrypoint(reference):
        result = docker("run", "--rm", "-i", "--entrypoint", program, reference, *args, input=stdin)
        return result.returncode, result.stdout, result.stderr

    assert as_entrypoint(image.tag) == as_entrypoint(image.base.id)


APP_THAT_EXITS_ON_SIGTERM = ["sleep", "1000"]


@pytest.mark.parametrize(
    ("environment", "stop_timeout", "seconds", "status"),
    [
        ({"REAPER_STOP_DELAY": "2"}, 10, (2, 4), 143),  # Kubernetes: endpoints drain while the app still serves
        ({"REAPER_STOP_DELAY": "2", "REAPER_EXIT_MAP": "143:0"}, 10, (2, 4), 0),  # a Job stopped on purpose succeeds
        ({"REAPER_STOP_DELAY": "5"}, 1, (1, 3), 137),  # a delay longer than the platform's timeout: SIGKILL
    ],
)
def test_docker_stop_with_a_stop_delay(image, containers, environment, stop_timeout, seconds, status):
    container = containers(image.tag, APP_THAT_EXITS_ON_SIGTERM, environment=environment)
    took, exit_status = stop_seconds(container, timeout=stop_timeout)
    assert (seconds[0] <= took < seconds[1], exit_status) == (True, status), took


GITLAB_SHELL_DETECTION = """if [ -x /usr/local/bin/bash ]; then
\texec /usr/local/bin/bash
elif [ -x /usr/bin/bash ]; then
\texec /usr/bin/bash
elif [ -x /bin/bash ]; then
\texec /bin/bash
elif [ -x /usr/local/bin/sh ]; then
\texec /usr/local/bin/sh
elif [ -x /usr/bin/sh ]; then
\texec /usr/bin/sh
elif [ -x /bin/sh ]; then
\texec /bin/sh
elif [ -x /busybox/sh ]; then
\texec /busybox/sh
else
\techo shell not found
\texit 1
fi
"""


def test_a_gitlab_docker_executor_job_keeps_the_entrypoint_and_reaps(image):
    # GitLab's docker executor keeps the image's ENTRYPOINT, runs its shell detection as the
    # command and writes the job's script to the shell's stdin.
    script = orphan_storm(200) + "exit 3\n"
    result = docker("run", "--rm", "-i", image.tag, "sh", "-c", GITLAB_SHELL_DETECTION, input=script)
    assert result.returncode == 3, result.stderr
    assert zombies_reported(result.stdout) == 0


def test_a_jenkins_docker_inside_container_keeps_the_entrypoint_reaps_and_stops_fast(image, tmp_path):
    # docker-workflow's `docker.image(...).inside`: `docker run -t -d -u UID:GID -w WS -v WS:WS IMAGE cat`,
    # `docker top` must then list `cat`, every `sh` step runs through `docker exec`, and `docker stop --time=1` ends it.
    name = f"platforms-{uuid.uuid4().hex[:12]}"
    workspace = str(tmp_path)
    try:
        started = docker(
            "run", "-t", "-d", "--name", name, "-u", "65534:65534", "-w", workspace,
            "-v", f"{workspace}:{workspace}:rw,z", image.tag, "cat",
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        wait_for(lambda: any(line.endswith(" cat") for line in docker("top", name).stdout.splitlines()), 120, "cat")
        for _ in range(STEPS):
            assert docker("exec", name, "sh", "-c", ORPHANS).returncode == 0
        assert zombies_in(name) == 0
        assert docker("stop", "--time=1", name).returncode == 0
        assert docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "143"
    finally:
        docker("rm", "--force", name)


def test_the_readme_platform_claims_name_tests_that_exist_and_its_recipe_is_the_tested_one():
    # The Platforms page (docs/platforms.md); test_docs checks the cited names of every doc.
    section = (ROOT / "docs" / "platforms.md").read_text()
    cited = set(re.findall(r"`(test_\w+)`", section))
    assert cited and cited <= defined_tests(), cited - defined_tests()
    assert f"shell: {' '.join(REAPING_STEP_SHELL)} {{0}}" in section


SLOW_TO_STOP = "trap 'sleep 2; exit 0' TERM; while :; do sleep 0.1; done"
STAMPS_ITS_SIGTERM = "trap 'date +%s.%N > /data/stamp; exit 0' TERM; touch /data/ready; while :; do sleep 0.1; done"


def test_stop_all_as_pid1_reaches_a_docker_exec_process_with_the_command(image, containers, tmp_path):
    # Not a descendant of the reaper (its parent is outside the container), but in its namespace.
    container = containers(
        image.tag,
        ["sh", "-c", SLOW_TO_STOP],
        environment={"REAPER_STOP_ALL": "1"},
        volumes={str(tmp_path): {"bind": "/data", "mode": "rw"}},
    )
    container.exec_run(["sh", "-c", STAMPS_ITS_SIGTERM], detach=True)
    wait_for((tmp_path / "ready").exists, 120, "the docker exec process's trap")
    stopped = time.time()
    container.stop(timeout=10)
    assert float((tmp_path / "stamp").read_text()) - stopped < 1.0  # not 2 s later, after the command
