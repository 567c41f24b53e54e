"""Podman, as root and rootless, driven through its command line as the Docker SDK drives Docker.

An engine's containers answer the calls that the tests and ``workloads`` make
on the Docker SDK's (``stop``, ``wait``, ``logs``, ``exec_run``, ``remove``),
so one helper serves every engine.  Images come from the Docker engine, where
``image/build.py`` builds them (``load_from_docker``).
"""

import subprocess
import time
from datetime import datetime
from typing import NamedTuple

ROOTLESS_USER = "python-reaper-rootless"
"""The ordinary user, with subordinate ids, that rootless Podman runs as (``image/ensure-podman.sh`` makes it)."""


class EngineError(Exception):
    """An engine command that failed, with the engine's last line."""


class ExecResult(NamedTuple):
    """What ``exec_run`` returns, as the Docker SDK's ``ExecResult``."""

    exit_code: int | None
    output: bytes


class Engine:
    """A container engine's command line: ``argv`` (``podman``, or ``runuser -u USER -- podman``),
    the options every ``run`` gets, and the ordinary ``user`` it runs as (None: root)."""

    def __init__(self, name, argv, run_options=(), user=None):
        self.name = name
        self.argv = list(argv)
        self.run_options = list(run_options)
        self.user = user

    def __repr__(self):
        return self.name

    def __call__(self, *arguments, timeout=300, **options):
        """Run the engine with ``arguments`` (from ``/``, which every user may enter) and return its
        stdout as bytes; EngineError with its last line of stderr when it fails."""
        options.setdefault("stdout", subprocess.PIPE)
        options.setdefault("stderr", subprocess.PIPE)
        done = subprocess.run([*self.argv, *arguments], cwd="/", timeout=timeout, check=False, **options)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            lines = said or [f"exit status {done.returncode}"]
            raise EngineError(f"{self.name} {arguments[0]}: {lines[-1]}")
        return done.stdout

    def load_from_docker(self, image_id):
        """Copy the Docker engine's image ``image_id`` into this engine (``docker save | podman load``);
        return its id here, which is Docker's (both are the digest of the image's configuration)."""
        with subprocess.Popen(["docker", "save", image_id], stdout=subprocess.PIPE) as save:
            self("load", "-q", stdin=save.stdout)
        if save.returncode != 0:
            raise EngineError(f"docker save {image_id} failed with status {save.returncode}")
        return image_id.removeprefix("sha256:")

    def run(self, image, command=None, **options):
        """Start a detached container of ``image`` running ``command``, with the Docker SDK's
        ``containers.run`` options that ``run_flags`` knows; return it."""
        arguments = ["run", "-d", *self.run_options, *run_flags(**options), image, *(command or [])]
        return Container(self, self(*arguments).decode().strip())


def run_flags(
    user=None,
    read_only=False,
    cap_drop=(),
    security_opt=(),
    pids_limit=None,
    init=False,
    volumes=None,
    environment=None,
    entrypoint=None,
):
    """The ``run`` command-line flags for these options of the Docker SDK's ``containers.run``."""
    flags = ["--user", user] if user else []
    flags += ["--read-only"] if read_only else []
    flags += [f"--cap-drop={capability}" for capability in cap_drop]
    flags += [f"--security-opt={option}" for option in security_opt]
    flags += [f"--pids-limit={pids_limit}"] if pids_limit else []
    flags += ["--init"] if init else []
    for source, mount in (volumes or {}).items():
        flags += ["--volume", f"{source}:{mount['bind']}:{mount.get('mode', 'rw')}"]
    for name, value in (environment or {}).items():
        flags += ["--env", f"{name}={value}"]
    flags += ["--entrypoint", entrypoint] if entrypoint else []
    return flags


class Container:
    """A container of an Engine, with the Docker SDK's container calls that the tests use."""

    def __init__(self, engine, container_id):
        self.engine = engine
        self.id = container_id
        self.stop_sent = None
        """When ``stop`` was called, in seconds since the epoch (the clock of ``finished_at``)."""

    def stop(self, timeout=10):
        self.stop_sent = time.time()
        self.engine("stop", "-t", str(timeout), self.id, timeout=timeout + 120)

    def wait(self, timeout=None):
        """Wait for the container to exit; ``{"StatusCode": its exit status}`` as the Docker SDK returns."""
        return {"StatusCode": int(self.engine("wait", self.id, timeout=timeout))}

    def finished_at(self):
        """When the container's PID 1 exited, as the engine recorded it."""
        stamp = self.engine("inspect", "--format", "{{.State.FinishedAt}}", self.id).decode().strip()
        seconds, _, rest = stamp.partition(".")  # Go's nanoseconds, where Python reads microseconds
        fraction, _, zone = rest.partition(" ")
        return datetime.strptime(f"{seconds}.{fraction[:6]} {zone[:5]}", "%Y-%m-%d %H:%M:%S.%f %z")

    def logs(self):
        """The container's stdout and stderr, in one stream."""
        return self.engine("logs", self.id, stderr=subprocess.STDOUT)

    def exec_run(self, command, detach=False):
        flags = ["-d"] if detach else []
        done = subprocess.run(
            [*self.engine.argv, "exec", *flags, self.id, *command], cwd="/", capture_output=True, check=False
        )
        return ExecResult(None if detach else done.returncode, done.stdout)

    def remove(self, force=False):
        """Remove the container; ``force``: a running one is killed at once, with no stop timeout."""
        self.engine("rm", *(["--force", "--time=0"] if force else []), self.id)


PODMAN = Engine("podman", ["podman"])
ROOTLESS_PODMAN = Engine(
    "rootless podman",
    ["runuser", "-u", ROOTLESS_USER, "--", "podman"],
    # slirp4netns, rootless Podman's network, needs /dev/net/tun, which only root may open here.
    run_options=["--network", "none"],
    user=ROOTLESS_USER,
)
