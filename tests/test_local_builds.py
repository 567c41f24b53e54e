"""Local builds with image/build.py (``make build``): tags no other platform's build overwrites, none of
the release registry's unless asked, a failing status that names each target not built, one line each."""

import subprocess
import sys

import pytest

import bake
from support import RELEASE_TARGET, ROOT

BUILD = [sys.executable, str(ROOT / "image" / "build.py")]
OTHER_PLATFORM = "linux/arm64" if bake.native_platform() != "linux/arm64" else "linux/amd64"


def build_py(*arguments, timeout=3600):
    return subprocess.run([*BUILD, *arguments], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.timeout(1800)  # the other platform's build runs under emulation
def test_a_build_for_another_platform_leaves_this_platforms_image_and_the_release_tags_alone(docker_client):
    built = {}
    for platform in (bake.native_platform(), OTHER_PLATFORM):
        done = build_py("--platform", platform, RELEASE_TARGET)
        assert done.returncode == 0, done.stderr
        (line,) = done.stdout.splitlines()
        built[platform] = line.rsplit(": ", 1)[1].split()
    native, other = built.values()
    assert not set(native) & set(other)
    release = bake.bake_targets()[RELEASE_TARGET]["tags"]
    assert not set(release) & (set(native) | set(other))
    for platform, tags in built.items():
        for tag in tags:
            assert tag.endswith("-" + platform.split("/")[1]), tag
            assert f"linux/{docker_client.images.get(tag).attrs['Architecture']}" == platform


def test_release_tags_are_refused_for_another_platform():
    done = build_py("--release-tags", "--platform", OTHER_PLATFORM, RELEASE_TARGET)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith(
        f"--release-tags is for this machine's platform ({bake.native_platform()}) only"
    )


def test_make_build_fails_naming_each_target_that_did_not_build(bake_targets):
    """No registry answers here, so no official base can be had: every target fails, each on its line."""
    done = build_py("--base", "official", timeout=600)
    targets = bake_targets
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    for name in targets:
        assert sum(line.startswith(f"{name}: not built: ") for line in lines) == 1, name
    assert lines[-1] == f"image/build.py: not built: {', '.join(targets)}"
    assert done.stdout == ""
