"""Build the targets of docker-bake.hcl with bake, on any reachable base.

usage: python3 image/build.py [--base auto|official|offline] [--platform PLATFORM] [TARGET ...]

Reads each target from ``docker buildx bake --print`` and builds it for this
machine's platform, or for another PLATFORM under qemu's emulation (``bake``),
on the official ``python:X-slim-SUITE`` base when it is present or can be
pulled, otherwise (``auto``) or always (``offline``) on a python-slim-compatible
base made with debootstrap (``offline``).  Without TARGET, builds every target
it can.
"""

import argparse
import sys

import docker
import docker.errors

import bake
import offline
from bake import BuildError, bake_targets, build, native_platform
from offline import choose_bases


def __getattr__(name):
    """Resolve a name this module had before its split (``build.OFFLINE_BASES``) in ``bake`` or ``offline``.

    For tests written against the one-module ``build``; new code imports ``bake`` and ``offline``.
    """
    for module in (bake, offline):
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module 'build' has no attribute {name!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="image/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", choices=("auto", "official", "offline"), default="auto")
    parser.add_argument(
        "--platform", default=native_platform(), help="linux/amd64 or linux/arm64 (default: this machine's)"
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET")
    options = parser.parse_args(argv)
    try:
        targets = bake_targets()
    except BuildError as error:
        parser.exit(1, f"image/build.py: {error}\n")
    unknown = set(options.targets) - set(targets)
    if unknown:
        parser.error(f"unknown target(s) {', '.join(sorted(unknown))}; the bake file has {', '.join(targets)}")
    client = docker.from_env()
    names = options.targets or list(targets)
    bases = choose_bases(client, [(targets[name], options.platform) for name in names], options.base)
    failed = []
    for name, future in zip(names, bases, strict=True):
        try:
            chosen = future.result()
            if isinstance(chosen, BuildError):
                raise chosen
            base, kind = chosen
            image = build(client, targets[name], base, platform=options.platform)
        except (BuildError, docker.errors.BuildError) as error:
            print(f"{name}: not built: {error}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"{name}: built {image.short_id} on the {kind} base {base}: {' '.join(targets[name]['tags'])}")
    return 1 if failed and options.targets else 0


if __name__ == "__main__":
    sys.exit(main())
