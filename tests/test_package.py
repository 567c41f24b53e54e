"""The library as PyPI gets it: a wheel and an sdist built with `build`, accepted by `twine check`,
and the wheel installed into a clean venv that knows nothing of this checkout."""

import json
import subprocess
import sys
import tarfile
import zipfile

import pytest

from support import ROOT

VERSION = next(
    line.split('"')[1]
    for line in (ROOT / "entrypoint/reaper/__init__.py").read_text().splitlines()
    if line.startswith("__version__")
)


def run(*command, **options):
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=600, **options)


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory):
    """A clean venv with only the wheel installed in it (no index, no dependency)."""
    path = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", str(path))
    run(str(path / "bin/pip"), "install", "-q", "--no-index", str(dist[0]))
    return path


def in_venv(venv, code):
    """Run ``code`` in the venv's Python, isolated (-I) from this checkout, from a neutral directory."""
    return run(str(venv / "bin/python"), "-I", "-c", code, cwd=venv).stdout


def test_twine_accepts_the_wheel_and_the_sdist(dist):
    result = run(sys.executable, "-m", "twine", "check", "--strict", *map(str, dist))
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_artifacts_are_named_for_pypi(dist):
    assert dist[0].name == f"python_reaper-{VERSION}-py3-none-any.whl"
    assert dist[1].name == f"python_reaper-{VERSION}.tar.gz"


def test_the_wheel_holds_the_library_and_its_metadata_only(dist):
    with zipfile.ZipFile(dist[0]) as wheel:
        names = wheel.namelist()
    # _reaper_entry: the console script's first statement blocks signals before the package is read.
    assert {name.split("/")[0] for name in names} == {
        "reaper",
        "_reaper_entry.py",
        f"python_reaper-{VERSION}.dist-info",
    }
    assert {"reaper/__init__.py", "reaper/_library.py", "reaper/_supervisor.py"} <= set(names)
    assert not [name for name in names if name.startswith(("tests/", "bench/", "image/")) or "/tests/" in name]


def test_the_sdist_holds_the_source_the_readme_and_the_license(dist):
    with tarfile.open(dist[1]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "entrypoint/reaper/__init__.py"} <= names


def test_the_console_script_runs_from_the_clean_venv(venv):
    assert run(str(venv / "bin/reaper"), "--version").stdout.strip().endswith(VERSION)
    # Not PID 1: it runs its command as a subreaper and passes its status through.
    assert subprocess.run([venv / "bin/reaper", "--", "sh", "-c", "exit 7"], timeout=60).returncode == 7


def test_the_library_is_imported_from_the_venv_not_the_checkout(venv):
    where, version = in_venv(venv, "import reaper; print(reaper.__file__); print(reaper.__version__)").split()
    assert where.startswith(str(venv)) and version == VERSION
    assert (
        in_venv(venv, "import reaper; print(callable(reaper.with_reaper) and callable(reaper.run_forked))") == "True\n"
    )


def test_the_metadata_carries_the_readme_license_and_project_urls(venv):
    metadata = json.loads(
        in_venv(venv, "import importlib.metadata as m, json; print(json.dumps(m.metadata('python-reaper').json))")
    )
    assert metadata["description"] == (ROOT / "README.md").read_text()
    assert metadata["description_content_type"] == "text/markdown"
    assert metadata["license_expression"] == "MIT"
    assert metadata["license_file"] in ("LICENSE", ["LICENSE"])  # a string when there is one
    urls = dict(url.split(", ", 1) for url in metadata["project_url"])
    assert urls["Source"] == "https://github.com/org/python-reaper"
    assert {"Homepage", "Issues"} <= set(urls)
    assert metadata["requires_python"] == ">=3.11"
    assert all("extra ==" in requirement for requirement in metadata["requires_dist"])  # standard library only
    assert in_venv(
        venv, "import importlib.metadata as m; print(m.entry_points(group='console_scripts')['reaper'].value)"
    ) == ("_reaper_entry:run\n")
