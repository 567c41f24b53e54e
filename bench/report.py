"""Report the benchmarks' results: each target met or missed, the Markdown tables, the plots, and
the generated part of a Markdown page (docs/benchmarks.md)."""

import os
from pathlib import Path

from measure import PEERS

TARGETS = {
    "startup": 1.35,
    "startup_direct": 1.35,
    "memory": 1.15,
    "wakeups": 0,
    "storm": 1.1,
    "latency": 1.5,
    "reap_cost": 1.5,
    "keepalive_ms": 0.5,
}
"""Each measured figure's largest value that meets its target: ratios to the floor or the best peer, a count, ms."""


def startup_ratio(startup, mode):
    """The reaper's start-up over the floor's, ``mode`` ``"direct"`` or ``"pid1"``; as PID 1 the
    namespace's own cost (``unshare /bin/true`` less ``/bin/true``) is taken off both."""
    namespace = (
        startup["pid1"]["/bin/true"]["median"] - startup["direct"]["/bin/true"]["median"] if mode == "pid1" else 0
    )
    reaper = startup[mode]["python-reaper"]["median"] - namespace
    return reaper / (startup[mode]["python3 -I -S -c pass"]["median"] - namespace)


def verdicts(results):
    """Each target, its measured value and whether it is met."""
    idle = results["idle"]
    storm_runs = results["storm"]["runs"]
    peers_cleared = [storm_runs[name]["cleared"] for name in PEERS if storm_runs[name]["cleared"] is not None]
    reap_costs = results["reap_cost"]["us_per_reap"]
    checks = {
        "startup": startup_ratio(results["startup"], "pid1"),
        "startup_direct": startup_ratio(results["startup"], "direct"),
        "memory": idle["python-reaper"]["vmrss_kib"] / idle["python3 -I -S (idle)"]["vmrss_kib"],
        "wakeups": idle["python-reaper"]["wakeups"],
        "storm": (storm_runs["python-reaper"]["cleared"] or float("inf")) / min(peers_cleared),
        "latency": results["latency"]["python-reaper"]["median"] / results["latency"]["tini"]["median"],
        "reap_cost": reap_costs["python-reaper"]["median"] / min(reap_costs[name]["median"] for name in PEERS),
        "keepalive_ms": max(program["added_ms"] for program in results["keepalive"].values()),
    }
    return {
        name: {"measured": value, "target": TARGETS[name], "met": value <= TARGETS[name]}
        for name, value in checks.items()
    }


def _rows(title, header, lines):
    """A Markdown table under a bold title, and a blank line."""
    return [
        f"**{title}**",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines),
        "",
    ]


def _startup(results):
    startup = results["startup"]
    floor = {mode: startup[mode]["python3 -I -S -c pass"]["median"] for mode in startup}
    inits = ["python-reaper", *PEERS]

    def cell(mode, name):
        figure = startup[mode][name]
        against_floor = f", {figure['median'] / floor[mode]:.2f}x floor" if name in inits else ""
        return f"{figure['median']:.2f} ({figure['min']:.2f}-{figure['max']:.2f})" + against_floor

    return _rows(
        "Start-up: `INIT /bin/true`, median ms (spread)",
        ["", "direct", "as PID 1 (in `unshare`)"],
        [[name, *(cell(mode, name) for mode in startup)] for name in ["/bin/true", "python3 -I -S -c pass", *inits]],
    )


def _idle(results):
    idle = results["idle"]
    return _rows(
        f"Idle, with a sleeping child, as PID 1 (wake-ups over {idle['python-reaper']['idle_seconds']:g} s)",
        ["", "VmRSS KiB", "RssAnon KiB", "context switches"],
        [[name, idle[name]["vmrss_kib"], idle[name]["rssanon_kib"], idle[name]["wakeups"]] for name in idle],
    )


def _storm(results):
    return _rows(
        f"Orphan storm: {results['storm']['orphans']:,} orphans under the init as PID 1",
        ["", "made in s", "no zombie left at s", "peak zombies"],
        [
            [
                name,
                f"{run['made']:.2f}" if run["made"] else "-",
                f"{run['cleared']:.2f}" if run["cleared"] else "never",
                run["peak"],
            ]
            for name, run in results["storm"]["runs"].items()
        ],
    )


def _reap_cost(results):
    cost = results["reap_cost"]
    best_peer = min(cost["us_per_reap"][name]["median"] for name in PEERS)
    return _rows(
        f"Cost of a reap: CPU time of the init as PID 1 per reaped orphan (`/proc/PID/schedstat`, "
        f"{cost['orphans']:,} orphans), µs",
        ["", "median", "spread", "against the best peer", "user", "kernel"],
        [
            [
                name,
                f"{run['median']:.1f}",
                f"{run['min']:.1f}-{run['max']:.1f}",
                f"{run['median'] / best_peer:.2f}x",
                *(f"{cost['split_us_per_reap'][name][part]:.1f}" for part in ("user", "kernel")),
            ]
            for name, run in cost["us_per_reap"].items()
        ],
    )


