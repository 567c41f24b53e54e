"""The release path up to the push, against a real registry on loopback: one multi-platform tag,
pulled by name and by digest with Docker and with Podman, and a downstream build FROM it.

The registry is Debian's docker-registry (the CNCF distribution registry), started here on a free
port with its storage in a temporary directory.  The images are RELEASE_TARGET built for linux/amd64
and linux/arm64 (under emulation) from the working tree; Podman puts them in one OCI index.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import urllib.request

import pytest

import bake
from engines import PODMAN, EngineError
from support import IMAGE_ENTRYPOINT, RELEASE_TARGET, without_emulator
from workloads import wait_for

pytestmark = pytest.mark.timeout(1800)  # the arm64 image and its pulls run under emulation

PLATFORMS = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
"""The platforms of a release, and what ``uname -m`` says in each."""
PID1_AND_MACHINE = ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; uname -m"]
ENGINES = ["docker", "podman"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """``localhost:PORT`` of a docker-registry started on a free loopback port, stopped afterwards."""
    command = shutil.which("docker-registry")
    if command is None:
        pytest.fail("no docker-registry command: `make engine` installs Debian's docker-registry", pytrace=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    directory = tmp_path_factory.mktemp("registry")
    config = directory / "config.yml"
    storage = {"filesystem": {"rootdirectory": str(directory / "storage")}, "delete": {"enabled": True}}
    config.write_text(json.dumps({"version": 0.1, "storage": storage, "http": {"addr": f"127.0.0.1:{port}"}}))
    log = (directory / "log").open("w")
    server = subprocess.Popen([command, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)

    def answers():
        if server.poll() is not None:
            last = (directory / "log").read_text().strip().splitlines() or [f"exit status {server.returncode}"]
            pytest.fail(f"docker-registry did not start: {last[-1]}", pytrace=False)
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=5).status == 200
        except OSError:
            return False

    wait_for(answers, 60, "docker-registry to answer")
    yield f"localhost:{port}"
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def pushed(registry, release_images, podman_host):
    """The tags bake computes for RELEASE_TARGET with ``REGISTRY=localhost:PORT``, each pushed as one OCI
    index of the release's platforms; return ``(tags, index digest)``."""
    tags = bake.bake_targets(environ={**os.environ, "REGISTRY": registry})[RELEASE_TARGET]["tags"]
    ids = [PODMAN.load_from_docker(image.built.id) for image in release_images.values()]
    index = f"python-reaper-test-index:{ids[0][:12]}"
    try:
        PODMAN("manifest", "rm", index)
    except EngineError:  # none left by an earlier run
        pass
    PODMAN("manifest", "create", index)
    for image_id in ids:
        PODMAN("manifest", "add", index, f"containers-storage:{image_id}")
    for tag in tags:
        PODMAN("manifest", "push", "--all", "--format", "oci", "--tls-verify=false", index, f"docker://{tag}")
    PODMAN("manifest", "rm", index)
    digest = "sha256:" + hashlib.sha256(skopeo("inspect", "--raw", f"docker://{tags[0]}")).hexdigest()
    yield tags, digest
    for engine in ENGINES:  # what the tests pulled and built from the registry
        listed = subprocess.run(
            [engine, "images", "-q", "--filter", f"reference={registry}/*"], capture_output=True, text=True
        )
        subprocess.run([engine, "rmi", "-f", *set(listed.stdout.split())], capture_output=True, check=False)


def skopeo(*arguments):
    """skopeo's output for ``arguments``, against the plain-HTTP registry on loopback."""
    return subprocess.run(
        ["skopeo", arguments[0], "--tls-verify=false", *arguments[1:]], capture_output=True, check=True, timeout=300
    ).stdout


def test_each_tag_is_one_index_of_both_platforms(pushed):
    tags, digest = pushed
    assert {tag.rsplit(":", 1)[1] for tag in tags} == {"3.13", "3.13-trixie"}
    for tag in tags:
        raw = skopeo("inspect", "--raw", f"docker://{tag}")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
        index = json.loads(raw)
        assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
        platforms = {f"{entry['platform']['os']}/{entry['platform']['architecture']}" for entry in index["manifests"]}
        assert platforms == set(PLATFORMS)


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_each_platform_carries_the_oci_labels(pushed, platform):
    tags, _ = pushed
    arch = platform.split("/")[1]
    config = json.loads(skopeo("inspect", "--override-arch", arch, f"docker://{tags[0]}"))
    assert config["Architecture"] == arch
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "python-reaper"
    for name in ("source", "licenses", "version", "revision", "created", "base.name"):
        assert labels.get(f"org.opencontainers.image.{name}"), name


def pulled_and_run(engine, reference, platform):
    """Pull ``reference`` for ``platform`` with ``engine`` (``docker`` or ``podman``) and run it:
    PID 1's command line and ``uname -m``."""
    insecure = ["--tls-verify=false"] if engine == "podman" else []
    # A fresh pull: Docker 20.10 keeps one image per reference and would refuse another platform's.
    subprocess.run([engine, "rmi", reference], capture_output=True, check=False)
    pull = [engine, "pull", "-q", *insecure, "--platform", platform, reference]
    run = [engine, "run", "--rm", "--platform", platform, reference, *PID1_AND_MACHINE]
    for command in (pull, run):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, f"{' '.join(command[:2])}: {done.stderr.strip()}"
    return done.stdout.splitlines()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("platform", list(PLATFORMS))
@pytest.mark.parametrize("by", ["name", "digest"])
def test_pulled_by_name_and_by_digest_it_runs_the_reaper_on_each_platform(pushed, engine, platform, by):
    tags, digest = pushed
    reference = tags[0] if by == "name" else f"{tags[0].rsplit(':', 1)[0]}@{digest}"
    pid1, machine = pulled_and_run(engine, reference, platform)
    assert without_emulator(pid1.split(), platform != bake.native_platform())[:3] == IMAGE_ENTRYPOINT
    assert machine == PLATFORMS[platform]


DOWNSTREAM = """\
FROM {base}
COPY app.py /app.py
CMD ["python3", "/app.py"]
"""
APP = 'import sys\nprint(open("/proc/1/cmdline").read().split("\\0")[:3])\nsys.exit(7)\n'


@pytest.mark.parametrize("engine", ENGINES)
def test_a_downstream_image_from_the_tag_builds_and_runs_with_the_reaper_as_pid1(pushed, engine, tmp_path):
    tags, _ = pushed
    (tmp_path / "Dockerfile").write_text(DOWNSTREAM.format(base=tags[0]))
    (tmp_path / "app.py").write_text(APP)
    tag = f"{tags[0].rsplit(':', 1)[0]}-downstream:{engine}"
    insecure = ["--tls-verify=false"] if engine == "podman" else []
    # --pull: this machine's platform, whichever one a pull test left under the tag
    built = subprocess.run(
        [engine, "build", "-q", "--pull", *insecure, "-t", tag, str(tmp_path)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([engine, "run", "--rm", tag], capture_output=True, text=True, timeout=300)
    assert (ran.returncode, ran.stdout) == (7, f"{IMAGE_ENTRYPOINT}\n")
