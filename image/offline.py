"""Make python-slim-compatible bases with debootstrap where no registry gives the official ones.

``choose_base`` takes the official ``python:X-slim-SUITE`` when it is present
or can be pulled; otherwise (``auto``) or always (``offline``) a base made
with debootstrap and cached as ``python-reaper-offline-base:TAG``
(``OFFLINE_BASES``): Debian's own Python for 3.11 (bookworm) and 3.13
(trixie), unstable's python3.14 and python3.15 on a sid root file system for
the trixie targets of those versions, and pyenv's CPython 3.12 laid out under
/usr/local on bookworm.  Each says what it is in its
``org.python-reaper.base.source`` label.
"""

import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import docker.errors

from bake import BuildError, native_platform

OFFLINE_BASE = "python-reaper-offline-base"
OFFLINE_GENERATION = "-pip"
"""The suffix of every offline base's tag, changed with what a base holds: checkouts of the project
from before and after a change share one engine, and each would rebuild the other's base on one tag."""
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _pyenv_versions():
    return Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"


def pyenv_python(version):
    """The newest CPython ``version`` (``3.12``) that pyenv installed on this machine, or None."""
    found = [
        path
        for path in _pyenv_versions().glob(f"{version}.*")
        if re.fullmatch(rf"{re.escape(version)}\.\d+", path.name)
    ]
    return max(found, key=lambda path: int(path.name.rsplit(".", 1)[1]), default=None)


@dataclass(frozen=True)
class OfflineBase:
    """How an offline base of Python ``version`` for a bake target's suite ``serves`` is made:
    a debootstrap of ``suite`` with ``packages``, and a Python.

    ``python`` is the interpreter that ``/usr/local/bin/python3`` links to, or
    ``pyenv`` for pyenv's CPython of that version laid out under /usr/local as
    python-slim lays out its own.  ``source`` becomes the base's
    ``org.python-reaper.base.source`` label, so the base says what it is.
    """

    version: str
    serves: str
    tag: str
    suite: str
    packages: tuple
    python: str
    source: str


# The libraries python-slim keeps for its CPython's extension modules (ssl,
# sqlite3, ctypes, readline, the compressors, uuid, dbm, curses, expat).
_SLIM_LIBRARIES = tuple(
    [
        "ca-certificates",
        "netbase",
        "tzdata",
        "libssl3",
        "libsqlite3-0",
        "libreadline8",
        "libffi8",
        "libbz2-1.0",
        "liblzma5",
        "zlib1g",
        "libncursesw6",
        "libuuid1",
        "libexpat1",
        "libgdbm6",
    ]
)
_SID_PYTHONS = ("python3.14", "python3.15", "python3-pip")
_UNSTABLE = "Debian unstable's {} and python3-pip packages on a sid root file system (not trixie), debootstrap"

OFFLINE_BASES = {
    (recipe.version, recipe.serves): recipe
    for recipe in (
        OfflineBase(
            "3.11",
            "bookworm",
            "bookworm",
            "bookworm",
            ("python3", "python3-pip"),
            "/usr/bin/python3",
            "Debian bookworm's python3 and python3-pip packages, debootstrap",
        ),
        OfflineBase(
            "3.12",
            "bookworm",
            "3.12-bookworm-pyenv",
            "bookworm",
            _SLIM_LIBRARIES,
            "pyenv",
            "CPython {version} that pyenv built on the build machine, laid out under /usr/local on Debian bookworm, debootstrap",
        ),
        OfflineBase(
            "3.13",
            "trixie",
            "trixie",
            "trixie",
            ("python3", "python3-pip"),
            "/usr/bin/python3",
            "Debian trixie's python3 and python3-pip packages, debootstrap",
        ),
        OfflineBase(
            "3.14", "trixie", "3.14-sid", "sid", _SID_PYTHONS, "/usr/bin/python3.14", _UNSTABLE.format("python3.14")
        ),
        OfflineBase(
            "3.15", "trixie", "3.15-sid", "sid", _SID_PYTHONS, "/usr/bin/python3.15", _UNSTABLE.format("python3.15")
        ),
    )
}
"""The offline base of each (Python version, suite) of the bake file that can be made here."""

SOURCE_LABEL = "org.python-reaper.base.source"
_SMOKE = "import platform, ssl, sqlite3, ctypes, zlib, bz2, lzma, readline; print(platform.python_version())"
_ROOTFS_LOCKS = {}
_ROOTFS_LOCKS_LOCK = threading.Lock()


class _Plan(NamedTuple):
    tag: str
    source: str
    pyenv: Path | None


