"""A pod as Kubernetes runs one: the manifest of docs/platforms.md under ``podman kube play`` and ``kube down``.

The manifest is read from the Kubernetes section of docs/platforms.md; the test fills in the image, the
application (``args``, so the reaper stays the ENTRYPOINT) and a volume to watch it through.
"""

import os
import pwd
import re
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from engines import EngineError
from workloads import ZOMBIES_IN_NAMESPACE, wait_for, zombies_reported

ROOT = Path(__file__).resolve().parent.parent
FULL_TARGETS = ["py313-trixie"]
"""The targets the pod tests run on (each pod takes its stop delay to go down)."""

APP = r"""
setsid sh -c 'trap "sleep 0.5; echo flushed > /data/flushed; exit 0" TERM; touch /data/writer-ready; while :; do sleep 0.1; done' &
i=0; while [ $i -lt 100 ]; do (sleep 0 &); i=$((i+1)); done
exec python3 -c '
import signal, sys, time
def stop(number, frame):
    open("/data/sigterm", "w").write(repr(time.time()))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open("/data/app-ready", "w").close()
time.sleep(1000)
'
"""
"""The application, /data/app.sh: a background writer that flushes on SIGTERM, 100 orphans, then a Python
app that records when its SIGTERM came."""


def kube_down(podman, path):
    """``podman kube down``, as the user runs it."""
    podman("kube", "down", str(path))


def pod_stop_then_kube_down(podman, path):
    """``podman pod stop`` with the manifest's grace period, then ``kube down``."""
    grace = yaml.safe_load(path.read_text())["spec"]["terminationGracePeriodSeconds"]
    podman("pod", "stop", "--time", str(grace), "app")
    podman("kube", "down", str(path))


def app_stop_then_kube_down(podman, path):
    """What the kubelet does: stop the application's container with the grace period, then the pod
    (its pause process last)."""
    grace = yaml.safe_load(path.read_text())["spec"]["terminationGracePeriodSeconds"]
    podman("stop", "--time", str(grace), "app-app")
    podman("kube", "down", str(path))


STOPS = {"kube-down": kube_down, "pod-stop": pod_stop_then_kube_down, "app-stop": app_stop_then_kube_down}
PODMAN_LIMITS = {
    ("kube-down", False): "Podman 4.3.1's kube down stops the pod with a timeout of 0: SIGKILL at once",
    ("kube-down", True): "Podman 4.3.1's kube down stops the pod with a timeout of 0: SIGKILL at once",
    ("pod-stop", True): "Podman 4.3.1's pod stop stops the pause process with the application: PID 1 of "
    "the shared PID namespace exits on its SIGTERM and the kernel kills the rest of the namespace with it",
}
"""What Podman 4.3.1 (Debian 12's) does not do as Kubernetes does: strict expected failures."""


def readme_manifest():
    """The Pod manifest of the Kubernetes section of docs/platforms.md."""
    section = re.search(
        r"^### Kubernetes\n(.*?)^### ", (ROOT / "docs" / "platforms.md").read_text(), re.MULTILINE | re.DOTALL
    )
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section.group(1), re.DOTALL).group(1))


def test_the_readme_manifest_keeps_the_reaper_as_entrypoint():
    """``args``, not ``command``: Kubernetes' command replaces the image's ENTRYPOINT."""
    (container,) = readme_manifest()["spec"]["containers"]
    assert "command" not in container
    assert container["args"]
    assert {variable["name"] for variable in container["env"]} >= {"REAPER_STOP_DELAY", "REAPER_GRACE"}


def pod_manifest(image, data, share_process_namespace):
    """The manifest of docs/platforms.md running APP on ``image``, with ``data`` as /data."""
    (data / "app.sh").write_text(APP)  # a file: Podman 4.3.1's kube play misreads the script in the manifest
    manifest = readme_manifest()
    spec = manifest["spec"]
    spec["shareProcessNamespace"] = share_process_namespace
    (container,) = spec["containers"]
    container.update(image=image, args=["sh", "/data/app.sh"], volumeMounts=[{"name": "data", "mountPath": "/data"}])
    spec["volumes"] = [{"name": "data", "hostPath": {"path": str(data), "type": "Directory"}}]
    return manifest


