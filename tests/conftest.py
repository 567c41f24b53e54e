"""Fixtures: the Docker engine, and the images under test built from the working tree."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "image")]  # the helpers, and the build and workloads modules

OFFLINE_TARGETS = ["py311-bookworm", "py313-trixie"]
"""The bake targets whose Python a Debian suite ships: buildable with no registry."""


def pytest_addoption(parser):
    parser.addoption("--image", action="append", default=[], help="test this already built image instead of building")


def pytest_generate_tests(metafunc):
    if "image" in metafunc.fixturenames:
        given = metafunc.config.getoption("--image")
        metafunc.parametrize("image", given or OFFLINE_TARGETS, indirect=True, scope="session")


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


@pytest.fixture(scope="session")
def image(request, docker_client):
    """An image under test: a bake target built from the working tree, or one given with --image."""
    import docker

    import build

    targets = build.bake_targets()
    if request.param not in targets:
        given = docker_client.images.get(request.param)
        base = given.labels["org.opencontainers.image.base.name"]
        try:
            return _Image(given, base=docker_client.images.get(base))
        except docker.errors.ImageNotFound:  # built by buildx, whose base is not in the engine's store
            return _Image(given, base=docker_client.images.pull(base))
    target = targets[request.param]
    base, _ = build.choose_base(docker_client, target)
    tag = f"python-reaper-test:{request.param}"
    return _Image(build.build(docker_client, target, base, tags=[tag]), base=docker_client.images.get(base))


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
