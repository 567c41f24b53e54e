"""docker-bake.hcl: the matrix, its tags and its arguments agree with the Dockerfile."""

import re
from collections import Counter

from bake import ROOT, bake_targets

VERSIONS = ["3.11", "3.12", "3.13", "3.14", "3.15"]
SUITES = ["trixie", "bookworm"]
TARGETS = bake_targets()


def test_the_matrix_is_every_version_on_every_suite():
    expected = {f"py{version.replace('.', '')}-{suite}": (version, suite) for version in VERSIONS for suite in SUITES}
    assert {
        name: (target["args"]["PYTHON_VERSION"], target["args"]["DEBIAN_SUITE"]) for name, target in TARGETS.items()
    } == expected


def test_every_target_is_multi_arch_with_attestations():
    for target in TARGETS.values():
        assert target["platforms"] == ["linux/amd64", "linux/arm64"]
        assert target["attest"] == ["type=sbom", "type=provenance,mode=max"]


def test_every_build_argument_is_declared_in_the_dockerfile():
    declared = set(re.findall(r"^ARG (\w+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    for target in TARGETS.values():
        assert set(target["args"]) <= declared


def test_no_tag_is_claimed_by_two_targets():
    counts = Counter(tag for target in TARGETS.values() for tag in target["tags"])
    assert [tag for tag, count in counts.items() if count > 1] == []


def test_tags_follow_the_official_python_scheme():
    tags = {name: [tag.rsplit(":", 1)[1] for tag in target["tags"]] for name, target in TARGETS.items()}
    assert tags["py312-trixie"] == ["3.12", "3.12-trixie"]
    assert tags["py312-bookworm"] == ["3.12-bookworm"]
    assert tags["py315-trixie"] == ["3.15", "3.15-trixie", "3", "3-trixie", "latest"]
    assert tags["py315-bookworm"] == ["3.15-bookworm", "3-bookworm"]


def test_registry_and_image_come_from_variables(monkeypatch):
    monkeypatch.setenv("REGISTRY", "registry.example")
    monkeypatch.setenv("IMAGE", "reaper")
    assert bake_targets()["py313-trixie"]["tags"][0] == "registry.example/reaper:3.13"
    assert TARGETS["py313-trixie"]["tags"][0] == "ghcr.io/org/python-reaper:3.13"


EXPECTED = {
    "py311-trixie": ("3.11", "trixie", ["3.11", "3.11-trixie"]),
    "py311-bookworm": ("3.11", "bookworm", ["3.11-bookworm"]),
    "py312-trixie": ("3.12", "trixie", ["3.12", "3.12-trixie"]),
    "py312-bookworm": ("3.12", "bookworm", ["3.12-bookworm"]),
    "py313-trixie": ("3.13", "trixie", ["3.13", "3.13-trixie"]),
    "py313-bookworm": ("3.13", "bookworm", ["3.13-bookworm"]),
    "py314-trixie": ("3.14", "trixie", ["3.14", "3.14-trixie"]),
    "py314-bookworm": ("3.14", "bookworm", ["3.14-bookworm"]),
    "py315-trixie": ("3.15", "trixie", ["3.15", "3.15-trixie", "3", "3-trixie", "latest"]),
    "py315-bookworm": ("3.15", "bookworm", ["3.15-bookworm", "3-bookworm"]),
}
"""What `docker buildx bake --print` gave for the hand-written file, target by target (in the default
group's order): Python, suite and tags; every target also has the attributes of COMMON."""

COMMON = {
    "context": ".",
    "dockerfile": "Dockerfile",
    "platforms": ["linux/amd64", "linux/arm64"],
    "attest": ["type=sbom", "type=provenance,mode=max"],
}


def test_bake_itself_evaluates_the_file_to_the_ten_targets():
    assert sorted(TARGETS) == sorted(EXPECTED)  # in the matrix's order, no longer the hand-written one
    for name, (python, suite, tags) in EXPECTED.items():
        assert TARGETS[name] == {
            **COMMON,
            "args": {
                "PYTHON_VERSION": python,
                "DEBIAN_SUITE": suite,
                "REAPER_VERSION": "dev",
                "REVISION": "unknown",
                "CREATED": "1970-01-01T00:00:00Z",
            },
            "tags": [f"ghcr.io/org/python-reaper:{tag}" for tag in tags],
        }, name


def test_no_target_is_written_out_by_hand():
    source = (ROOT / "docker-bake.hcl").read_text()
    assert re.findall(r'^target "([^"]+)"', source, re.MULTILINE) == ["docker-metadata-action", "_common", "image"]
    assert "matrix = {" in source
