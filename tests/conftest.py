"""Fixtures: the Docker engine, and the images under test built from the working tree."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "image")]  # the helpers, and the build and workloads modules

LAUNCHER = "/usr/local/lib/python-reaper/pid1"
ENTRYPOINT = ["python3", "-ISB", LAUNCHER]
"""The image's ENTRYPOINT: the base's interpreter, found on PATH, runs the launcher that no package installs to."""

TESTED_TARGETS = [
    "py311-bookworm",
    "py312-bookworm",
    "py313-trixie",
    "py314-trixie",
    "py315-trixie",
    "py313-trixie@linux/arm64",
]
"""The bake targets built and tested here, one per Python, each on an offline base when no registry
answers (build.OFFLINE_BASES), on this machine's platform or, after an @, another one under emulation."""


def pytest_addoption(parser):
    parser.addoption("--image", action="append", default=[], help="test this already built image instead of building")


def pytest_generate_tests(metafunc):
    if "image" in metafunc.fixturenames:
        given = metafunc.config.getoption("--image")
        metafunc.parametrize("image", given or TESTED_TARGETS, indirect=True, scope="session")


EMULATION_LIMITS = {
    "test_under_docker_init_the_reaper_is_a_subreaper": "qemu-user 7.2 refuses PR_SET_CHILD_SUBREAPER (EINVAL): "
    "the reaper says so on stderr and orphans go to PID 1",
    "test_a_step_shell_behind_reaper_reaps_its_orphans_where_pid1_does_not": "qemu-user 7.2 refuses "
    "PR_SET_CHILD_SUBREAPER (EINVAL): the step's orphans go to PID 1, the runner's tail",
}
"""Image tests that fail under qemu-user for qemu's reasons (a strict xfail: one that passes fails the run)."""


def pytest_collection_modifyitems(items):
    for item in items:
        param = getattr(item, "callspec", None) and item.callspec.params.get("image", "")
        if param and "@" in param:  # another platform, under emulation: every step takes 10 to 50 times longer
            item.add_marker(pytest.mark.timeout(1200))
            if item.originalname in EMULATION_LIMITS:
                item.add_marker(pytest.mark.xfail(reason=EMULATION_LIMITS[item.originalname], strict=True))


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    """`python -m build`: the sdist, then the wheel built from that sdist (so the sdist is complete).
    With the test environment's setuptools (no isolation): no second download of the build backend."""
    import subprocess

    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


@pytest.fixture(scope="session")
def docker_client():
    """The Docker engine. A missing engine fails the image tests: it is never a skip."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as error:
        pytest.fail(f"no Docker engine answers ({error}); `make test` starts one", pytrace=False)
    return client


def _target_and_platform(param):
    """``("py313-trixie", "linux/arm64")`` for ``py313-trixie@linux/arm64``; this machine's platform without an @."""
    import build

    name, _, platform = param.partition("@")
    return name, platform or build.native_platform()


@pytest.fixture(scope="session")
def bases(request, docker_client):
    """``{(target, platform): future of (base, kind) or BuildError}`` for every target the session's
    tests use: the offline bases missing from the engine are made in parallel, in the background."""
    import build

    try:
        targets = build.bake_targets()
    except build.BuildError as error:
        pytest.fail(str(error), pytrace=False)
    params = {getattr(item, "callspec", None) and item.callspec.params.get("image") for item in request.session.items}
    jobs = sorted(job for job in map(_target_and_platform, filter(None, params)) if job[0] in targets)
    chosen = build.choose_bases(docker_client, [(targets[name], platform) for name, platform in jobs])
    return dict(zip(jobs, chosen, strict=True))


@pytest.fixture(scope="session")
def image(request, docker_client, bases):
    """An image under test: a bake target built from the working tree, or one given with --image.
    A target whose base cannot be had here fails its tests with one line saying why."""
    import docker

    import build

    name, platform = _target_and_platform(request.param)
    if (name, platform) not in bases:
        given = docker_client.images.get(request.param)
        base = given.labels["org.opencontainers.image.base.name"]
        try:
            return _Image(given, base=docker_client.images.get(base))
        except docker.errors.ImageNotFound:  # built by buildx, whose base is not in the engine's store
            return _Image(given, base=docker_client.images.pull(base))
    chosen = bases[name, platform].result()
    if isinstance(chosen, build.BuildError):
        pytest.fail(f"{request.param}: not built: {chosen}", pytrace=False)
    tag = f"python-reaper-test:{request.param.replace('@linux/', '-')}"
    try:
        built = build.build(docker_client, build.bake_targets()[name], chosen[0], tags=[tag], platform=platform)
    except build.BuildError as error:
        pytest.fail(f"{request.param}: not built: {error}", pytrace=False)
    return _Image(built, base=docker_client.images.get(chosen[0]))


class _Image:
    """A built image and the base image it was built on; ``emulated`` when it runs under qemu here."""

    def __init__(self, built, base):
        import build

        self.built = built
        self.base = base
        # The id, not a tag: several checkouts on one engine rebuild the same tags.
        self.tag = built.id
        self.emulated = f"linux/{built.attrs['Architecture']}" != build.native_platform()


@pytest.fixture
def containers(docker_client):
    """Start containers with ``containers(image, command, **run_options)``; all are removed afterwards."""
    started = []

    def start(image, command=None, **options):
        container = docker_client.containers.run(image, command, detach=True, **options)
        started.append(container)
        _wait_for_the_reapers_child(container)
        return container

    yield start
    for container in started:
        container.remove(force=True)


def _wait_for_the_reapers_child(container, timeout=120):
    """Return once a reaper as PID 1 has spawned its command (so it handles signals), or PID 1 is
    something else, or the container is gone: under emulation the reaper takes seconds to start."""
    import docker

    import workloads

    def ready():
        try:
            processes = container.top(ps_args="-o pid,ppid,args")["Processes"] or []  # None: exiting
        except docker.errors.APIError:  # not running any more
            return True
        pid1 = next((process for process in processes if LAUNCHER in process[2]), None)
        return pid1 is None or any(process[1] == pid1[0] for process in processes)

    workloads.wait_for(ready, timeout, "the reaper's command to start")
