"""The GitHub Actions workflows: structure, least privilege, pinned actions, the bake targets, and
the PyPI release. actionlint and zizmor lint them in `make lint`; this checks what they cannot know."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from support import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*\s*$")


def workflow(name):
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads a bare `on` as true
    return document


def test_every_action_is_pinned_to_a_commit_with_its_version():
    for path in [*WORKFLOWS.glob("*.yml")]:
        for line in path.read_text().splitlines():
            if re.match(r"^\s*(-\s*)?uses:", line) and "uses: $/" not in line:
                assert PINNED.match(line), f"{path.name}: {line.strip()}"


def test_ci_runs_on_pull_requests_pushes_and_for_the_release():
    triggers = workflow("ci.yml")["on"]
    assert {"pull_request", "push", "workflow_call"} <= set(triggers)


def test_release_runs_on_main_tags_weekly_and_by_hand():
    triggers = workflow("release.yml")["on"]
    assert triggers["push"]["branches"] == ["main"]
    assert triggers["push"]["tags"] == ["v*"]
    assert re.fullmatch(r"\d+ \d+ \* \* \d", triggers["schedule"][0]["cron"])
    assert "workflow_dispatch" in triggers


def test_least_privilege():
    for name in ("ci.yml", "release.yml"):
        document = workflow(name)
        assert document["permissions"] == {"contents": "read"}, name
        for job_name, job in document["jobs"].items():
            granted = job.get("permissions", {})
            if (name, job_name) == ("release.yml", "publish"):
                assert granted == {"contents": "read", "packages": "write", "id-token": "write"}
            elif (name, job_name) == ("release.yml", "pypi"):
                assert granted == {"id-token": "write"}  # trusted publishing: the only token PyPI accepts
            else:
                assert granted == {}, f"{name}: {job_name}"


def test_nothing_is_published_before_the_tests_pass():
    jobs = workflow("release.yml")["jobs"]
    assert jobs["test"]["uses"] == "$/.github/workflows/ci.yml"
    assert jobs["publish"]["needs"] == "test"
    assert (jobs["dist"]["needs"], jobs["pypi"]["needs"]) == ("test", "dist")


def test_the_image_matrix_is_the_bake_files_targets_and_platforms_each_on_a_native_runner(bake_targets, tmp_path):
    jobs = workflow("ci.yml")["jobs"]
    (bake,) = [step for step in jobs["targets"]["steps"] if step.get("id") == "bake"]
    output = tmp_path / "output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(tmp_path)}
    subprocess.run(["bash", "-e", "-c", bake["run"]], cwd=ROOT, env=env, check=True, capture_output=True)
    printed = {
        key: json.loads(value) for key, value in (line.split("=", 1) for line in output.read_text().splitlines())
    }
    assert printed["targets"] == sorted(bake_targets)
    assert printed["platforms"] == sorted(
        {platform for target in bake_targets.values() for platform in target["platforms"]}
    )
    image = jobs["image"]
    assert image["strategy"]["matrix"] == {
        "target": "${{ fromJSON(needs.targets.outputs.targets) }}",
        "platform": "${{ fromJSON(needs.targets.outputs.platforms) }}",
    }
    # Native runners: GitHub's arm64 runner for linux/arm64, its amd64 one for the rest (linux/amd64 only, today).
    assert image["runs-on"] == "${{ matrix.platform == 'linux/arm64' && 'ubuntu-24.04-arm' || 'ubuntu-24.04' }}"
    assert set(printed["platforms"]) == {"linux/amd64", "linux/arm64"}


def pytest_selections():
    """The arguments of every ``python -m pytest`` that ci.yml runs, as the shell splits them."""
    for job in workflow("ci.yml")["jobs"].values():
        for step in job.get("steps", []):
            _, found, arguments = step.get("run", "").partition("-m pytest")
            if found:
                yield shlex.split(arguments)


def test_the_workflow_runs_every_test_file_of_tests():
    """Each pytest selection of ci.yml collected here (``--collect-only``: nothing runs, no Docker needed):
    together they hold every test file, so a new file runs on GitHub without a change to the workflow."""
    selections = list(pytest_selections())
    assert len(selections) >= 3  # without Docker, with Docker but no image, and per image
    collections = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *arguments],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for arguments in selections
    ]
    collected = set()
    for collection in collections:
        out, _ = collection.communicate(timeout=600)
        assert collection.returncode == 0, out
        collected |= {line.split("::")[0] for line in out.splitlines() if "::" in line}
    assert collected == {str(path.relative_to(ROOT)) for path in (ROOT / "tests").glob("test_*.py")}


def steps_using(job, action):
    return [step for step in job["steps"] if step.get("uses", "").startswith(action + "@")]


def test_release_pushes_the_bake_targets_with_metadata_labels_only_and_signs_the_digests():
    publish = workflow("release.yml")["jobs"]["publish"]
    (bake,) = steps_using(publish, "docker/bake-action")
    assert bake["with"]["push"] is True
    assert bake["with"]["targets"] == "default"
    assert "bake-file-labels" in bake["with"]["files"] and "bake-file-annotations" in bake["with"]["files"]
    (meta,) = steps_using(publish, "docker/metadata-action")
    assert "images" not in meta["with"] and "tags" not in meta["with"]
    assert steps_using(publish, "sigstore/cosign-installer")
    assert "cosign sign --yes" in publish["steps"][-1]["run"]
    assert "containerimage.digest" in publish["steps"][-1]["run"]


def test_checkout_never_leaves_the_token_on_disk():
    for path in WORKFLOWS.glob("*.yml"):
        for job in workflow(path.name)["jobs"].values():
            for step in steps_using(job, "actions/checkout") if "steps" in job else []:
                assert step["with"]["persist-credentials"] is False, path.name


def test_the_library_goes_to_pypi_on_version_tags_by_trusted_publishing_with_attestations():
    jobs = workflow("release.yml")["jobs"]
    assert jobs["dist"]["if"] == "startsWith(github.ref, 'refs/tags/v')"
    build = next(step["run"] for step in jobs["dist"]["steps"] if "python -m build" in step.get("run", ""))
    assert "twine check --strict dist/*" in build
    assert '"v${version}" = "${GITHUB_REF_NAME}"' in build
    pypi = jobs["pypi"]
    assert pypi["environment"]["name"] == "pypi"
    (publish,) = steps_using(pypi, "pypa/gh-action-pypi-publish")
    assert publish["with"] == {"attestations": True}  # no password: the OIDC token is the credential
    assert steps_using(pypi, "actions/download-artifact") and not steps_using(pypi, "actions/checkout")


def test_builds_are_reproducible_from_the_commit():
    run = next(
        step["run"]
        for step in workflow("release.yml")["jobs"]["publish"]["steps"]
        if "SOURCE_DATE_EPOCH" in step.get("run", "")
    )
    assert "SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)" in run
    assert "CREATED=$(git log -1 --format=%cd" in run


def test_the_bake_file_leaves_labels_and_annotations_to_metadata_action(bake_targets):
    text = (ROOT / "docker-bake.hcl").read_text()
    assert 'target "docker-metadata-action" {}' in text
    assert all("docker-metadata-action" not in name for name in bake_targets)


def test_dependabot_watches_the_actions_and_the_python_dependencies():
    updates = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())["updates"]
    assert {update["package-ecosystem"] for update in updates} == {"github-actions", "pip"}


def test_control_make_lints_tools_reject_a_checkout_that_keeps_its_token_and_a_bad_expression(tmp_path):
    bin_dir = Path(sys.executable).parent
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    ci = (WORKFLOWS / "ci.yml").read_text()
    bad = tmp_path / ".github" / "workflows" / "ci.yml"
    bad.write_text(ci.replace("          persist-credentials: false\n", "          fetch-depth: 1\n", 1))
    zizmor = subprocess.run([bin_dir / "zizmor", "--offline", bad], capture_output=True, text=True)
    assert zizmor.returncode != 0 and "artipacked" in zizmor.stdout
    bad.write_text(ci.replace("${{ matrix.target }}", "${{ matrix.nosuch }}", 1))
    actionlint = subprocess.run([bin_dir / "actionlint", bad], capture_output=True, text=True)
    assert actionlint.returncode != 0 and "nosuch" in actionlint.stdout
