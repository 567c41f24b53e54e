"""Measure python-reaper against tini, dumb-init and catatonit, side by side: each ``measure_*``
returns the figures of one measurement as plain data (JSON-ready), sized by FULL or QUICK.

The reaper runs as in the image: the image's own launcher with -ISB and the
bytecode made by image/compile.py, on a given Python, which is also the
interpreter of the floor ``python3 -I -S -c pass``.
"""

import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "image")]

from workloads import (  # noqa: E402
    APP_AS_PID1,
    NEW_PID_NAMESPACE,
    children,
    context_switches,
    namespace_pid1,
    proc_stat,
    stop_seconds,
)

PEERS = {"tini": ["tini", "--"], "dumb-init": ["dumb-init"], "catatonit": ["catatonit", "--"]}
PRINT_SIGNALS = ROOT / "tests" / "helpers" / "print_signals.py"
ORPHANS = Path(__file__).resolve().parent / "orphans.py"
KEEPALIVE = ROOT / "image" / "keepalive"
KEEPALIVE_CALLS = {"tail": ["-n", "1", "/dev/null"], "sleep": ["0"]}
WINDOW = Path(__file__).resolve().parent / "window.py"
SITE_HOOK = Path(__file__).resolve().parent / "site_hook.py"
REALTIME = ["chrt", "--fifo", "10"]

FULL = {
    "runs": 300,
    "rounds": 6,
    "idle_rounds": 3,
    "idle": 10.0,
    "orphans": 10_000,
    "cost_orphans": 5_000,
    "window_trials": 7,
    "signals": 600,
    "stops": 3,
    "stop_timeout": 3,
    "site_hook_pairs": 40,
}
QUICK = {
    "runs": 10,
    "rounds": 1,
    "idle_rounds": 1,
    "idle": 1.0,
    "orphans": 200,
    "cost_orphans": 200,
    "window_trials": 2,
    "signals": 20,
    "stops": 1,
    "stop_timeout": 1,
    "site_hook_pairs": 2,
}


def install_reaper(python, prefix):
    """Lay the reaper out under ``prefix`` as the image does; return the image's ENTRYPOINT on ``python``:
    ``python -ISB PREFIX/lib/python-reaper/pid1``, in exec form as the engine runs it (no ``#!``)."""
    library = prefix / "lib" / "python-reaper"
    shutil.copytree(ROOT / "entrypoint" / "reaper", library / "reaper", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([python, str(ROOT / "image" / "compile.py"), str(library)], check=True)
    launcher = library / "pid1"
    launcher.write_text((ROOT / "image" / "reaper").read_text().replace("/usr/local/lib/python-reaper", str(library)))
    return [python, "-ISB", str(launcher)]


def spread(samples):
    """Median and spread of samples: min, max, p99 and their count."""
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "n": len(ordered),
    }


def rotations(names, rounds):
    """``rounds`` orders of ``names``, each starting one further: measured in turn, a drift
    of the machine's speed during the run falls on every name alike."""
    names = list(names)
    return [names[turn % len(names) :] + names[: turn % len(names)] for turn in range(rounds)]


