"""The documentation keeps its promises: the README is short, its quick start runs as written, and
every link, cited test and generated table a doc points to is there."""

import re
import subprocess
import sys
import urllib.parse

from support import ROOT, defined_tests

README_LIMIT = 12 * 1024
"""The README's budget in bytes: what and why, a quick start, the options, the peers, links."""
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
BENCH_MARKERS = ("<!-- bench:start -->", "<!-- bench:end -->")


def without_code(text):
    """``text`` with its fenced code blocks blanked: a ``#`` or ``](`` in a shell comment is no heading or link."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def anchors(path):
    """The anchors GitHub makes of ``path``'s headings (lowercase, punctuation dropped, spaces as dashes)."""
    made = set()
    for heading in re.findall(r"^#+ (.+)$", without_code(path.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        made.add(slug if slug not in made else next(f"{slug}-{n}" for n in range(1, 99) if f"{slug}-{n}" not in made))
    return made


def broken_links(path):
    """The relative links of ``path`` whose file, or whose anchor in that file, does not exist."""
    broken = []
    for link in LINK.findall(without_code(path.read_text())):
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        linked = (path.parent / urllib.parse.unquote(target)).resolve() if target else path
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
            broken.append(link)
    return broken


def missing_tests(text):
    """The backticked test names (``test_x``) and prefixes (``test_x_*``) of ``text`` that no test has."""
    defined = defined_tests()
    return {
        name + star
        for name, star in re.findall(r"`(test_\w+)(\*?)`", text)
        if not any(test == name or (star and test.startswith(name)) for test in defined)
    }


def quick_start():
    """The commands of the README's quick start, one a line, as a user types them."""
    section = re.search(r"^## Quick start\n(.*?)^## ", (ROOT / "README.md").read_text(), re.M | re.S).group(1)
    block = re.search(r"^```sh\n(.*?)^```", section, re.M | re.S).group(1)
    return block.splitlines()


def test_the_readme_fits_its_budget():
    assert len((ROOT / "README.md").read_bytes()) <= README_LIMIT


def test_every_relative_link_of_the_docs_resolves():
    assert len(DOCS) >= 7  # the README, CONTRIBUTING.md and the five pages of docs/
    assert {path.name: broken_links(path) for path in DOCS} == {path.name: [] for path in DOCS}


def test_the_link_check_sees_a_missing_file_and_a_missing_anchor(tmp_path):
    # The control: a check that finds nothing broken must be able to find something.
    page = tmp_path / "page.md"
    page.write_text("# Here\n\n[ok](#here) [file](page.md#here) [gone](nowhere.md) [anchor](page.md#there)\n")
    assert broken_links(page) == ["nowhere.md", "page.md#there"]


def test_every_test_a_doc_cites_exists():
    assert {path.name: missing_tests(path.read_text()) for path in DOCS} == {path.name: set() for path in DOCS}
    assert missing_tests("`test_every_test_a_doc_cites_exists` `test_every_*` `test_nothing_named_so`") == {
        "test_nothing_named_so"
    }


def test_the_bench_target_rewrites_the_benchmarks_page_which_holds_the_markers():
    makefile = (ROOT / "Makefile").read_text()
    (page,) = re.findall(r"bench/run\.py --readme (\S+)", makefile)
    text = (ROOT / page).read_text()
    assert [text.count(marker) for marker in BENCH_MARKERS] == [1, 1]
    assert text.index(BENCH_MARKERS[0]) < text.index(BENCH_MARKERS[1])


def test_the_bench_report_links_its_plot_relative_to_a_page_in_another_folder(tmp_path):
    page = tmp_path / "docs" / "benchmarks.md"
    page.parent.mkdir()
    page.write_text(f"before\n{BENCH_MARKERS[0]}\nold\n{BENCH_MARKERS[1]}\nafter\n")
    out = tmp_path / "bench" / "results"
    out.mkdir(parents=True)
    (out / "storm.png").write_bytes(b"png")
    update = "import sys, pathlib, report; report.update_readme(pathlib.Path(sys.argv[1]), 'TABLE', pathlib.Path(sys.argv[2]))"
    subprocess.run([sys.executable, "-c", update, page, out], cwd=ROOT / "bench", check=True, timeout=120)
    text = page.read_text()
    assert "TABLE" in text and "old" not in text
    assert broken_links(page) == []
    assert "](../bench/results/storm.png)" in text


def test_the_readme_quick_start_runs_as_written(docker_client):
    commands = quick_start()
    assert [command.split()[:2] for command in commands] == [
        ["make", "engine"],
        ["make", "image"],
        ["docker", "run"],
        ["make", "demo"],
    ]
    done = {}
    for command in commands:
        ran = subprocess.run(["sh", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=3600)
        assert ran.returncode == 0, f"{command}\n{ran.stdout[-2000:]}\n{ran.stderr[-2000:]}"
        done[command.split()[1]] = ran.stdout
    # The image the docker run line names is the one make image built and tagged.
    architecture = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    assert "local/python-reaper:3.13-$(dpkg --print-architecture)" in commands[2]
    assert f"local/python-reaper:3.13-{architecture}" in done["image"].split()
    assert done["run"] == "hello\n"
    image_lines = [line for line in done["demo"].splitlines() if "the image" in line]
    bare_lines = [line for line in done["demo"].splitlines() if "bare base" in line]
    assert image_lines[0].endswith("zombies left: 0") and bare_lines[0].endswith("zombies left: 1000")
    assert image_lines[1].endswith("exit status 143") and bare_lines[1].endswith("exit status 137")
