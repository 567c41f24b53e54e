"""Fixtures: the Docker engine, and the images under test built from the working tree."""

import pytest

from support import ROOT  # noqa: F401  (`from conftest import ROOT` in tests written before support had it)

EMULATED_SUITE = "trixie"
"""The suite whose Debian python3 is also built for arm64 and tested under emulation."""


def _tested_targets():
    """The bake targets built and tested here: one per Python, each on the suite its offline base serves
    (offline.OFFLINE_BASES), on this machine's platform; and, after an @, the target of EMULATED_SUITE's own
    python3 on another platform under emulation.  Named as bake names the matrix's targets; the image
    fixture fails a name bake does not have."""
    import offline

    names = {key: f"py{key[0].replace('.', '')}-{key[1]}" for key in offline.OFFLINE_BASES}
    emulated = [
        f"{names[key]}@linux/arm64"
        for key, recipe in offline.OFFLINE_BASES.items()
        if (recipe.suite, recipe.python) == (EMULATED_SUITE, "/usr/bin/python3")
    ]
    return [*names.values(), *emulated]


def pytest_addoption(parser):
    parser.addoption("--image", action="append", default=[], help="test this already built image instead of building")


def pytest_generate_tests(metafunc):
    if "image" in metafunc.fixturenames:
        given = metafunc.config.getoption("--image")
        chosen = metafunc.definition.get_closest_marker("targets")
        targets = given or (list(chosen.args) if chosen else _tested_targets())
        metafunc.parametrize("image", targets, indirect=True, scope="session")


EMULATION_LIMITS = {
    "test_under_docker_init_the_reaper_is_a_subreaper": "qemu-user 7.2 refuses PR_SET_CHILD_SUBREAPER (EINVAL): "
    "the reaper says so on stderr and orphans go to PID 1",
    "test_a_step_shell_behind_reaper_reaps_its_orphans_where_pid1_does_not": "qemu-user 7.2 refuses "
    "PR_SET_CHILD_SUBREAPER (EINVAL): the step's orphans go to PID 1, the runner's tail",
}
"""Image tests that fail under qemu-user for qemu's reasons (a strict xfail: one that passes fails the run)."""


TIERS = {"engine": {"docker_client", "bake_targets"}, "image": {"image"}}
"""The marker of a test that uses one of these fixtures, directly or through another fixture: ``engine``
when it needs Docker (its engine, or its buildx to evaluate the bake file), which `make check` leaves out;
``image`` (also ``engine``) when it runs against an image of the matrix, which ci.yml runs per image."""


def pytest_collection_modifyitems(items):
    for item in items:
        for marker, fixtures in TIERS.items():
            if fixtures & set(item.fixturenames):
                item.add_marker(marker)
        param = getattr(item, "callspec", None) and item.callspec.params.get("image", "")
        if param and "@" in param:  # another platform, under emulation: every step takes 10 to 50 times longer
            item.add_marker(pytest.mark.timeout(1200))
            if item.originalname in EMULATION_LIMITS:
                item.add_marker(pytest.mark.xfail(reason=EMULATION_LIMITS[item.originalname], strict=True))


@pytest.fixture(scope="session")
def docker_client():
    """The Docker engine. A missing engine fails the image tests: it is never a skip."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except docker.errors.DockerException as error:
        reason = f"no Docker engine answers ({error}); `make test` starts one"
    pytest.fail(reason, pytrace=False)  # outside the except: one line, not a chain of two


@pytest.fixture(scope="session")
def bake_targets():
    """``{name: target}`` as ``docker buildx bake --print`` evaluates docker-bake.hcl, once a session;
    where bake cannot run, the tests that use it fail with one line saying why."""
    import bake

    try:
        return bake.bake_targets()
    except bake.BuildError as error:
        reason = str(error)
    pytest.fail(reason, pytrace=False)


def _target_and_platform(param):
    """``("py313-trixie", "linux/arm64")`` for ``py313-trixie@linux/arm64``; this machine's platform without an @."""
    import bake

    name, _, platform = param.partition("@")
    return name, platform or bake.native_platform()


@pytest.fixture(scope="session")
def bases(request, docker_client, bake_targets):
    """``{(target, platform): future of (base, kind) or BuildError}`` for every target the session's
    tests use: the offline bases missing from the engine are made in parallel, in the background."""
    import offline

    params = {getattr(item, "callspec", None) and item.callspec.params.get("image") for item in request.session.items}
    jobs = sorted(job for job in map(_target_and_platform, filter(None, params)) if job[0] in bake_targets)
    chosen = offline.choose_bases(docker_client, [(bake_targets[name], platform) for name, platform in jobs])
    return dict(zip(jobs, chosen, strict=True))


@pytest.fixture(scope="session")
def image(request, docker_client, bases, bake_targets):
    """An image under test: a bake target built from the working tree, or one given with --image.
    A target whose base cannot be had here fails its tests with one line saying why."""
    import docker

    import bake

    name, platform = _target_and_platform(request.param)
    if not request.config.getoption("--image") and name not in bake_targets:
        pytest.fail(f"{request.param}: the bake file has no such target", pytrace=False)
    if (name, platform) not in bases:
        given = docker_client.images.get(request.param)
        base = given.labels["org.opencontainers.image.base.name"]
        try:
            return _Image(given, base=docker_client.images.get(base))
        except docker.errors.ImageNotFound:  # built by buildx, whose base is not in the engine's store
            return _Image(given, base=docker_client.images.pull(base))
    chosen = bases[name, platform].result()
    if isinstance(chosen, bake.BuildError):
        pytest.fail(f"{request.param}: not built: {chosen}", pytrace=False)
    tag = f"python-reaper-test:{request.param.replace('@linux/', '-')}"
    try:
        built = bake.build(docker_client, bake_targets[name], chosen[0], tags=[tag], platform=platform)
    except bake.BuildError as error:
        pytest.fail(f"{request.param}: not built: {error}", pytrace=False)
    return _Image(built, base=docker_client.images.get(chosen[0]))


class _Image:
    """A built image and the base image it was built on; ``emulated`` when it runs under qemu here."""

    def __init__(self, built, base):
        import bake

        self.built = built
        self.base = base
        # The id, not a tag: several checkouts on one engine rebuild the same tags.
        self.tag = built.id
        self.emulated = f"linux/{built.attrs['Architecture']}" != bake.native_platform()


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
        pid1 = next((process for process in processes if "/usr/local/bin/reaper" in process[2]), None)
        return pid1 is None or any(process[1] == pid1[0] for process in processes)

    workloads.wait_for(ready, timeout, "the reaper's command to start")
