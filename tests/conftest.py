"""Fixtures: the Docker engine, Podman, and the images under test built from the working tree."""

import subprocess
import sys
from pathlib import Path

import pytest

from support import IMAGE_LAUNCHER, RELEASE_IMAGES, ROOT

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
        targets = given or _tested_targets()
        # A module may run its tests on FULL_TARGETS only, and those marked every_target on every target
        # of this machine's platform (a smoke test; the emulated one costs minutes a test).
        full = getattr(metafunc.module, "FULL_TARGETS", None)
        if full and not given:
            smoke = metafunc.definition.get_closest_marker("every_target")
            targets = [target for target in targets if target in full or (smoke and "@" not in target)]
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
    if any("release_images" in item.fixturenames for item in request.session.items):
        params.update(RELEASE_IMAGES)
    jobs = sorted(job for job in map(_target_and_platform, filter(None, params)) if job[0] in bake_targets)
    chosen = offline.choose_bases(docker_client, [(bake_targets[name], platform) for name, platform in jobs])
    return dict(zip(jobs, chosen, strict=True))


@pytest.fixture(scope="session")
def image(request, docker_client, bases, bake_targets):
    """An image under test: a bake target built from the working tree, or one given with --image.
    A target whose base cannot be had here fails its tests with one line saying why."""
    import docker

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
    return _build(docker_client, bases, bake_targets, request.param)


@pytest.fixture(scope="session")
def release_images(docker_client, bases, bake_targets):
    """``{platform: image}``: RELEASE_TARGET built for every platform of a release, from the working tree."""
    return {param.partition("@")[2]: _build(docker_client, bases, bake_targets, param) for param in RELEASE_IMAGES}


def _build(docker_client, bases, bake_targets, param):
    """Build the image of ``param`` (``py313-trixie``, ``py313-trixie@linux/arm64``) on its base."""
    import bake

    name, platform = _target_and_platform(param)
    chosen = bases[name, platform].result()
    if isinstance(chosen, bake.BuildError):
        pytest.fail(f"{param}: not built: {chosen}", pytrace=False)
    tag = f"python-reaper-test:{param.replace('@linux/', '-')}"
    try:
        built = bake.build(docker_client, bake_targets[name], chosen[0], tags=[tag], platform=platform)
    except bake.BuildError as error:
        pytest.fail(f"{param}: not built: {error}", pytrace=False)
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


def _starting(run, ready):
    """Yield a function that starts a container with ``run``, waits until ``ready(container)`` returns
    and hands it back; remove every container it started when resumed."""
    started = []

    def start(*arguments, **options):
        container = run(*arguments, **options)
        started.append(container)
        ready(container)
        return container

    yield start
    for container in started:
        container.remove(force=True)


@pytest.fixture
def containers(docker_client):
    """Start containers with ``containers(image, command, **run_options)``; all are removed afterwards."""

    def run(image, command=None, **options):
        return docker_client.containers.run(image, command, detach=True, **options)

    yield from _starting(run, _wait_for_the_reapers_child)


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
        pid1 = next((process for process in processes if IMAGE_LAUNCHER in process[2]), None)
        return pid1 is None or any(process[1] == pid1[0] for process in processes)

    workloads.wait_for(ready, timeout, "the reaper's command to start")


@pytest.fixture(scope="session")
def podman_host():
    """Podman ready to run containers as root and rootless (``image/ensure-podman.sh``): a failure, with
    one line, when it cannot be made ready."""
    import engines

    script = ROOT / "image" / "ensure-podman.sh"
    done = subprocess.run(["sh", str(script), engines.ROOTLESS_USER], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        pytest.fail(f"Podman is not ready: {reason} (`make engine` installs it)", pytrace=False)


@pytest.fixture(scope="session", params=["podman", "rootless podman"], ids=["rootful", "rootless"])
def podman(request, podman_host):
    """Podman as root, and rootless as an ordinary user with subordinate ids."""
    import engines

    return {"podman": engines.PODMAN, "rootless podman": engines.ROOTLESS_PODMAN}[request.param]


@pytest.fixture(scope="session")
def loaded():
    """``loaded(engine, docker_image)``: the id of the Docker engine's image in ``engine``, copied
    there the first time (a failure with one line when it cannot be)."""
    import engines

    def load(engine, docker_image):
        image_id = docker_image.id.removeprefix("sha256:")
        try:
            engine("image", "exists", image_id)
        except engines.EngineError:
            try:
                engine.load_from_docker(image_id)
            except engines.EngineError as error:
                pytest.fail(f"{docker_image.tags or image_id} cannot be loaded into {engine}: {error}", pytrace=False)
        return image_id

    return load


@pytest.fixture
def podman_image(podman, image, loaded):
    """The image under test, in Podman."""
    return loaded(podman, image.built)


@pytest.fixture
def podman_base(podman, image, loaded):
    """The bare base of the image under test, in Podman: the control."""
    return loaded(podman, image.base)


@pytest.fixture
def podman_containers():
    """Start containers with ``podman_containers(engine, image, command, **run_options)`` (the Docker SDK's
    options, see engines.run_flags); all are removed afterwards."""

    def run(engine, image, command=None, **options):
        return engine.run(image, command, **options)

    yield from _starting(run, _wait_for_a_child_of_pid1)


def _wait_for_a_child_of_pid1(container, timeout=120):
    """Return once a reaper as PID 1 has spawned its command (so it handles signals), or PID 1 is
    something else, or the container has exited: as ``_wait_for_the_reapers_child``, seen from the host."""
    import workloads

    def ready():
        pid = int(container.engine("inspect", "--format", "{{.State.Pid}}", container.id))
        try:
            return (
                pid == 0
                or IMAGE_LAUNCHER.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
                or workloads.children(pid)
            )
        except FileNotFoundError:  # exited meanwhile
            return True

    workloads.wait_for(ready, timeout, "the reaper's command to start")
