"""Real Python software on the image, as its users run it: the examples/ apps installed with pip
from PyPI's wheels into a downstream image, on the image and, as the control, on the bare base
(alone, and behind ``docker run --init``).

The wheels are downloaded once per Python and platform (``WHEELS``) and installed offline
(``pip install --no-index --find-links``).  Every case runs on the targets of ``FULL_TARGETS``; the
other Pythons run the smoke: the gunicorn image built with pip
and stopped with requests in flight.
"""

import concurrent.futures
import http.client
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from support import ROOT
from workloads import wait_for

EXAMPLES = ROOT / "examples"
WHEELS = Path.home() / ".cache" / "python-reaper-tests" / "wheels"
FULL_TARGETS = ["py313-trixie", "py311-bookworm"]
"""The targets that run every case: one per Debian suite of the offline bases (conftest); the tests marked
every_target run on every target of this machine's platform too."""
SETUPS = ["image", "base", "base-init"]
"""Where an app runs: on the image (the reaper is PID 1), on the bare base (the app is PID 1), on the
bare base behind Docker's init (tini is PID 1)."""
PIP_PLATFORMS = {"amd64": "manylinux_2_36_x86_64", "arm64": "manylinux_2_36_aarch64"}
"""The wheels' platform for each architecture: glibc 2.36 (bookworm's) or older."""
PORT = 8000