def _plan(recipe, platform):
    """The tag, label and pyenv prefix of ``recipe``'s base for ``platform``; BuildError when it cannot be made here."""
    native = platform == native_platform()
    arch = platform.rsplit("/", 1)[1]
    tag = f"{OFFLINE_BASE}:{recipe.tag}" + ("" if native else f"-{arch}") + OFFLINE_GENERATION
    emulated = "" if native else f", {arch} under emulation"
    if recipe.python != "pyenv":
        return _Plan(tag, recipe.source + emulated, None)
    if not native:
        raise BuildError(
            f"no offline base for Python {recipe.version} on {platform}: pyenv's CPython is this machine's"
        )
    prefix = pyenv_python(recipe.version)
    if prefix is None:
        raise BuildError(
            f"no offline base for Python {recipe.version}: pyenv has no CPython {recipe.version} in {_pyenv_versions()}"
        )
    return _Plan(tag, recipe.source.format(version=prefix.name), prefix)


def offline_base(client, recipe, platform=None, log=print):
    """Return the tag of ``recipe``'s base for ``platform`` (default: this machine's), building it the first time.

    A base is reused while its tag carries the label its recipe writes; the
    bases that share one root file system (sid's two Pythons) are made from a
    single debootstrap.  Safe to call from several threads at once.
    """
    platform = platform or native_platform()
    plan = _plan(recipe, platform)
    with _ROOTFS_LOCKS_LOCK:
        lock = _ROOTFS_LOCKS.setdefault((recipe.suite, recipe.packages, platform), threading.Lock())
    with lock:
        if _label(client, plan.tag) == plan.source:
            return plan.tag
        missing = [
            (other, _plan(other, platform))
            for other in OFFLINE_BASES.values()
            if (other.suite, other.packages) == (recipe.suite, recipe.packages)
        ]
        missing = [
            (other, other_plan) for other, other_plan in missing if _label(client, other_plan.tag) != other_plan.source
        ]
        log(f"building {', '.join(other_plan.tag for _, other_plan in missing)} with debootstrap")
        with tempfile.TemporaryDirectory(prefix="python-reaper-base-") as root:
            _debootstrap(root, recipe, platform)
            for other, other_plan in missing:
                _import(root, other, platform, other_plan)
    return plan.tag


def _label(client, tag):
    """The source label of the image ``tag``, or None when there is no such image."""
    try:
        return client.images.get(tag).labels.get(SOURCE_LABEL)
    except docker.errors.ImageNotFound:
        return None


def _debootstrap(root, recipe, platform):
    arch = platform.rsplit("/", 1)[1]
    command = ["debootstrap", "--variant=minbase", f"--arch={arch}", f"--include={','.join(recipe.packages)}"]
    subprocess.run(
        [*command, recipe.suite, root, "http://deb.debian.org/debian"], check=True, stdout=subprocess.DEVNULL
    )
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        subprocess.run(["find", f"{root}/{cache}", "-type", "f", "-delete"], check=True)


def _import(root, recipe, platform, plan):
    """Put ``recipe``'s Python at /usr/local/bin/python3 in ``root``, check it, and import ``root`` as its tag."""
    tag, source = plan.tag, plan.source
    local = Path(root, "usr/local")
    if plan.pyenv:
        _lay_out_pyenv(local, plan.pyenv)
        subprocess.run(["chroot", root, "ldconfig"], check=True)
    else:
        for name in ("python3", "python"):
            (local / "bin" / name).unlink(missing_ok=True)
            (local / "bin" / name).symlink_to(recipe.python)
        _pip_as_in_python_slim(root, recipe.version)
    checked = subprocess.run(["chroot", root, "/usr/local/bin/python3", "-c", _SMOKE], capture_output=True, text=True)
    if checked.returncode != 0:
        raise BuildError(f"the Python of {tag} is incomplete: {checked.stderr.strip().splitlines()[-1]}")
    for pip in (["/usr/local/bin/pip"], ["/usr/local/bin/python3", "-m", "pip"]):
        answered = subprocess.run(["chroot", root, *pip, "--version"], capture_output=True, text=True)
        if answered.returncode != 0 or f"(python {recipe.version})" not in answered.stdout:
            raise BuildError(f"{' '.join(pip)} does not work in {tag}: {(answered.stderr or answered.stdout).strip()}")
    config = {
        "Env": [f"PATH={_PATH}", "LANG=C.UTF-8", f"PYTHON_VERSION={checked.stdout.strip()}"],
        "Cmd": ["python3"],
        "Labels": {SOURCE_LABEL: source},
    }
    _load(root, tag, platform, config)


_PIP_SCRIPT = """#!/usr/local/bin/python3
import sys
from pip._internal.cli.main import main
if __name__ == "__main__":
    sys.exit(main())
"""


