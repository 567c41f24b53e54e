"""Build the targets of docker-bake.hcl with bake, on any reachable base.

usage: python3 image/build.py [--base auto|official|offline] [--platform PLATFORM] [--release-tags] [TARGET ...]

Reads each target from ``docker buildx bake --print`` and builds it for this
machine's platform, or for another PLATFORM under qemu's emulation (``bake``),
on the official ``python:X-slim-SUITE`` base when it is present or can be
pulled, otherwise (``auto``) or always (``offline``) on a python-slim-compatible
base made with debootstrap (``offline``).  Without TARGET, builds every target
it can.  Tags are local (``bake.local_tags``: ``local/python-reaper:3.13-amd64``)
unless ``--release-tags`` asks for the bake file's own, for this machine's
platform only.  Prints one line per target built on stdout, one per target not
built on stderr, then a last line naming those; exits 1 when any was not built.
"""

import argparse
import os
import sys

import docker
import docker.errors

from bake import LOCAL_REGISTRY, BuildError, bake_targets, build, local_tags, native_platform
from offline import choose_bases


def main(argv=None):
    parser = argparse.ArgumentParser(prog="image/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", choices=("auto", "official", "offline"), default="auto")
    parser.add_argument(
        "--platform", default=native_platform(), help="linux/amd64 or linux/arm64 (default: this machine's)"
    )
    parser.add_argument(
        "--release-tags", action="store_true", help="tag as the release does (this machine's platform only)"
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET")
    options = parser.parse_args(argv)
    if options.release_tags and options.platform != native_platform():
        # One image per tag in the engine's store: it would replace this machine's image under the same tag.
        parser.error(f"--release-tags is for this machine's platform ({native_platform()}) only")
    try:
        targets = bake_targets(
            environ=os.environ if options.release_tags else {**os.environ, "REGISTRY": LOCAL_REGISTRY}
        )
    except BuildError as error:
        parser.exit(1, f"image/build.py: {error}\n")
    unknown = set(options.targets) - set(targets)
    if unknown:
        parser.error(f"unknown target(s) {', '.join(sorted(unknown))}; the bake file has {', '.join(targets)}")
    client = docker.from_env()
    names = options.targets or list(targets)

    def progress(message):
        print(message, file=sys.stderr, flush=True)

    bases = choose_bases(client, [(targets[name], options.platform) for name in names], options.base, progress)
    failed = []
    for name, future in zip(names, bases, strict=True):
        target = targets[name]
        tags = target["tags"] if options.release_tags else local_tags(target, options.platform)
        try:
            chosen = future.result()
            if isinstance(chosen, BuildError):
                raise chosen
            base, kind = chosen
            image = build(client, target, base, tags=tags, platform=options.platform)
        except (BuildError, docker.errors.BuildError) as error:
            print(f"{name}: not built: {_one_line(error)}", file=sys.stderr, flush=True)
            failed.append(name)
            continue
        print(f"{name}: built {image.short_id} on the {kind} base {base}: {' '.join(tags)}", flush=True)
    if failed:
        print(f"image/build.py: not built: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _one_line(error):
    """The first line of an error's message: one line per target, whatever the builder said."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


if __name__ == "__main__":
    sys.exit(main())
