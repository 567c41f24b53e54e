"""docker-bake.hcl: the one list of versions, the matrix bake makes of it, its tags and its arguments.

Every expectation here is derived from what bake printed (the ``bake_targets`` fixture): adding a
Python or a suite to the bake file changes no test."""

import os
import re
import tomllib
from collections import Counter

import bake
from bake import ROOT


def python_and_suite(target):
    return target["args"]["PYTHON_VERSION"], target["args"]["DEBIAN_SUITE"]


def pythons(targets):
    """The Pythons of the matrix, oldest first."""
    versions = {python_and_suite(target)[0] for target in targets.values()}
    return sorted(versions, key=lambda version: tuple(map(int, version.split("."))))


def test_the_matrix_is_every_version_on_every_suite_named_after_both(bake_targets):
    pairs = {python_and_suite(target) for target in bake_targets.values()}
    suites = {suite for _, suite in pairs}
    assert len(pairs) == len(bake_targets) == len(pythons(bake_targets)) * len(suites) > 1
    for name, target in bake_targets.items():
        python, suite = python_and_suite(target)
        assert name == f"py{python.replace('.', '')}-{suite}"


def test_every_target_is_multi_arch_with_attestations(bake_targets):
    platforms = {tuple(target["platforms"]) for target in bake_targets.values()}
    assert len(platforms) == 1 and len(set(*platforms)) > 1, platforms
    for target in bake_targets.values():
        assert target["attest"] == ["type=sbom", "type=provenance,mode=max"]


def test_every_build_argument_is_declared_in_the_dockerfile(bake_targets):
    declared = set(re.findall(r"^ARG (\w+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    for target in bake_targets.values():
        assert set(target["args"]) <= declared


def test_no_tag_is_claimed_by_two_targets(bake_targets):
    counts = Counter(tag for target in bake_targets.values() for tag in target["tags"])
    assert [tag for tag, count in counts.items() if count > 1] == []


def official_scheme(python, suite, default_suite, newest):
    """The tags of the official python images for ``python`` on ``suite``, in bake's order."""
    tags = [python] if suite == default_suite else []
    tags.append(f"{python}-{suite}")
    if python == newest:
        tags += (
            (["3"] if suite == default_suite else []) + [f"3-{suite}"] + (["latest"] if suite == default_suite else [])
        )
    return tags


def tags_by_target(targets):
    return {name: [tag.rsplit(":", 1)[1] for tag in target["tags"]] for name, target in targets.items()}


def scheme_of(targets):
    """``(default suite, newest stable Python)`` as the tags of ``targets`` show them: the suite whose
    targets carry the plain version, the Python that carries ``latest``; each must be one."""
    tags = tags_by_target(targets)
    (default_suite,) = {python_and_suite(targets[name])[1] for name, own in tags.items() if "-" not in own[0]}
    (newest,) = {python_and_suite(targets[name])[0] for name, own in tags.items() if "latest" in own}
    return default_suite, newest


def test_tags_follow_the_official_python_scheme(bake_targets):
    default_suite, newest = scheme_of(bake_targets)
    assert newest == pythons(bake_targets)[-1]  # no pre-release in the matrix today
    for name, own in tags_by_target(bake_targets).items():
        assert own == official_scheme(*python_and_suite(bake_targets[name]), default_suite, newest), name


def test_the_newest_stable_python_is_a_variable(bake_targets):
    default_suite, _ = scheme_of(bake_targets)
    oldest = pythons(bake_targets)[0]
    moved = bake.bake_targets(environ={**os.environ, "NEWEST_STABLE": oldest})
    assert scheme_of(moved) == (default_suite, oldest)
    for name, own in tags_by_target(moved).items():
        assert own == official_scheme(*python_and_suite(moved[name]), default_suite, oldest), name


def test_registry_and_image_come_from_variables(bake_targets):
    name, target = next(iter(bake_targets.items()))
    moved = bake.bake_targets(environ={**os.environ, "REGISTRY": "registry.example", "IMAGE": "reaper"})
    assert moved[name]["tags"] == [
        tag.replace("ghcr.io/org/python-reaper:", "registry.example/reaper:") for tag in target["tags"]
    ]
    assert all(tag.startswith("ghcr.io/org/python-reaper:") for tag in target["tags"])


def test_every_target_has_only_the_common_attributes_and_the_release_arguments(bake_targets):
    for name, target in bake_targets.items():
        assert set(target) == {"context", "dockerfile", "platforms", "attest", "args", "tags"}, name
        assert (target["context"], target["dockerfile"]) == (".", "Dockerfile")
        assert target["args"] == {
            "PYTHON_VERSION": target["args"]["PYTHON_VERSION"],
            "DEBIAN_SUITE": target["args"]["DEBIAN_SUITE"],
            "REAPER_VERSION": "dev",
            "REVISION": "unknown",
            "CREATED": "1970-01-01T00:00:00Z",
        }, name


def test_the_package_classifiers_name_the_pythons_of_the_matrix(bake_targets):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    prefix = "Programming Language :: Python :: 3."
    classified = [
        c.removeprefix("Programming Language :: Python :: ") for c in project["classifiers"] if c.startswith(prefix)
    ]
    assert classified == pythons(bake_targets)
    assert project["requires-python"] == f">={pythons(bake_targets)[0]}"


def test_no_target_is_written_out_by_hand():
    source = (ROOT / "docker-bake.hcl").read_text()
    assert re.findall(r'^target "([^"]+)"', source, re.MULTILINE) == ["docker-metadata-action", "_common", "image"]
    assert "matrix = {" in source
