"""Fixtures: the Docker engine, and the images under test built from the working tree."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "image")]  # the helpers, and the build and workloads modules

TESTED_TARGETS = [
    "py311-bookworm",
    "py312-bookworm",
    "py313-trixie",
    "py314-trixie",
    "py315-trixie",
]
"""The bake targets built and tested here, one per Python, each on an offline base when no registry
answers (build.OFFLINE_BASES), on this machine's platform or, after an @, another one under emulation."""


def pytest_addoption(parser):
    parser.addoption("--image", action="append", default=[], help="test this already built image instead of building")


def pytest_generate_tests(metafunc):
    if "image" in metafunc.fixturenames:
        given = metafunc.config.getoption("--image")
        metafunc.parametrize("image", given or TESTED_TARGETS, indirect=True, scope="session")


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
    """``{(target, platform): (base, kind) or BuildError}`` for every target the session's tests use,
    chosen at once, so that the offline bases missing from the engine are made in parallel."""
    import build

    targets = build.bake_targets()
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
    chosen = bases[name, platform]
    if isinstance(chosen, build.BuildError):
        pytest.fail(f"{request.param}: not built: {chosen}", pytrace=False)
    tag = f"python-reaper-test:{request.param.replace('@linux/', '-')}"
    built = build.build(docker_client, build.bake_targets()[name], chosen[0], tags=[tag], platform=platform)
    return _Image(built, base=docker_client.images.get(chosen[0]))


class _Image:
    """A built image and the base image it was built on."""

    def __init__(self, built, base):
        self.built = built
        self.base = base
        # The id, not a tag: several checkouts on one engine rebuild the same tags.
        self.tag = built.id


@pytest.fixture
def containers(docker_client):
    """Start containers with ``containers(image, command, **run_options)``; all are removed afterwards."""
    started = []

    def start(image, command=None, **options):
        container = docker_client.containers.run(image, command, detach=True, **options)
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove(force=True)
