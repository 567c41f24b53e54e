"""The image in a real Docker engine: PID 1, zombies, signals, exit codes, hardening, TTY, size."""

import subprocess

import pytest
import testinfra

from support import IMAGE_ENTRYPOINT, PROMPT, assert_job_control, without_emulator
from workloads import (
    ADOPTION,
    APP_AS_PID1,
    HARDENED,
    SLEEPER,
    adopter_and_reaper,
    exec_orphans,
    finish,
    orphan_storm,
    stop_seconds,
    wait_for,
    zombies_reported,
)

BOUNDED_STORM = "i=0; while [ $i -lt 3000 ]; do (sleep 0 &) || exit 1; i=$((i+1)); done; echo storm survived"


def pid1_child(host):
    """The pid of PID 1's direct child, read from /proc inside the container (slim has no ps)."""
    for stat in host.check_output("cat /proc/[0-9]*/stat").splitlines():
        pid, rest = stat.split(" ", 1)
        if rest.rsplit(") ", 1)[1].split()[1] == "1":
            return int(pid)
    raise AssertionError("PID 1 has no child")


def argv(host, pid, emulated):
    """The command line of ``pid`` in the container (see :func:`support.without_emulator`)."""
    return without_emulator(host.file(f"/proc/{pid}/cmdline").content_string.split("\0"), emulated)


def test_pid1_is_the_reaper_and_its_child_is_marked(image, containers):
    container = containers(image.tag, ["sleep", "60"])
    host = testinfra.get_host(f"docker://{container.id}")
    assert argv(host, 1, image.emulated)[:3] == IMAGE_ENTRYPOINT
    child = pid1_child(host)
    assert argv(host, child, image.emulated)[:2] == ["sleep", "60"]
    assert "REAPER=1" in host.file(f"/proc/{child}/environ").content_string.split("\0")
    assert host.exists("reaper")


def test_entrypoint_cmd_and_labels(image):
    config = image.built.attrs["Config"]
    assert config["Entrypoint"] == IMAGE_ENTRYPOINT
    assert config["Cmd"] == ["python3"]
    labels = config["Labels"]
    for name in ("title", "description", "source", "licenses", "version", "revision", "created", "base.name"):
        assert labels.get(f"org.opencontainers.image.{name}"), name
    assert labels["org.opencontainers.image.title"] == "python-reaper"


def test_python_reads_stdin_by_default(image):
    result = subprocess.run(
        ["docker", "run", "-i", "--rm", image.tag], input="print(6*7)\n", capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "42\n")


def test_orphan_storm_under_a_pids_limit(image, containers):
    # qemu-user runs a second thread in every process it emulates, and the pids limit counts threads.
    limit = 128 if image.emulated else 64
    status, output = finish(containers(image.tag, ["sh", "-c", BOUNDED_STORM], pids_limit=limit))
    assert (status, output.strip()) == (0, "storm survived")


def test_control_orphan_storm_under_a_non_reaping_pid1_hits_the_pids_limit(image, containers):
    status, output = finish(containers(image.base.id, [*APP_AS_PID1, "sh", "-c", BOUNDED_STORM], pids_limit=64))
    assert status != 0
    assert "storm survived" not in output


def test_docker_stop_is_fast(image, containers):
    seconds, status = stop_seconds(containers(image.tag, SLEEPER), timeout=10)
    assert seconds < 2
    assert status == 143


def test_control_docker_stop_of_the_bare_base_waits_for_the_timeout(image, containers):
    seconds, status = stop_seconds(containers(image.base.id, SLEEPER), timeout=3)
    assert seconds >= 3
    assert status == 137


def test_orphans_of_docker_exec_are_reaped(image, containers):
    # Under emulation on a loaded machine, the last orphans may still be dying after 1 s.
    assert exec_orphans(containers(image.tag, ["sleep", "60"]), patience=30 if image.emulated else 1) == 0