def _startup_window(results):
    window = results["startup_window"]
    return _rows(
        "Start-up window: a SIGTERM sent to the init as PID 1 this long after its fork is lost, ms",
        ["", "window"],
        [[name, f"{window[name]:.1f}"] for name in window],
    )


def _latency(results):
    latency = results["latency"]
    return _rows(
        "Signal forwarding: `kill` on the init to the child's receipt, µs",
        ["", "median", "p99", "signals"],
        [
            [name, f"{latency[name]['median']:.0f}", f"{latency[name]['p99']:.0f}", latency[name]["n"]]
            for name in latency
        ],
    )


def _keepalive(results):
    return _rows(
        "Keep-alive wrappers off PID 1 (`tail -n 1 /dev/null`, `sleep 0`), median ms per call "
        "(the floor: one exec more, `env PROGRAM`)",
        ["", "real program", "through the image's wrapper", "added", "floor added"],
        [
            [
                f"`{program}`",
                f"{by_kind['real']['median']:.2f}",
                f"{by_kind['wrapper']['median']:.2f}",
                f"{by_kind['added_ms']:.2f}",
                f"{by_kind['floor_ms']:.2f}",
            ]
            for program, by_kind in results["keepalive"].items()
        ],
    )


def _docker(results):
    """The docker stop table and the image's cost; nothing for a run without docker (--no-docker)."""
    if "docker" not in results:
        return []
    docker = results["docker"]
    modes = list(next(iter(docker["stop_seconds"].values())))
    stops = _rows(
        f"`docker stop -t {docker['stop_timeout']}`, median s ({docker['base_kind']} base `{docker['base']}`)",
        ["app", *modes],
        [
            [app, *(f"{by_mode[mode]['median']:.2f}" for mode in modes)]
            for app, by_mode in docker["stop_seconds"].items()
        ],
    )
    image, hook = docker["image"], docker["site_hook"]
    with_hook, without = hook["with the hook"], hook["without"]
    return [
        *stops,
        f"Image: {image['bytes_added']:,} bytes added to the base; build with a warm cache "
        f"{image['warm_build_seconds']:.2f} s.",
        "",
        *_rows(
            f"The site hook off PID 1: `python3 -c pass` in the image (Python {hook['python']}), "
            f"median ms of {hook['starts']} starts each",
            ["", "CPU", "wall"],
            [
                ["with the hook", f"{with_hook['cpu_ms']:.2f}", f"{with_hook['wall_ms']:.2f}"],
                ["without", f"{without['cpu_ms']:.2f}", f"{without['wall_ms']:.2f}"],
                ["added", *(f"{with_hook[key] - without[key]:+.2f}" for key in ("cpu_ms", "wall_ms"))],
            ],
        ),
    ]


def _targets(results):
    return _rows(
        "Targets",
        ["", "measured", "target", "met"],
        [
            [
                name,
                f"{check['measured']:.2f}" if isinstance(check["measured"], float) else check["measured"],
                f"<= {check['target']}",
                "yes" if check["met"] else "**no**",
            ]
            for name, check in results["targets"].items()
        ],
    )


SECTIONS = (_startup, _idle, _storm, _reap_cost, _startup_window, _latency, _keepalive, _docker, _targets)
"""The tables of the report, in its order."""


def table(results):
    """The Markdown report: the machine, then one table a measurement, every init in a column."""
    machine = results["machine"]
    out = [
        f"Measured {results['date']} on {machine['cpu']}, {machine['cores']} cores, "
        f"Linux {machine['kernel']}, {machine['python']}.",
        "",
    ]
    for section in SECTIONS:
        out += section(results)
    return "\n".join(out)


def plot(results, out):
    """storm.png: zombies over time under each init; startup.png: start-up against the floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for name, run in results["storm"]["runs"].items():
        seconds, zombies = zip(*run["samples"], strict=True)
        axes.plot(seconds, zombies, label=name, linestyle="--" if name.startswith("non-reaping") else "-")
    axes.set(
        xlabel="seconds since the storm began",
        ylabel="zombies",
        title=f"{results['storm']['orphans']:,} orphans under each init as PID 1 ({results['date'][:10]})",
    )
    axes.legend()
    figure.tight_layout()
    figure.savefig(out / "storm.png", dpi=100)
    plt.close(figure)

    startup = results["startup"]["direct"]
    names = ["/bin/true", "python3 -I -S -c pass", "python-reaper", *PEERS]
    figure, axes = plt.subplots(figsize=(8, 3.5))
    axes.barh(names, [startup[name]["median"] for name in names])
    axes.set(xlabel="ms, median", title="Start-up: INIT /bin/true")
    axes.invert_yaxis()
    figure.tight_layout()
    figure.savefig(out / "startup.png", dpi=100)
    plt.close(figure)


def update_readme(readme, report, out):
    text = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    # Relative to the page, wherever it is: docs/benchmarks.md links ../bench/results/storm.png.
    picture = Path(os.path.relpath(out / "storm.png", readme.parent.resolve())).as_posix()
    generated = f"{start}\n<!-- written by bench/run.py: do not edit by hand -->\n\n{report}\n![Zombies over time]({picture})\n{end}"
    readme.write_text(before + generated + after)
