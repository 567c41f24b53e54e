"""The image under Podman, as root and rootless: the image's promises hold on another engine.

Each test runs on Podman as root and as an ordinary user with subordinate ids (``podman``), on
FULL_TARGETS; those marked every_target (a smoke test) on every tested target of this machine's platform too.
"""

import pwd
from pathlib import Path

import pytest

from engines import ROOTLESS_PODMAN, ROOTLESS_USER
from support import IMAGE_ENTRYPOINT, PROMPT, assert_job_control
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
    zombies_reported,
)

FULL_TARGETS = ["py313-trixie"]
"""The targets every test here runs on: each Podman run costs a second or two more than Docker's."""
ORPHANS = 500


@pytest.mark.every_target
def test_an_orphan_storm_is_reaped(podman, podman_image, podman_containers):
    container = podman_containers(podman, podman_image, ["sh", "-c", orphan_storm(ORPHANS)])
    status, output = finish(container)
    assert status == 0, output
    assert zombies_reported(output) == 0


def test_control_an_orphan_storm_under_a_non_reaping_pid1_leaves_every_zombie(podman, podman_base, podman_containers):
    container = podman_containers(podman, podman_base, [*APP_AS_PID1, "sh", "-c", orphan_storm(ORPHANS)])
    status, output = finish(container)
    assert status == 0, output
    assert zombies_reported(output) == ORPHANS


def stop_and_exit_seconds(container, timeout):
    """Stop the container as ``stop_seconds`` does; return (seconds the stop command took, seconds
    until PID 1 exited, as the engine recorded it, exit status)."""
    seconds, status = stop_seconds(container, timeout)
    return seconds, container.finished_at().timestamp() - container.stop_sent, status


@pytest.mark.every_target
def test_podman_stop_is_fast_and_passes_the_status(podman, podman_image, podman_containers):
    seconds, exited, status = stop_and_exit_seconds(podman_containers(podman, podman_image, SLEEPER), timeout=10)
    assert status == 143
    assert exited < 2, f"PID 1 exited {exited:.2f} s after the stop"
    assert seconds < 5, f"podman stop took {seconds:.2f} s"


def test_control_podman_stop_of_the_bare_base_waits_for_the_timeout(podman, podman_base, podman_containers):
    seconds, exited, status = stop_and_exit_seconds(podman_containers(podman, podman_base, SLEEPER), timeout=3)
    assert status == 137
    assert exited >= 3
    assert seconds >= 3


def test_orphans_of_podman_exec_are_reaped(podman, podman_image, podman_containers):
    assert exec_orphans(podman_containers(podman, podman_image, ["sleep", "60"])) == 0


def test_control_orphans_of_podman_exec_stay_zombies_under_a_non_reaping_pid1(podman, podman_base, podman_containers):
    assert exec_orphans(podman_containers(podman, podman_base, SLEEPER)) >= 150


@pytest.mark.parametrize(
    ("command", "status"),
    [("exit 0", 0), ("exit 42", 42), ("exit 255", 255), ("kill -KILL $$", 137), ("kill -TERM $$", 143)],
)
def test_exit_codes_pass_through(podman, podman_image, podman_containers, command, status):
    assert finish(podman_containers(podman, podman_image, ["sh", "-c", command]))[0] == status


def test_a_missing_command_exits_127(podman, podman_image, podman_containers):
    status, output = finish(podman_containers(podman, podman_image, ["no-such-command"]))
    assert (status, output) == (127, "reaper: no-such-command: No such file or directory\n")


def test_podman_run_it_bash_has_job_control(podman, podman_image):
    command = ["run", "-it", "--rm", *podman.run_options, "-e", f"PS1={PROMPT}", podman_image]
    assert_job_control([*podman.argv, *command, "bash", "--norc", "--noprofile", "-i"])


def test_a_hardened_container_reaps_and_passes_exit_codes(podman, podman_image, podman_containers):
    # Rootless Podman on cgroup v1 ignores the pids limit, with a warning: it has no cgroup of its own.
    script = orphan_storm(300) + "exit 42"
    status, output = finish(podman_containers(podman, podman_image, ["sh", "-c", script], **HARDENED))
    assert status == 42, output
    assert zombies_reported(output) == 0


def test_under_podman_init_the_reaper_is_a_subreaper(podman, podman_image, podman_containers):
    # Podman mounts its init, catatonit, as /run/podman-init; catatonit says "tini version 0.1.7_catatonit".
    command = [
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0\\n' '  '; echo; /run/podman-init --version; " + ADOPTION + orphan_storm(300),
    ]
    status, output = finish(podman_containers(podman, podman_image, command, init=True))
    assert status == 0, output
    pid1, version, output = output.split("\n", 2)
    assert pid1.startswith(f"/run/podman-init -- {' '.join(IMAGE_ENTRYPOINT)} ")
    assert version.endswith("_catatonit")
    adopter, reaper = adopter_and_reaper(output)
    assert adopter == reaper != "1"
    assert zombies_reported(output) == 0


def test_sleep_infinity_then_podman_exec_reaps_and_stops_fast(podman, podman_image, podman_containers):
    container = podman_containers(podman, podman_image, ["sleep", "infinity"])
    assert exec_orphans(container) == 0
    seconds, exited, status = stop_and_exit_seconds(container, timeout=10)
    assert status == 143
    assert exited < 2, f"PID 1 exited {exited:.2f} s after the stop"
    assert seconds < 5, f"podman stop took {seconds:.2f} s"


def test_control_sleep_infinity_of_the_real_sleep_keeps_the_zombies_and_waits_for_the_timeout(
    podman, podman_image, podman_containers
):
    container = podman_containers(podman, podman_image, ["infinity"], entrypoint="/bin/sleep")
    assert exec_orphans(container) >= 150
    seconds, exited, status = stop_and_exit_seconds(container, timeout=3)
    assert (status, exited >= 3, seconds >= 3) == (137, True, True)


def test_rootless_containers_run_as_the_ordinary_user(podman_host, image, loaded, podman_containers):
    """Rootless is what it says: the container's root is the ordinary user on the host."""
    container = podman_containers(ROOTLESS_PODMAN, loaded(ROOTLESS_PODMAN, image.built), ["sleep", "60"])
    pid = int(ROOTLESS_PODMAN("inspect", "--format", "{{.State.Pid}}", container.id))
    uids = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
    assert uids.split()[1:] == [str(pwd.getpwnam(ROOTLESS_USER).pw_uid)] * 4