def test_control_orphans_of_docker_exec_stay_zombies_under_a_non_reaping_pid1(image, containers):
    assert exec_orphans(containers(image.base.id, SLEEPER)) >= 150


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("exit 0", 0),
        ("exit 1", 1),
        ("exit 42", 42),
        ("exit 255", 255),
        ("kill -KILL $$", 137),
        ("kill -TERM $$", 143),
    ],
)
def test_exit_codes_pass_through(image, containers, command, status):
    assert finish(containers(image.tag, ["sh", "-c", command]))[0] == status


def test_a_missing_command_exits_127(image, containers):
    status, output = finish(containers(image.tag, ["no-such-command"]))
    assert (status, output) == (127, "reaper: no-such-command: No such file or directory\n")


def test_a_hardened_container_reaps_and_passes_exit_codes(image, containers):
    script = orphan_storm(300) + "exit 42"
    status, output = finish(containers(image.tag, ["sh", "-c", script], **HARDENED))
    assert status == 42, output
    assert zombies_reported(output) == 0


def test_under_docker_init_the_reaper_is_a_subreaper(image, containers):
    status, output = finish(containers(image.tag, ["sh", "-c", ADOPTION + orphan_storm(300)], init=True))
    assert status == 0, output
    adopter, reaper = adopter_and_reaper(output)
    assert adopter == reaper != "1"
    assert zombies_reported(output) == 0


def test_docker_run_it_bash_has_job_control(image):
    assert_job_control(
        ["docker", "run", "-it", "--rm", "-e", f"PS1={PROMPT}", image.tag, "bash", "--norc", "--noprofile", "-i"]
    )


WRITER = """
setsid sh -c 'trap "sleep 0.5; echo flushed > /data/out; exit 0" TERM; while :; do sleep 0.1; done' &
exec python3 -c 'import time; time.sleep(1000)'
"""


def test_a_background_writer_flushes_on_docker_stop(image, containers, tmp_path):
    container = containers(image.tag, ["sh", "-c", WRITER], volumes={str(tmp_path): {"bind": "/data", "mode": "rw"}})
    seconds, status = stop_seconds(container, timeout=10)
    assert (tmp_path / "out").read_text() == "flushed\n"
    assert status == 143
    assert seconds < 5


def test_the_image_adds_at_most_64_kib_to_its_base(image):
    assert image.built.attrs["Size"] - image.base.attrs["Size"] <= 64 * 1024


def test_the_reaper_writes_nothing(image, containers):
    assert finish(containers(image.tag, ["true"], read_only=True))[0] == 0
    container = containers(image.tag, ["true"])
    finish(container)
    assert container.diff() is None or not any("python-reaper" in change["Path"] for change in container.diff())


ENTERED = (
    "trap 'sleep 0.5; echo flushed > /data/flushed; exit 0' TERM; touch /data/entered; while :; do sleep 0.1; done"
)


def test_a_process_started_with_docker_exec_gets_sigterm_and_flushes_when_the_command_exits(
    image, containers, tmp_path
):
    command = ["sh", "-c", "while [ ! -e /data/go ]; do sleep 0.05; done; exit 3"]
    container = containers(image.tag, command, volumes={str(tmp_path): {"bind": "/data", "mode": "rw"}})
    container.exec_run(["sh", "-c", ENTERED], detach=True)  # its parent is the runtime, outside the container
    wait_for(lambda: (tmp_path / "entered").exists(), what="the docker exec process")
    (tmp_path / "go").touch()
    assert container.wait(timeout=30)["StatusCode"] == 3
    assert (tmp_path / "flushed").read_text() == "flushed\n"


def test_images_are_built_by_bake_here_and_by_the_classic_builder_under_emulation(image, docker_client):
    """bake.build goes through `docker buildx bake --load` (BuildKit marks each step it builds) on this
    machine's platform; for another platform, through the engine's classic builder (bake._build_classic)."""
    comments = {step["Comment"] for step in docker_client.api.history(image.tag)}
    assert ("buildkit.dockerfile.v0" in comments) == (not image.emulated)