def wheels_for(example, python, architecture):
    """The folder of wheels that ``examples/EXAMPLE/requirements.txt`` needs for ``python`` (3.13) on
    ``architecture``, downloaded from PyPI the first time; a download that fails fails the test in one line."""
    folder = WHEELS / f"{python}-{architecture}"
    done = folder / f".{example}"
    if not done.exists():
        download = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(folder)]
        download += ["--python-version", python, "--platform", PIP_PLATFORMS[architecture]]
        result = subprocess.run(
            [*download, "-r", str(EXAMPLES / example / "requirements.txt")],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            error = (result.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.fail(f"the wheels of examples/{example} for Python {python} cannot be downloaded: {error}", False)
        done.touch()
    return folder


_BUILT = {}


def downstream(docker_client, image, example, on_base):
    """The image of ``examples/EXAMPLE`` built FROM the image under test or, ``on_base``, FROM its bare
    base, with its requirements installed offline by pip; built once per session."""
    base = image.base if on_base else image.built
    key = (example, base.id)
    if key not in _BUILT:
        architecture = image.built.attrs["Architecture"]
        with_pip = (EXAMPLES / example / "requirements.txt").exists()
        context = Path(f"/tmp/python-reaper-software-{uuid.uuid4().hex}")
        shutil.copytree(EXAMPLES / example, context)
        try:
            args = {"BASE": base.id}
            if with_pip:
                python = ".".join(_environment(image.base)["PYTHON_VERSION"].split(".")[:2])
                shutil.copytree(wheels_for(example, python, architecture), context / "wheels")
                args["PIP_OPTIONS"] = "--no-index --find-links wheels"
            _BUILT[key], _ = docker_client.images.build(
                path=str(context), buildargs=args, platform=f"linux/{architecture}", rm=True, forcerm=True
            )
        finally:
            shutil.rmtree(context)
    return _BUILT[key]


def _environment(image):
    return dict(variable.split("=", 1) for variable in image.attrs["Config"]["Env"])


@pytest.fixture
def app(image, docker_client, containers):
    """Start ``app(example, setup, **run_options)``: a container of the example's image in ``setup``."""

    def start(example, setup, **options):
        built = downstream(docker_client, image, example, on_base=setup != "image")
        return containers(built.id, init=setup == "base-init", **options)

    return start


def patience(image):
    """Seconds an app gets to start: under emulation an interpreter takes seconds to start."""
    return 600 if image.emulated else 60


def logs(container):
    return container.logs().decode()


def wait_for_log(container, text, timeout, count=1):
    """Wait until the container's output holds ``text`` ``count`` times."""
    wait_for(lambda: logs(container).count(text) >= count, timeout, f"{text!r} x{count} in the logs")


def address(container):
    container.reload()
    return container.attrs["NetworkSettings"]["IPAddress"]


def get(host, path, timeout=60):
    """GET ``path`` from the app at ``host``; return ``"200 BODY"``, or the error a client would see."""
    connection = http.client.HTTPConnection(host, PORT, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return f"{response.status} {response.read().decode().strip()}"
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__
    finally:
        connection.close()


def wait_until_it_answers(container, timeout):
    host = address(container)
    wait_for(lambda: get(host, "/", timeout=2).startswith("200"), timeout, "an HTTP answer")
    return host


def stop(container, timeout=10):
    """``docker stop -t TIMEOUT``; return (seconds it took, exit status)."""
    started = time.monotonic()
    container.stop(timeout=timeout)
    return time.monotonic() - started, container.wait(timeout=60)["StatusCode"]


def in_flight(host, paths):
    """Send a GET for each of ``paths`` at once; return the futures of their answers."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(paths))
    futures = [pool.submit(get, host, path) for path in paths]
    pool.shutdown(wait=False)
    return futures


def processes(container):
    """``{pid: (name, state, ppid)}`` of every process in the container, read from /proc (slim has no ps)."""
    script = 'for s in /proc/[0-9]*/stat; do read -r line < "$s" && echo "$line"; done 2>/dev/null'
    found = {}
    for line in container.exec_run(["sh", "-c", script]).output.decode().splitlines():
        pid, rest = line.split(" (", 1)
        name, fields = rest.rsplit(") ", 1)
        state, ppid = fields.split()[:2]
        found[int(pid)] = (name, state, int(ppid))
    return found


# gunicorn: its master coordinates three sync workers.


@pytest.mark.every_target
@pytest.mark.parametrize("setup", SETUPS)
def test_gunicorn_completes_three_requests_in_flight_on_docker_stop(image, app, setup):
    """One request per sync worker: a request still queued when the workers stop is reset by gunicorn
    itself, on the bare base too (so the example runs three workers)."""
    container = app("gunicorn", setup)
    host = wait_until_it_answers(container, patience(image))
    answers = in_flight(host, [f"/sleep/3?{n}" for n in range(3)])
    wait_for_log(container, "begin /sleep/3", patience(image), count=3)
    seconds, status = stop(container, timeout=30)
    print(f"gunicorn docker stop, 3 requests in flight, {setup}: {seconds:.1f} s, exit status {status}")
    assert [answer.result() for answer in answers] == ["200 done /sleep/3"] * 3
    assert status == 0


@pytest.mark.parametrize("signal", ["SIGHUP", "SIGUSR2"])
@pytest.mark.parametrize("setup", SETUPS)
def test_gunicorn_completes_a_request_in_flight_on_a_reload_or_an_upgrade(image, app, setup, signal):
    """HUP reloads the workers, USR2 starts a new master: gunicorn's master finishes the request in flight
    either way, when it alone gets the signal (its workers die of HUP and USR2)."""
    container = app("gunicorn", setup)
    host = wait_until_it_answers(container, patience(image))
    (answer,) = in_flight(host, ["/sleep/3"])
    wait_for_log(container, "begin /sleep/3", patience(image))
    container.kill(signal)
    print(f"gunicorn {signal} during a request, {setup}: {answer.result()}")
    assert answer.result() == "200 done /sleep/3"


@pytest.mark.parametrize("setup", SETUPS)
def test_gunicorn_respawns_a_worker_killed_with_sigkill_and_leaves_no_zombie(image, app, setup):
    container = app("gunicorn", setup)
    host = wait_until_it_answers(container, patience(image))
    master = next(pid for pid, (name, _, ppid) in processes(container).items() if name == "gunicorn" and ppid <= 1)
    workers = [pid for pid, (_, _, ppid) in processes(container).items() if ppid == master]
    assert len(workers) == 3
    container.exec_run(["sh", "-c", f"kill -KILL {workers[0]}"])  # slim has no kill program

    def respawned():
        now = processes(container)
        return workers[0] not in now and len([pid for pid, (_, _, ppid) in now.items() if ppid == master]) == 3

    wait_for(respawned, patience(image), "a new worker in place of the killed one")
    assert [pid for pid, (_, state, _) in processes(container).items() if state == "Z"] == []
    assert get(host, "/") == "200 done /"


# uvicorn: its supervisor process coordinates two worker processes.


@pytest.mark.parametrize("setup", SETUPS)
def test_uvicorn_completes_a_request_in_flight_on_docker_stop(image, app, setup):
    container = app("uvicorn", setup)
    host = wait_until_it_answers(container, patience(image))
    (answer,) = in_flight(host, ["/sleep/3"])
    wait_for_log(container, "begin /sleep/3", patience(image))
    seconds, status = stop(container, timeout=30)
    print(f"uvicorn docker stop, a request in flight, {setup}: {seconds:.1f} s, exit status {status}")
    assert answer.result() == "200 done /sleep/3"
    assert status == 0


# celery: its main process coordinates the prefork pool (a warm shutdown).


@pytest.mark.parametrize("setup", SETUPS)
def test_celery_finishes_the_running_task_on_docker_stop(image, app, setup):
    container = app("celery", setup, working_dir="/app")
    wait_for_log(container, "ready.", patience(image))
    container.exec_run(["python3", "-c", "import tasks; tasks.slow.delay(3)"], workdir="/app")
    wait_for_log(container, "task started", patience(image))
    seconds, status = stop(container, timeout=30)
    output = logs(container)
    print(f"celery docker stop, a 3 s task running, {setup}: {seconds:.1f} s, exit status {status}")
    assert "task finished" in output, output
    assert "exited with signal" not in output
    assert status == 0


# A program of one's own: a multiprocessing.Pool closed by a SIGTERM handler.


@pytest.mark.parametrize("setup", SETUPS)
def test_a_pools_workers_finish_their_current_item_on_docker_stop(image, app, setup):
    container = app("multiprocessing", setup)
    wait_for_log(container, "started 1", patience(image))
    seconds, status = stop(container, timeout=30)
    output = logs(container)
    print(f"multiprocessing.Pool docker stop, {setup}: {seconds:.1f} s, exit status {status}")
    started = {line.split()[1] for line in output.splitlines() if line.startswith("started ")}
    finished = {line.split()[1] for line in output.splitlines() if line.startswith("finished ")}
    assert started == finished, output
    assert "pool closed" in output
    assert status == 0


# A shell script without exec in front of the app.


def test_docker_stop_reaches_an_app_behind_a_shell_wrapper_and_its_finally_block_runs(image, app):
    container = app("shell-wrapper", "image")
    wait_for_log(container, "serving", patience(image))
    seconds, status = stop(container)
    print(f"shell wrapper docker stop, image: {seconds:.1f} s, exit status {status}")
    assert "finally ran" in logs(container)
    assert seconds < 5
    assert status == 143  # the shell's: SIGTERM ended it


@pytest.mark.parametrize("setup", ["base", "base-init"])
def test_control_an_app_behind_a_shell_wrapper_on_the_bare_base_never_runs_its_finally_block(image, app, setup):
    """As PID 1 the shell ignores SIGTERM (the stop waits for the timeout); behind tini the shell dies
    of it and the app, never signalled, is killed with the container."""
    container = app("shell-wrapper", setup)
    wait_for_log(container, "serving", patience(image))
    seconds, status = stop(container, timeout=3)
    print(f"shell wrapper docker stop -t 3, {setup}: {seconds:.1f} s, exit status {status}")
    assert "finally ran" not in logs(container)


# The README's compose recipe (examples/compose/docker-compose.yml), with Debian's docker-compose.


def compose_file_of_the_readme():
    """The YAML block of the "docker compose" section of docs/platforms.md."""
    page = (ROOT / "docs" / "platforms.md").read_text()
    section = page[page.index("### docker compose") :]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_compose_recipe_of_the_docs_is_the_example_under_test():
    assert compose_file_of_the_readme() == (EXAMPLES / "compose" / "docker-compose.yml").read_text()


def compose(project, *args, timeout=600):
    """Run ``docker-compose`` on the recipe of ``project`` (a copy of examples/compose with
    ``override.yml``, which names the base to build FROM); return its CompletedProcess."""
    command = ["docker-compose", "--project-name", project.name, "-f", "docker-compose.yml", "-f", "override.yml"]
    # Compose's own builder, the engine's classic one, builds FROM an image id; BuildKit would look it up in a registry.
    env = {**os.environ, "COMPOSE_DOCKER_CLI_BUILD": "0"}
    try:
        return subprocess.run([*command, *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        pytest.fail("no docker-compose here: `make engine` installs Debian's", pytrace=False)


@pytest.fixture
def recipe(tmp_path):
    """``recipe(base, **service)``: a copy of examples/compose built FROM ``base`` (the override sets the
    build argument BASE and, for the control, ``service`` settings), started with ``up``; removed afterwards."""
    project = tmp_path / f"compose{uuid.uuid4().hex[:12]}"
    started = []

    def up(base, **service):
        shutil.copytree(EXAMPLES / "compose", project)
        lines = ["services:", "  app:", "    build:", "      args:", f"        BASE: {base}"]
        lines += [f"    {name}: {value}" for name, value in service.items()]
        (project / "override.yml").write_text("\n".join(lines) + "\n")
        started.append(project)
        result = compose(project, "up", "--detach", "--build")
        assert result.returncode == 0, result.stderr
        (container,) = compose(project, "ps", "--quiet").stdout.split()
        return project, container

    yield up
    for project in started:
        compose(project, "down", "--rmi", "local", "--timeout", "0")


def compose_up_and_down(image, recipe, base, **service):
    """Bring the recipe up on ``base``, wait until it serves and its writer writes, check that it stays
    up, bring it down; return (seconds ``down`` took, what the writer flushed or None)."""
    project, container = recipe(base, **service)
    wait_for(lambda: "serving" in compose(project, "logs").stdout, patience(image), "the app to serve")
    wait_for(lambda: (project / "data" / "started").exists(), patience(image), "the writer to start")
    state = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", container], capture_output=True, text=True)
    assert state.stdout.strip() == "running"
    started = time.monotonic()
    assert compose(project, "down").returncode == 0
    seconds = time.monotonic() - started
    flushed = project / "data" / "count"
    return seconds, flushed.read_text() if flushed.exists() else None


def test_the_compose_recipe_stays_up_and_down_flushes_the_background_writer(image, recipe):
    seconds, flushed = compose_up_and_down(image, recipe, image.built.id)
    print(f"compose recipe down, image: {seconds:.1f} s, {flushed!r}")
    assert flushed and flushed.startswith("flushed ")
    assert seconds < 30  # the recipe's stop_grace_period: down never waits for it (compose's own steps take seconds)


def test_control_the_compose_recipe_on_the_bare_base_loses_the_writers_data(image, recipe):
    """The app as PID 1 ignores SIGTERM: compose waits for stop_grace_period (shortened here), then
    everything is SIGKILLed and the writer never flushes."""
    seconds, flushed = compose_up_and_down(image, recipe, image.base.id, stop_grace_period="3s")
    print(f"compose recipe down, base: {seconds:.1f} s, {flushed!r}")
    assert flushed is None
    assert seconds >= 3
