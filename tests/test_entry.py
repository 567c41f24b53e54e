"""How PID 1 is entered: an ENTRYPOINT that pip cannot touch, the reaper in front of a Python
program started as PID 1 without it, and the reaper copied into an image that has no shell."""

import json
import subprocess

import docker
import pytest

from support import IMAGE_ENTRYPOINT, IMAGE_LAUNCHER, ROOT, without_emulator
from workloads import SLEEPER, finish, orphan_storm, python_orphan_storm, stop_seconds, wait_for, zombies_reported

WHEEL_DIR = "/tmp/wheels"
PIP = {
    "installed": ["pip install -q --no-index {wheel}"],
    "reinstalled": ["pip install -q --no-index {wheel}", "pip install -q --no-index --force-reinstall {wheel}"],
    "uninstalled": ["pip install -q --no-index {wheel}", "pip uninstall -q -y python-reaper"],
}
"""What a downstream Dockerfile does with the library's wheel, by case."""

SHOW_PID1 = ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; exit 3"]
"""A command that prints PID 1's command line and exits 3."""


def build_image(docker_client, context, dockerfile="Dockerfile", platform=None, **arguments):
    """Build ``context`` with the engine's builder; a build that fails is a test failure with one line."""
    try:
        return docker_client.images.build(
            path=str(context), dockerfile=dockerfile, buildargs=arguments, platform=platform, rm=True, forcerm=True
        )[0]
    except (docker.errors.BuildError, docker.errors.APIError) as error:
        reason = str(error)
    pytest.fail(f"{context / dockerfile} is not built: {reason}", pytrace=False)  # outside except: one line


def downstream(docker_client, tmp_path, image, lines, files=()):
    """Build an image ``FROM image`` with the Dockerfile ``lines`` after it, ``files`` in its context."""
    for file in files:
        (tmp_path / file.name).write_bytes(file.read_bytes())
    (tmp_path / "Dockerfile").write_text("\n".join([f"FROM {image}", *lines]) + "\n")
    return build_image(docker_client, tmp_path)


def require_pip(docker_client, image):
    """Fail with one line when the image has no working pip: no downstream build can install anything."""
    try:
        docker_client.containers.run(image, ["python3", "-m", "pip", "--version"], remove=True)
        return
    except docker.errors.ContainerError as error:
        reason = error.stderr.decode().strip()[-120:]
    pytest.fail(f"the image has no pip ({reason})", pytrace=False)  # outside except: no chained traceback


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
    assert without_emulator(expected[1].split(), image.emulated)[:3] == IMAGE_ENTRYPOINT


PYTHON_APP = f"""
import subprocess, sys, time
if sys.argv[1:] == ["storm"]:  # orphans reparented to PID 1, then the status 7
    subprocess.run(["sh", "-c", {orphan_storm(300, parent="")!r}])
    sys.exit(7)
print("running", flush=True)  # readiness: a Python as PID 1 has exec'd the reaper, which runs this again
time.sleep(1000)  # no SIGTERM handler: as PID 1 Python ignores docker stop's SIGTERM
"""
DESCRIBE = """
import json, os, sys
with open("/proc/1/cmdline") as pid1:
    print(json.dumps({
        "argv": sys.argv, "cwd": os.getcwd(), "setting": os.environ.get("APP_SETTING"), "pid": os.getpid(),
        "ppid": os.getppid(), "isolated": sys.flags.isolated, "stdin": input(), "pid1": pid1.read().split("\\0"),
    }))
"""
CONSOLE_SCRIPT = "#!/usr/local/bin/python3\nimport runpy\nrunpy.run_path('/app/app.py', run_name='__main__')\n"
"""A console script as pip writes them for the image's interpreter: the shebang names it."""
ENTRIES = {"python3": ["python3", "/app/app.py"], "console script": ["/app/app-script"]}


@pytest.fixture
def app(tmp_path):
    """Mount options for a /app folder holding the Python programs above and a console script."""
    folder = tmp_path / "python-app"
    folder.mkdir()
    (folder / "app.py").write_text(PYTHON_APP)
    (folder / "describe.py").write_text(DESCRIBE)
    (folder / "app-script").write_text(CONSOLE_SCRIPT)
    (folder / "app-script").chmod(0o755)
    return {"volumes": {str(folder): {"bind": "/app", "mode": "ro"}}}


def python_as_pid1(containers, image, entry, arguments, app, environment=None):
    """Start ``entry`` (the interpreter or a console script) as PID 1 instead of the ENTRYPOINT."""
    entrypoint, *command = ENTRIES[entry]
    return containers(image.tag, [*command, *arguments], entrypoint=[entrypoint], environment=environment, **app)


@pytest.mark.parametrize("entry", ENTRIES)
def test_python_started_as_pid1_gets_the_reaper_in_front_and_reaps_an_orphan_storm(image, containers, app, entry):
    status, output = finish(python_as_pid1(containers, image, entry, ["storm"], app))
    assert (status, zombies_reported(output)) == (7, 0), output


@pytest.mark.parametrize("entry", ENTRIES)
def test_python_started_as_pid1_gets_the_reaper_in_front_and_stops_fast(image, containers, app, entry):
    container = python_as_pid1(containers, image, entry, [], app)
    wait_for(lambda: b"running" in container.logs(), 120, "the program behind the reaper")  # seconds under qemu
    seconds, status = stop_seconds(container, timeout=10)
    assert status == 143
    assert seconds < 2