def measure_startup(inits, python, sizes):
    """``INIT /bin/true`` with hyperfine, directly and as PID 1 of a new PID namespace."""
    floor = [python, "-I", "-S", "-c", "pass"]
    commands = {"/bin/true": ["/bin/true"], "python3 -I -S -c pass": floor}
    commands.update({name: [*init, "/bin/true"] for name, init in inits.items()})
    results = {}
    for mode, wrap in (("direct", []), ("pid1", ["unshare", "--pid", "--fork"])):
        times = {name: [] for name in commands}
        for order in rotations(commands, sizes["rounds"]):
            with tempfile.NamedTemporaryFile(suffix=".json") as export:
                hyperfine = ["hyperfine", "-N", "--warmup", "3", "--runs", str(sizes["runs"] // sizes["rounds"])]
                hyperfine += ["--export-json", export.name, *(" ".join([*wrap, *commands[name]]) for name in order)]
                subprocess.run(hyperfine, check=True, stdout=subprocess.DEVNULL)
                runs = json.loads(Path(export.name).read_text())["results"]
            for name, run in zip(order, runs, strict=True):
                times[name] += [1000 * seconds for seconds in run["times"]]
        results[mode] = {name: spread(samples) for name, samples in times.items()}
    return results


def measure_keepalive(sizes):
    """The image's tail and sleep wrappers off PID 1 against the real programs: ms added per call; and
    the floor of any wrapper that execs the program, coreutils' ``env`` in front of it (one exec more)."""
    results = {}
    for program, args in KEEPALIVE_CALLS.items():
        commands = {
            "real": [f"/usr/bin/{program}", *args],
            "wrapper": [str(KEEPALIVE / program), *args],
            "one exec in front": ["/usr/bin/env", program, *args],
        }
        times = {name: [] for name in commands}
        for order in rotations(commands, sizes["rounds"]):
            with tempfile.NamedTemporaryFile(suffix=".json") as export:
                hyperfine = ["hyperfine", "-N", "--warmup", "5", "--runs", str(sizes["runs"] // sizes["rounds"])]
                hyperfine += ["--export-json", export.name, *(" ".join(commands[name]) for name in order)]
                subprocess.run(hyperfine, check=True, stdout=subprocess.DEVNULL)
                runs = json.loads(Path(export.name).read_text())["results"]
            for name, run in zip(order, runs, strict=True):
                times[name] += [1000 * seconds for seconds in run["times"]]
        results[program] = {name: spread(samples) for name, samples in times.items()}
        real = results[program]["real"]["median"]
        results[program]["added_ms"] = results[program]["wrapper"]["median"] - real
        results[program]["floor_ms"] = results[program]["one exec in front"]["median"] - real
    return results


def idle_processes(argvs, seconds):
    """Start each argv as PID 1 of a new namespace with a sleeping child; return VmRSS,
    RssAnon (KiB) and the context switches over ``seconds`` of idleness, per name."""
    started = {
        name: subprocess.Popen([*NEW_PID_NAMESPACE, *argv], stdout=subprocess.DEVNULL) for name, argv in argvs.items()
    }
    try:
        pid1 = {name: namespace_pid1(process.pid) for name, process in started.items()}
        time.sleep(1)
        before = {name: context_switches(pid) for name, pid in pid1.items()}
        time.sleep(seconds)
        found = {}
        for name, pid in pid1.items():
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            found[name] = {
                "vmrss_kib": int(status["VmRSS"].split()[0]),
                "rssanon_kib": int(status["RssAnon"].split()[0]),
                "wakeups": context_switches(pid) - before[name],
            }
        return found
    finally:
        for process in started.values():
            process.kill()
            process.wait()


def measure_idle(inits, python, sizes):
    """Idle memory and wake-ups of each init with a sleeping child, and of a bare interpreter."""
    argvs = {name: [*init, "sleep", "3600"] for name, init in inits.items()}
    argvs["python3 -I -S (idle)"] = [python, "-I", "-S", "-c", "import time; time.sleep(3600)"]
    rounds = [idle_processes(argvs, sizes["idle"]) for _ in range(sizes["idle_rounds"])]
    return {
        name: {key: statistics.median(round_[name][key] for round_ in rounds) for key in rounds[0][name]}
        | {"idle_seconds": sizes["idle"]}
        for name in argvs
    }


def storm(argv, count):
    """Run the orphan maker under ``argv`` as PID 1; sample its zombies until none is left.

    Returns seconds until the maker finished, until no zombie was left (None if
    never), the peak zombie count, and the samples ``(seconds, zombies)``.
    """
    process = subprocess.Popen(
        [*NEW_PID_NAMESPACE, *argv, sys.executable, str(ORPHANS), str(count)], stdout=subprocess.PIPE
    )
    try:
        init = namespace_pid1(process.pid)
        started = time.monotonic()
        samples, done, cleared = [], None, None
        while True:
            now = time.monotonic() - started
            zombies = max(0, len(children(init)) - 1)  # every child of the init but the maker
            samples.append((now, zombies))
            if (
                done is None
                and select.select([process.stdout], [], [], 0)[0]
                and b"done" in os.read(process.stdout.fileno(), 64)
            ):
                done = now
            if done is not None and zombies == 0:
                cleared = now
                break
            if (done is not None and now - done > 1) or now > 120:
                break
            time.sleep(0.005)
        peak = max(zombies for _, zombies in samples)
        kept = [*samples[:: max(1, len(samples) // 400)], samples[-1]]  # enough for the plot
        return {"made": done, "cleared": cleared, "peak": peak, "samples": kept}
    finally:
        process.kill()
        process.wait()


def measure_storm(inits, python, sizes):
    runs = {name: storm(init, sizes["orphans"]) for name, init in inits.items()}
    runs["non-reaping PID 1"] = storm([python, *APP_AS_PID1[1:]], sizes["orphans"])
    return {"orphans": sizes["orphans"], "runs": runs}


def measure_reap_cost(inits, sizes):
    """CPU time of the init as PID 1 per reaped orphan, in µs: the run time in its
    ``/proc/PID/schedstat`` over a storm, from the moment it idles to the moment no zombie is left;
    and its split between user and kernel time (``/proc/PID/stat``, in clock ticks: coarser)."""
    costs = {name: {"total": [], "user": [], "kernel": []} for name in inits}
    for order in rotations(inits, sizes["rounds"]):
        for name in order:
            for part, cost in reap_cost(inits[name], sizes["cost_orphans"]).items():
                costs[name][part].append(cost)
    return {
        "orphans": sizes["cost_orphans"],
        "us_per_reap": {name: spread(parts["total"]) for name, parts in costs.items()},
        "split_us_per_reap": {
            name: {part: statistics.median(parts[part]) for part in ("user", "kernel")} for name, parts in costs.items()
        },
    }


def reap_cost(init, count):
    """µs of CPU per reap of one storm of ``count`` orphans under ``init``: total, user and kernel."""
    argv = [*NEW_PID_NAMESPACE, *init, sys.executable, str(ORPHANS), str(count), "--wait"]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        pid1 = namespace_pid1(process.pid)
        assert process.stdout.readline() == b"ready\n"
        before, ticks_before = cpu_ns(pid1), cpu_ticks(pid1)
        process.stdin.write(b"go\n")
        process.stdin.flush()
        assert process.stdout.readline() == b"done\n"
        deadline = time.monotonic() + 60
        while len(children(pid1)) > 1 and time.monotonic() < deadline:  # the maker stays
            time.sleep(0.005)
        total, ticks = (
            cpu_ns(pid1) - before,
            [after - was for after, was in zip(cpu_ticks(pid1), ticks_before, strict=True)],
        )
        per_tick = 1e6 / os.sysconf("SC_CLK_TCK")
        return {
            "total": total / count / 1000,
            **{part: spent * per_tick / count for part, spent in zip(("user", "kernel"), ticks, strict=True)},
        }
    finally:
        process.kill()
        process.wait()


def cpu_ticks(pid):
    """Clock ticks ``pid`` has spent in user mode and in the kernel so far (utime, stime)."""
    fields = proc_stat(pid)[1]
    return int(fields[11]), int(fields[12])


def cpu_ns(pid):
    """Nanoseconds ``pid`` has run on a CPU so far (the first field of its schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def measure_startup_window(inits, sizes):
    """How long after its fork a SIGTERM to the init as PID 1 is still lost, in ms (see bench/window.py).

    Bisects the delay between lost and caught, each probe taken by a majority
    of ``window_trials`` trials, to 0.25 ms; the fork and exec are in it.  The
    probes run at a real-time priority, so that other work on the machine
    does not stretch the window.
    """
    windows = {}
    for name, init in inits.items():
        caught_at, lost_at = 100.0, None
        low = 0.0
        while caught_at - low > 0.25:
            middle = (low + caught_at) / 2
            if signal_lost(init, middle, sizes["window_trials"]):
                low = lost_at = middle
            else:
                caught_at = middle
        windows[name] = lost_at or 0.0
    return windows


def signal_lost(init, delay_ms, trials):
    lost = 0
    for _ in range(trials):
        probe = [*REALTIME, sys.executable, str(WINDOW), f"{delay_ms}", *init]
        probe = subprocess.run(probe, capture_output=True, text=True, check=True)
        lost += probe.stdout.strip() == "lost"
    return lost * 2 > trials


def measure_latency(inits, sizes):
    """Microseconds from ``kill`` on the init to the child's receipt, for SIGUSR1 sent one at a time."""
    latencies = {name: [] for name in inits}
    for order in rotations(inits, sizes["rounds"]):
        for name in order:
            latencies[name] += signal_latencies(inits[name], sizes["signals"] // sizes["rounds"])
    return {name: spread(samples) for name, samples in latencies.items()}


def signal_latencies(init, count):
    argv = [*NEW_PID_NAMESPACE, *init, sys.executable, str(PRINT_SIGNALS), "--stamp"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        pid1 = namespace_pid1(process.pid)
        assert process.stdout.readline().strip() == "ready"
        latencies = []
        for _ in range(count):
            sent = time.monotonic_ns()
            os.kill(pid1, signal.SIGUSR1)
            latencies.append((int(process.stdout.readline().split()[1]) - sent) / 1000)
        return latencies
    finally:
        process.kill()
        process.wait()


SHUTDOWN_APPS = {
    "honours SIGTERM": [
        "python3",
        "-c",
        "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); time.sleep(1000)",
    ],
    "ignores SIGTERM": [
        "python3",
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(1000)",
    ],
    "shell-wrapped": ["sh", "-c", "python3 -c 'import time; time.sleep(1000)'; exit $?"],
}


def measure_docker(sizes):
    """docker stop times of three apps: the image, the bare base, and the bare base with --init;
    then the image's cost: bytes added to the base and a build with a warm cache."""
    import docker

    from bake import bake_targets, build
    from offline import choose_base

    client = docker.from_env()
    target = bake_targets()["py313-trixie"]
    base, kind = choose_base(client, target, log=lambda message: None)
    build(client, target, base, tags=["python-reaper-bench:py313-trixie"])
    started = time.monotonic()
    image = build(client, target, base, tags=["python-reaper-bench:py313-trixie"])
    warm_build = time.monotonic() - started
    modes = {"python-reaper": (image.id, {}), "bare base": (base, {}), "bare base --init": (base, {"init": True})}
    stops = {}
    for app, command in SHUTDOWN_APPS.items():
        for mode, (reference, options) in modes.items():
            seconds = []
            for _ in range(sizes["stops"]):
                container = client.containers.run(reference, command, detach=True, **options)
                try:
                    seconds.append(stop_seconds(container, timeout=sizes["stop_timeout"])[0])
                finally:
                    container.remove(force=True)
            stops.setdefault(app, {})[mode] = spread(seconds)
    added = image.attrs["Size"] - client.images.get(base).attrs["Size"]
    site_hook = client.containers.run(
        image.id,
        ["python3", "/bench/site_hook.py", str(sizes["site_hook_pairs"])],
        volumes={str(SITE_HOOK.parent): {"bind": "/bench", "mode": "ro"}},
        remove=True,
    )
    return {
        "base": base,
        "base_kind": kind,
        "stop_timeout": sizes["stop_timeout"],
        "stop_seconds": stops,
        "image": {"bytes_added": added, "warm_build_seconds": warm_build},
        "site_hook": json.loads(site_hook),
    }


def machine(python):
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown")
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
    ).stdout.strip()
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(), "python": f"{python} {version}"}