@pytest.fixture
def pod_directory(podman):
    """A directory for the manifests and the pod's /data (``data``), which rootless Podman's user may
    enter and write to (pytest's own temporary directories are root's alone)."""
    with tempfile.TemporaryDirectory(prefix="python-reaper-pod-") as directory:
        (Path(directory) / "data").mkdir()
        if podman.user:
            user = pwd.getpwnam(podman.user)
            for path in (directory, f"{directory}/data"):
                os.chown(path, user.pw_uid, user.pw_gid)
        yield Path(directory)


@pytest.fixture
def data(pod_directory):
    """The pod's /data."""
    return pod_directory / "data"


@pytest.fixture
def named_image(podman, podman_image):
    """The image under test with a name a manifest can give (kube play looks images up by name)."""
    name = f"localhost/python-reaper-test:{podman_image[:12]}"
    podman("tag", podman_image, name)
    return name


@pytest.fixture
def pods(podman, pod_directory):
    """``pods(manifest)`` plays a manifest (replacing a pod of its name left by an earlier run); what
    is still up is taken down afterwards."""
    played = []

    def play(manifest):
        path = pod_directory / f"pod{len(played)}.yaml"
        path.write_text(yaml.safe_dump(manifest))
        path.chmod(0o644)
        played.append(path)
        podman("kube", "play", "--replace", *podman.run_options, str(path))
        return path

    yield play
    for path in played:
        try:
            podman("kube", "down", str(path))
        except EngineError:  # down already
            pass


def stop_delay(manifest):
    (container,) = manifest["spec"]["containers"]
    return float(next(variable["value"] for variable in container["env"] if variable["name"] == "REAPER_STOP_DELAY"))


def pod_cases():
    for how in STOPS:
        for shared in (False, True):
            limit = PODMAN_LIMITS.get((how, shared))
            marks = [pytest.mark.xfail(reason=limit, strict=True)] if limit else []
            yield pytest.param(how, shared, marks=marks, id=f"{how}-{'shared' if shared else 'own'}-namespace")


@pytest.mark.parametrize(("how", "share_process_namespace"), list(pod_cases()))
def test_a_pod_stop_waits_the_stop_delay_then_the_app_stops_and_the_writer_flushes(
    podman, named_image, data, pods, how, share_process_namespace
):
    manifest = pod_manifest(named_image, data, share_process_namespace)
    path = pods(manifest)
    wait_for(lambda: (data / "app-ready").exists() and (data / "writer-ready").exists(), 120, "the pod's application")
    # The writer's own `sleep 0.1` is a zombie for an instant before the writer waits for it: a count
    # of 0 within the time is what shows the 100 orphans reaped.
    wait_for(
        lambda: zombies_reported(podman("exec", "app-app", "sh", "-c", ZOMBIES_IN_NAMESPACE).decode()) == 0,
        60,
        "no zombie in the pod",
    )
    started = time.time()
    STOPS[how](podman, path)
    took = time.time() - started
    delay = stop_delay(manifest)
    assert (data / "sigterm").exists(), f"the application got no SIGTERM in {took:.2f} s"
    sigterm = float((data / "sigterm").read_text()) - started
    assert delay <= sigterm < delay + 3, f"SIGTERM {sigterm:.2f} s after the stop began"
    assert (data / "flushed").read_text() == "flushed\n"
    assert delay <= took < manifest["spec"]["terminationGracePeriodSeconds"], f"the stop took {took:.2f} s"


def test_control_the_bare_base_in_the_pod_gets_sigterm_at_once_and_loses_the_writer(podman, image, loaded, data, pods):
    base = loaded(podman, image.base)
    name = f"localhost/python-reaper-test:{base[:12]}"
    podman("tag", base, name)
    path = pods(pod_manifest(name, data, share_process_namespace=False))
    wait_for(lambda: (data / "app-ready").exists() and (data / "writer-ready").exists(), 120, "the pod's application")
    started = time.time()
    app_stop_then_kube_down(podman, path)
    assert float((data / "sigterm").read_text()) - started < 1
    assert not (data / "flushed").exists()


@pytest.mark.xfail(reason="Podman 4.3.1's kube play keeps its default stop timeout, 10 s", strict=True)
def test_kube_play_takes_the_stop_timeout_from_termination_grace_period_seconds(podman, named_image, data, pods):
    manifest = pod_manifest(named_image, data, share_process_namespace=False)
    pods(manifest)
    timeout = int(podman("inspect", "--format", "{{.Config.StopTimeout}}", "app-app"))
    assert timeout == manifest["spec"]["terminationGracePeriodSeconds"]
