"""Read and build the targets of docker-bake.hcl with ``docker buildx bake``.

Bake evaluates the file (its matrix, variables, which can be overridden from
the environment, and tags); ``bake_targets`` reads the result through
``docker buildx bake --print``, and ``build`` builds one target with
``docker buildx bake --load`` for this machine's platform, without
attestations, on a given base; for another platform (under qemu's emulation)
with the engine's classic builder (see ``_build_classic``).
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAKE_FILE = ROOT / "docker-bake.hcl"


class BuildError(Exception):
    """A target that cannot be built here, with the reason."""


def bake_targets(path=BAKE_FILE, environ=os.environ):
    """Return ``{name: target}`` for every target of the bake file's ``default`` group, by name
    (bake expands a matrix in no stable order).

    Bake itself evaluates the file (``docker buildx bake --print``): each
    target is a dict of its attributes (``args``, ``tags``, ``platforms``...)
    after ``inherits``, ``matrix`` and ``${VARIABLE}`` interpolation; a
    variable takes its value from ``environ`` when set there.  BuildError
    when bake cannot evaluate it (no buildx: ``make engine`` installs it).
    """
    printed = _bake(["--print", "default"], path, environ, stdout=subprocess.PIPE)
    document = json.loads(printed.stdout)

    def expand(name):
        group = document.get("group", {}).get(name)
        return [leaf for member in group["targets"] for leaf in expand(member)] if group else [name]

    return {name: document["target"][name] for name in sorted(expand("default"))}


def _bake(arguments, path=BAKE_FILE, environ=os.environ, **options):
    """Run ``docker buildx bake -f path`` with ``arguments`` from the repository's root; BuildError
    with bake's error line when it fails (and how to install buildx when it is missing)."""
    command = ["docker", "buildx", "bake", "-f", str(path), *arguments]
    try:
        done = subprocess.run(command, cwd=ROOT, env=dict(environ), text=True, stderr=subprocess.PIPE, **options)
    except FileNotFoundError:
        raise BuildError("docker buildx bake: no docker command; `make engine` installs it") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        reason = next((line for line in reversed(lines) if line.startswith("ERROR")), lines[0])
        # Without the plugin, the docker CLI answers for bake (with "unknown shorthand flag: 'f'").
        missing = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False).returncode
        hint = "; no docker buildx here: `make engine` installs Debian's docker-buildx" if missing else ""
        raise BuildError(f"docker buildx bake failed: {reason}{hint}")
    return done


LOCAL_REGISTRY = "local"
"""The registry part of local builds' tags: never the release's (``bake_targets`` with ``REGISTRY`` set to it)."""


def local_tags(target, platform):
    """The tags of a local build of ``target`` (as bake gave it, with REGISTRY=LOCAL_REGISTRY) for
    ``platform``: each with the platform's architecture appended (``local/python-reaper:3.13-arm64``),
    since the engine's store keeps one image per tag and one platform's build would replace another's."""
    return [f"{tag}-{platform.rsplit('/', 1)[1]}" for tag in target["tags"]]


def native_platform():
    """The engine's own platform (this machine's), as bake names platforms: ``linux/amd64``, ``linux/arm64``."""
    machine = os.uname().machine
    return "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def build(client, target, base, tags=None, platform=None):
    """Build ``target`` (as ``bake_targets`` gives it) on ``base`` for ``platform`` (default: the
    engine's); tag it with ``tags`` (default: the target's own) and return the image.

    ``docker buildx bake --load`` builds it, from the definition bake printed,
    for one platform and without attestations: the engine's image store (the
    docker driver) holds neither several platforms nor attestations.  Another
    platform goes through the engine's classic builder (``_build_classic``).
    """
    tags = target["tags"] if tags is None else tags
    labels = dict(target.get("labels", {}))
    digests = client.images.get(base).attrs.get("RepoDigests") or []
    if digests:
        labels["org.opencontainers.image.base.digest"] = digests[0].rsplit("@", 1)[1]
    if platform not in (None, native_platform()):
        return _build_classic(client, target, base, tags, platform, labels)
    definition = {**target, "context": str(ROOT / target.get("context", ".")), "labels": labels}
    overrides = [f"image.platform={native_platform()}", f"image.args.BASE_IMAGE={base}"]
    overrides += [f"image.tags={tag}" for tag in tags]
    with tempfile.TemporaryDirectory(prefix="python-reaper-bake-") as directory:
        path, metadata = Path(directory, "image.json"), Path(directory, "metadata.json")
        path.write_text(json.dumps({"target": {"image": definition}}))
        options = ["--load", "--provenance=false", "--sbom=false", "--metadata-file", str(metadata)]
        _bake([*options, *(f"--set={override}" for override in overrides), "image"], path)
        built = json.loads(metadata.read_text())["image"]
    # By id, not by tag: another checkout on this engine may load the same tag meanwhile.  The
    # engine's own image store reports the image id as containerimage.digest; containerd's, as
    # containerimage.config.digest.
    return client.images.get(built.get("containerimage.config.digest") or built["containerimage.digest"])


def _build_classic(client, target, base, tags, platform, labels):
    """Build ``target`` for another ``platform`` than the engine's with the engine's classic builder.

    Not through bake: BuildKit runs the Dockerfile's bytecode stage
    (``FROM --platform=$BUILDPLATFORM $BASE_IMAGE``) on the base for the
    engine's platform, and the engine's image store keeps one image per tag,
    so an offline base exists here for one platform only (``...:trixie-arm64``
    is arm64).  The classic builder sets no BUILDPLATFORM: setting it to
    ``platform`` runs the bytecode stage, too, on that base, under emulation.
    """
    image, _ = client.images.build(
        path=str(ROOT),
        dockerfile=target.get("dockerfile", "Dockerfile"),
        buildargs={**target["args"], "BASE_IMAGE": base, "BUILDPLATFORM": platform},
        labels=labels,
        tag=tags[0],
        platform=platform,
        rm=True,
        forcerm=True,
    )
    for tag in tags[1:]:
        image.tag(tag)
    return image
