"""The offline bases: one per Python of the matrix, each saying what it is, and a clear failure
where one cannot be made."""

import subprocess
import sys

import pytest

import bake
import offline
from support import ROOT


@pytest.mark.parametrize("key", list(offline.OFFLINE_BASES), ids="-".join)
def test_each_offline_base_has_its_python_and_names_its_source(docker_client, bases, key):
    # ``bases`` first: it starts every base the session needs, in parallel, before these wait for theirs.
    recipe = offline.OFFLINE_BASES[key]
    base = docker_client.images.get(offline.offline_base(docker_client, recipe))
    source = base.labels[offline.SOURCE_LABEL]
    assert source == offline._plan(recipe, bake.native_platform()).source
    assert ("sid" in source) == (recipe.suite == "sid") and ("pyenv" in source) == (recipe.python == "pyenv")
    env = dict(variable.split("=", 1) for variable in base.attrs["Config"]["Env"])
    assert env["PYTHON_VERSION"].startswith(recipe.version + ".")
    assert base.attrs["Config"]["Cmd"] == ["python3"]
    output = docker_client.containers.run(base.id, ["python3", "-c", offline._SMOKE], remove=True)
    assert output.decode().strip() == env["PYTHON_VERSION"]


def test_every_python_of_the_matrix_has_an_offline_base_for_a_target_of_the_matrix(bake_targets):
    # The image tests here take their targets from the offline bases: one per Python (conftest).
    pairs = {(target["args"]["PYTHON_VERSION"], target["args"]["DEBIAN_SUITE"]) for target in bake_targets.values()}
    assert set(offline.OFFLINE_BASES) <= pairs
    assert {version for version, _ in offline.OFFLINE_BASES} == {version for version, _ in pairs}


PIP_AS_IN_PYTHON_SLIM = """
command -v pip
pip --version
python3 -m pip --version
python3 -c 'import pathlib, sysconfig; print(pathlib.Path(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED").exists())'
"""


@pytest.mark.parametrize("key", list(offline.OFFLINE_BASES), ids="-".join)
def test_each_offline_base_has_pip_and_is_not_externally_managed_as_python_slim(docker_client, bases, key):
    base = offline.offline_base(docker_client, offline.OFFLINE_BASES[key])
    output = docker_client.containers.run(base, ["sh", "-c", PIP_AS_IN_PYTHON_SLIM], remove=True).decode()
    where, pip, module, marked = output.splitlines()
    assert where == "/usr/local/bin/pip"
    assert pip.startswith("pip ") and module.startswith("pip ")
    assert pip.endswith(f"(python {key[0]})") and module.endswith(f"(python {key[0]})")
    assert marked == "False"


def test_without_pyenv_3_12_its_image_tests_fail_with_one_line(docker_client, tmp_path):
    # docker_client: the run it starts needs the engine for every other step than the missing base.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "tests/test_image.py::test_entrypoint_cmd_and_labels[py312-bookworm]",
        ],
        cwd=ROOT,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYENV_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout
    reason = (
        f"py312-bookworm: not built: no offline base for Python 3.12: pyenv has no CPython 3.12 in {tmp_path}/versions"
    )
    assert reason in result.stdout.splitlines()
    assert "skipped" not in result.stdout  # an error in the image fixture: the run fails, nothing is skipped