@pytest.mark.parametrize("entry", ENTRIES)
def test_control_with_reaper_python_pid1_0_python_as_pid1_leaves_zombies_and_ignores_docker_stop(
    image, containers, app, entry
):
    off = {"REAPER_PYTHON_PID1": "0"}
    status, output = finish(python_as_pid1(containers, image, entry, ["storm"], app, off))
    assert (status, zombies_reported(output) >= 100) == (7, True), output
    seconds, status = stop_seconds(python_as_pid1(containers, image, entry, [], app, off), timeout=3)
    assert (seconds >= 3, status) == (True, 137)


PROGRAM = ["python3", "-I", "describe.py", "a b", ""]


def describe_python_as_pid1(image, app, *options):
    """Run describe.py with -I as PID 1, stdin a pipe; return what it saw of itself."""
    volume = next(f"{host}:{mount['bind']}:ro" for host, mount in app["volumes"].items())
    command = ["docker", "run", "-i", "--rm", "-v", volume, "-w", "/app", "-e", "APP_SETTING=x y", *options]
    command += ["--entrypoint", PROGRAM[0], image.tag, *PROGRAM[1:]]
    result = subprocess.run(command, input="hello\n", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_python_program_behind_the_reaper_keeps_its_arguments_flags_environment_cwd_and_stdin(image, app):
    seen = describe_python_as_pid1(image, app)
    # the interpreter by its full path, as sys.executable has it
    interpreter, *pid1 = without_emulator(seen.pop("pid1")[:-1], image.emulated)
    assert (interpreter.endswith("/python3"), pid1) == (True, ["-ISB", IMAGE_LAUNCHER, "--", *PROGRAM])
    assert (seen.pop("pid") != 1, seen.pop("ppid")) == (True, 1)
    assert seen == {
        "argv": ["describe.py", "a b", ""],
        "cwd": "/app",
        "setting": "x y",
        "isolated": 1,
        "stdin": "hello",
    }


@pytest.mark.parametrize("off", ["0", "false", "No", "OFF"])
def test_reaper_python_pid1_off_leaves_python_as_pid1(image, app, off):
    seen = describe_python_as_pid1(image, app, "-e", f"REAPER_PYTHON_PID1={off}")
    # qemu-user shows a program its own command line as the program's, without qemu's words
    assert (seen["pid"], seen["pid1"][:-1]) == (1, PROGRAM)


SHELL_LESS_OPTIONS = {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"]}
"""How hardened images run: read-only root, no capabilities (their user, 65532, is the image's USER)."""
EXITS = {
    0: ["python3", "-c", "pass"],
    3: ["python3", "-c", "raise SystemExit(3)"],
    137: ["python3", "-c", "import os; os.kill(os.getpid(), 9)"],
    143: ["python3", "-c", "import os; os.kill(os.getpid(), 15)"],
    127: ["sh", "-c", "exit 0"],  # the image has no shell
    126: ["/etc/passwd"],  # not executable
}


@pytest.fixture(scope="module")
def shell_less(image, docker_client):
    """(the stand-in for a hardened image, made from the image's base; that stand-in with the reaper
    added by the recipe of examples/shell-less, copied from the image)."""
    platform = f"linux/{image.built.attrs['Architecture']}"
    helpers = ROOT / "tests" / "helpers"
    stand_in = build_image(docker_client, helpers, "shell-less.Dockerfile", platform, BASE_IMAGE=image.base.id)
    recipe = build_image(
        docker_client,
        ROOT / "examples" / "shell-less",
        platform=platform,
        BASE_IMAGE=stand_in.id,
        REAPER_IMAGE=image.tag,
    )
    return stand_in.id, recipe.id


def test_the_shell_less_stand_in_has_no_shell_and_its_python_at_usr_bin_runs_the_reaper(image, shell_less, containers):
    probe = "import os, sys; print(sys.executable, os.getuid(), *map(os.path.exists, ['/bin/sh', '/usr/bin/env']))"
    probe += "; print(*open('/proc/1/cmdline').read().split(chr(0)))"
    status, output = finish(containers(shell_less[1], ["python3", "-c", probe], **SHELL_LESS_OPTIONS))
    identity, pid1 = output.splitlines()
    assert (status, identity) == (0, "/usr/bin/python3 65532 False False")
    assert without_emulator(pid1.split(), image.emulated)[:3] == IMAGE_ENTRYPOINT


def test_shell_less_the_reaper_reaps_an_orphan_storm_and_passes_the_status(shell_less, containers):
    command = ["python3", "-c", python_orphan_storm(300) + "raise SystemExit(42)"]
    status, output = finish(containers(shell_less[1], command, **SHELL_LESS_OPTIONS))
    assert (status, zombies_reported(output)) == (42, 0), output


def test_control_shell_less_python_as_pid1_leaves_the_orphan_storm_zombies(shell_less, containers):
    command = ["python3", "-c", python_orphan_storm(300)]
    status, output = finish(containers(shell_less[0], command, **SHELL_LESS_OPTIONS))
    assert (status, zombies_reported(output) >= 100) == (0, True), output


def test_shell_less_docker_stop_is_fast(shell_less, containers):
    seconds, status = stop_seconds(containers(shell_less[1], SLEEPER, **SHELL_LESS_OPTIONS), timeout=10)
    assert (seconds < 2, status) == (True, 143)


@pytest.mark.parametrize("status", EXITS)
def test_shell_less_exit_codes_pass_through(shell_less, containers, status):
    assert finish(containers(shell_less[1], EXITS[status], **SHELL_LESS_OPTIONS))[0] == status


def test_shell_less_orphans_of_docker_exec_are_reaped(shell_less, containers):
    container = containers(shell_less[1], SLEEPER, **SHELL_LESS_OPTIONS)
    output = container.exec_run(["python3", "-c", python_orphan_storm(200)]).output.decode()
    assert zombies_reported(output) == 0, output
