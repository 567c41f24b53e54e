"""How PID 1 is entered: an ENTRYPOINT that pip cannot touch."""

import docker
import pytest

from conftest import ENTRYPOINT
from test_image import finish

WHEEL_DIR = "/tmp/wheels"
PIP = {
    "installed": ["pip install -q --no-index {wheel}"],
    "reinstalled": ["pip install -q --no-index {wheel}", "pip install -q --no-index --force-reinstall {wheel}"],
    "uninstalled": ["pip install -q --no-index {wheel}", "pip uninstall -q -y python-reaper"],
}
"""What a downstream Dockerfile does with the library's wheel, by case."""

SHOW_PID1 = ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; exit 3"]
"""A command that prints PID 1's command line and exits 3."""


def downstream(docker_client, tmp_path, image, lines, files=()):
    """Build an image ``FROM image`` with the Dockerfile ``lines`` after it, ``files`` in its context."""
    for file in files:
        (tmp_path / file.name).write_bytes(file.read_bytes())
    (tmp_path / "Dockerfile").write_text("\n".join([f"FROM {image}", *lines]) + "\n")
    try:
        return docker_client.images.build(path=str(tmp_path), rm=True, forcerm=True)[0]
    except docker.errors.BuildError as error:
        pytest.fail(f"the downstream image is not built: {error}", pytrace=False)


def require_pip(docker_client, image):
    """Fail with one line when the image has no working pip: no downstream build can install anything."""
    try:
        docker_client.containers.run(image, ["python3", "-m", "pip", "--version"], remove=True)
    except docker.errors.ContainerError as error:
        pytest.fail(f"the image has no pip ({error.stderr.decode().strip()[-120:]})", pytrace=False)


@pytest.fixture
def hijacker(tmp_path):
    """A directory holding an application package named ``reaper`` that exits 1 when imported."""
    package = tmp_path / "app" / "reaper"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise SystemExit('hijacked: the application package was imported')\n")
    return package.parent


@pytest.mark.parametrize("case", [*PIP, "untouched"])
def test_pip_and_an_application_package_named_reaper_change_nothing_about_pid1(
    image, docker_client, containers, dist, hijacker, tmp_path, case
):
    expected = finish(containers(image.tag, SHOW_PID1))
    if case != "untouched":
        require_pip(docker_client, image.tag)
    wheel = f"{WHEEL_DIR}/{dist[0].name}"
    lines = [f"COPY {dist[0].name} {WHEEL_DIR}/", *(f"RUN {line.format(wheel=wheel)}" for line in PIP.get(case, []))]
    built = downstream(docker_client, tmp_path, image.tag, lines, files=[dist[0]])
    app = {"volumes": {str(hijacker): {"bind": "/app", "mode": "ro"}}, "working_dir": "/app"}
    assert finish(containers(built.id, SHOW_PID1, environment={"PYTHONPATH": "/app"}, **app)) == expected
    assert expected[0] == 3
    assert expected[1].split()[:3] == ENTRYPOINT
