"""Build the targets of docker-bake.hcl without buildx, on any reachable base.

usage: python3 image/build.py [--base auto|official|offline] [TARGET ...]

Reads each target's build arguments and tags from docker-bake.hcl (the same
file ``docker buildx bake`` reads; variables can be overridden from the
environment, as bake does) and builds it for the local platform with the
Docker engine's builder.  The base is the official ``python:X-slim-SUITE``
when it is present or can be pulled; otherwise (``auto``) or always
(``offline``) a python-slim-compatible base made from Debian packages with
debootstrap, cached as ``python-reaper-offline-base:SUITE``.  Debian ships one
Python per suite (bookworm 3.11, trixie 3.13), so offline only the targets of
those versions can be built.  Without TARGET, builds every target it can.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import docker
import docker.errors
import hcl2

ROOT = Path(__file__).resolve().parent.parent
BAKE_FILE = ROOT / "docker-bake.hcl"
OFFLINE_BASE = "python-reaper-offline-base"
OFFLINE_PYTHON = {"bookworm": "3.11", "trixie": "3.13"}
"""The python3 of each Debian suite: the only version an offline base of it can have."""

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BuildError(Exception):
    """A target that cannot be built here, with the reason."""


def bake_targets(path=BAKE_FILE, environ=os.environ):
    """Return ``{name: target}`` for every target of the bake file's ``default`` group.

    Each target is a dict of its attributes (``args``, ``tags``,
    ``platforms``...) after ``inherits`` and ``${VARIABLE}`` interpolation;
    a variable takes its value from ``environ`` when set there, as in bake.
    """
    with open(path) as file:
        document = _unquote(hcl2.load(file))
    variables = {}
    for block in document.get("variable", []):
        for name, body in block.items():
            variables[name] = environ.get(name, body.get("default", ""))
    raw = {name: body for block in document.get("target", []) for name, body in block.items()}

    def resolve(name):
        merged = {}
        for layer in [*map(resolve, raw[name].get("inherits", [])), raw[name]]:
            for key, value in layer.items():
                merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
        merged.pop("inherits", None)
        return merged

    def interpolate(value):
        if isinstance(value, str):
            return re.sub(r"\$\{(\w+)\}", lambda match: variables[match[1]], value)
        if isinstance(value, list):
            return [interpolate(item) for item in value]
        if isinstance(value, dict):
            return {key: interpolate(item) for key, item in value.items()}
        return value

    default = next(block["default"] for block in document["group"] if "default" in block)
    return {name: interpolate(resolve(name)) for name in default["targets"]}


def _unquote(value):
    """Undo python-hcl2's quoting of strings and block labels, and drop its markers."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [_unquote(item) for item in value]
    if isinstance(value, dict):
        return {_unquote(key): _unquote(item) for key, item in value.items() if key != "__is_block__"}
    return value


def offline_base(client, suite, log=print):
    """Return the tag of the debootstrap base for ``suite``, building it the first time."""
    tag = f"{OFFLINE_BASE}:{suite}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    log(f"building {tag} from Debian packages with debootstrap (about a minute)")
    with tempfile.TemporaryDirectory(prefix="python-reaper-base-") as root:
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3", suite, root, "http://deb.debian.org/debian"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for name in ("python3", "python"):
            os.symlink("/usr/bin/python3", f"{root}/usr/local/bin/{name}")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            subprocess.run(["find", f"{root}/{cache}", "-type", "f", "-delete"], check=True)
        version = subprocess.run(
            ["chroot", root, "python3", "-c", "import platform; print(platform.python_version())"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        changes = [f"ENV PATH={_PATH}", "ENV LANG=C.UTF-8", f"ENV PYTHON_VERSION={version}", 'CMD ["python3"]']
        archive = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        command = ["docker", "import", *[arg for change in changes for arg in ("--change", change)], "-", tag]
        subprocess.run(command, stdin=archive.stdout, check=True, stdout=subprocess.DEVNULL)
        if archive.wait() != 0:
            raise BuildError(f"could not archive the {suite} root file system")
    return tag


def choose_base(client, target, mode="auto", log=print):
    """Return ``(base image reference, "official" or "offline")`` for a bake target."""
    python, suite = target["args"]["PYTHON_VERSION"], target["args"]["DEBIAN_SUITE"]
    official = f"python:{python}-slim-{suite}"
    if mode in ("auto", "official"):
        try:
            client.images.get(official)
            return official, "official"
        except docker.errors.ImageNotFound:
            pass
        try:
            client.images.pull(official)
            return official, "official"
        except docker.errors.APIError as error:
            if mode == "official":
                raise BuildError(f"cannot pull {official}: {error.explanation}") from None
            log(f"{official} cannot be pulled; looking for an offline base")
    if OFFLINE_PYTHON.get(suite) != python:
        raise BuildError(
            f"no offline base for Python {python}: Debian {suite} ships Python {OFFLINE_PYTHON.get(suite)}"
        )
    return offline_base(client, suite, log), "offline"


def build(client, target, base, tags=None):
    """Build ``target`` on ``base``; tag it with ``tags`` (default: the target's own) and return the image."""
    tags = target["tags"] if tags is None else tags
    labels = {}
    digests = client.images.get(base).attrs.get("RepoDigests") or []
    if digests:
        labels["org.opencontainers.image.base.digest"] = digests[0].rsplit("@", 1)[1]
    image, _ = client.images.build(
        path=str(ROOT),
        dockerfile=target.get("dockerfile", "Dockerfile"),
        buildargs={**target["args"], "BASE_IMAGE": base},
        labels=labels,
        tag=tags[0],
        rm=True,
        forcerm=True,
    )
    for tag in tags[1:]:
        image.tag(tag)
    return image


def main(argv=None):
    parser = argparse.ArgumentParser(prog="image/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", choices=("auto", "official", "offline"), default="auto")
    parser.add_argument("targets", nargs="*", metavar="TARGET")
    options = parser.parse_args(argv)
    targets = bake_targets()
    unknown = set(options.targets) - set(targets)
    if unknown:
        parser.error(f"unknown target(s) {', '.join(sorted(unknown))}; the bake file has {', '.join(targets)}")
    client = docker.from_env()
    failed = []
    for name in options.targets or list(targets):
        try:
            base, kind = choose_base(client, targets[name], options.base)
            image = build(client, targets[name], base)
        except (BuildError, docker.errors.BuildError, subprocess.CalledProcessError) as error:
            print(f"{name}: not built: {error}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"{name}: built {image.short_id} on the {kind} base {base}: {' '.join(targets[name]['tags'])}")
    return 1 if failed and options.targets else 0


if __name__ == "__main__":
    sys.exit(main())