def _pip_as_in_python_slim(root, version):
    """Make Debian's pip in ``root`` behave as python-slim's: ``pip``, ``pip3`` and ``pip3.X`` in
    /usr/local/bin run /usr/local/bin/python3 (Debian's own /usr/bin/pip runs /usr/bin/python3, another
    Python on sid), and no ``EXTERNALLY-MANAGED`` marker (PEP 668) refuses ``pip install``."""
    for marker in Path(root, "usr/lib").glob("python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    for name in ("pip", "pip3", f"pip{version}"):
        script = Path(root, "usr/local/bin", name)
        script.write_text(_PIP_SCRIPT)
        script.chmod(0o755)


def _load(root, tag, platform, config):
    """Load ``root`` into the engine as the one-layer image ``tag`` for ``platform`` with ``config``.

    A docker-archive made here rather than ``docker import``: an engine that is
    not multi-platform ignores import's --platform and would call an arm64 root
    file system amd64, which the builder then refuses for --platform linux/arm64.
    """
    with tempfile.TemporaryDirectory(prefix="python-reaper-image-") as archive:
        layer, digest = Path(archive, "layer.tar"), hashlib.sha256()
        with subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE) as tar, layer.open("wb") as out:
            for chunk in iter(lambda: tar.stdout.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if tar.returncode != 0:
            raise BuildError(f"could not archive the root file system of {tag}")
        image = {
            "architecture": platform.rsplit("/", 1)[1],
            "os": "linux",
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest.hexdigest()}"]},
            "history": [{"created_by": f"python-reaper image/build.py: {config['Labels'][SOURCE_LABEL]}"}],
        }
        Path(archive, "config.json").write_text(json.dumps(image))
        manifest = [{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}]
        Path(archive, "manifest.json").write_text(json.dumps(manifest))
        with subprocess.Popen(
            ["tar", "-C", archive, "-c", "manifest.json", "config.json", "layer.tar"], stdout=subprocess.PIPE
        ) as tar:
            subprocess.run(["docker", "load", "-q"], stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
        if tar.returncode != 0:
            raise BuildError(f"could not archive the image {tag}")


def _lay_out_pyenv(local, prefix):
    """Copy pyenv's CPython at ``prefix`` to ``local`` (/usr/local) as python-slim has it: no tests, no
    bytecode, no static library, no site-packages but pip; scripts point at /usr/local/bin."""
    excluded = ["test", "tests", "idle_test", "__pycache__", "*.pyc", "*.a", "site-packages/*.pth"]
    copy = ["tar", "-C", str(prefix), "-c", *[f"--exclude={pattern}" for pattern in excluded], "."]
    archive = subprocess.Popen(copy, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-C", str(local), "-x"], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise BuildError(f"could not copy {prefix}")
    for script in (local / "bin").iterdir():
        if script.is_file() and not script.is_symlink() and script.read_bytes().startswith(f"#!{prefix}/".encode()):
            script.write_bytes(script.read_bytes().replace(f"#!{prefix}/".encode(), b"#!/usr/local/", 1))


def choose_base(client, target, mode="auto", log=print, platform=None):
    """Return ``(base image reference, "official" or "offline")`` for a bake target on ``platform``."""
    python, suite = target["args"]["PYTHON_VERSION"], target["args"]["DEBIAN_SUITE"]
    official = f"python:{python}-slim-{suite}"
    if mode in ("auto", "official"):
        try:
            client.images.get(official)
            return official, "official"
        except docker.errors.ImageNotFound:
            pass
        try:
            client.images.pull(official, platform=platform)
            return official, "official"
        except docker.errors.APIError as error:
            if mode == "official":
                raise BuildError(f"cannot pull {official}: {error.explanation}") from None
            log(f"{official} cannot be pulled; looking for an offline base")
    recipe = OFFLINE_BASES.get((python, suite))
    if recipe is None:
        raise BuildError(f"no offline base for Python {python} on {suite}: Debian has no such package")
    return offline_base(client, recipe, platform, log), "offline"


def choose_bases(client, jobs, mode="auto", log=print):
    """``choose_base`` for each ``(target, platform)`` of ``jobs``, at once and in the background: the
    debootstraps of missing offline bases run in parallel.  Return a future per job, in order, whose
    result is ``(base, kind)`` or, where no base can be had, the BuildError."""

    def choose(job):
        try:
            return choose_base(client, job[0], mode, log, job[1])
        except BuildError as error:
            return error
        except subprocess.CalledProcessError as error:
            return BuildError(f"a base could not be made: {error}")

    pool = ThreadPoolExecutor(max_workers=len(jobs) or 1)
    futures = [pool.submit(choose, job) for job in jobs]
    pool.shutdown(wait=False)
    return futures
