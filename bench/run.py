"""Measure python-reaper against tini, dumb-init and catatonit, side by side in one run.

usage: python3 bench/run.py [--quick] [--out DIR] [--readme docs/benchmarks.md] [--python PYTHON]

Writes DIR/latest.json (every figure, the machine, the date), DIR/latest.md
(the table) and DIR/*.png (plots); with --readme, also replaces the part of
that file between the ``bench:start`` and ``bench:end`` markers with the
table and the storm plot.  --quick uses tiny sizes: the test suite runs it
so that the benchmarks cannot rot.  A full run exits 1, naming them, when
any target is missed; a --quick run never fails on a timing.

The reaper runs as the image's ENTRYPOINT runs it (exec form, ``PYTHON -ISB
pid1``, the bytecode made by image/compile.py) on PYTHON (default /usr/bin/python3),
which is also the interpreter of the floor ``python3 -I -S -c pass``.
"""

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from measure import (
    FULL,
    PEERS,
    QUICK,
    ROOT,
    install_reaper,
    machine,
    measure_docker,
    measure_idle,
    measure_keepalive,
    measure_latency,
    measure_reap_cost,
    measure_startup,
    measure_startup_window,
    measure_storm,
)
from report import plot, table, update_readme, verdicts


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--readme", type=Path, help="replace the bench section of this Markdown file")
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter of the reaper and of the floor")
    parser.add_argument("--no-docker", action="store_true", help="leave out docker stop and the image")
    options = parser.parse_args(argv)
    sizes = QUICK if options.quick else FULL
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="python-reaper-bench-") as prefix:
        inits = {"python-reaper": install_reaper(options.python, Path(prefix)), **PEERS}
        results = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(options.python),
            "sizes": sizes,
        }
        for name, measure in (
            ("startup", lambda: measure_startup(inits, options.python, sizes)),
            ("idle", lambda: measure_idle(inits, options.python, sizes)),
            ("storm", lambda: measure_storm(inits, options.python, sizes)),
            ("reap_cost", lambda: measure_reap_cost(inits, sizes)),
            ("startup_window", lambda: measure_startup_window(inits, sizes)),
            ("latency", lambda: measure_latency(inits, sizes)),
            ("keepalive", lambda: measure_keepalive(sizes)),
        ):
            print(f"measuring {name}", flush=True)
            results[name] = measure()
    if not options.no_docker:
        print("measuring docker stop and the image", flush=True)
        results["docker"] = measure_docker(sizes)
    results["targets"] = verdicts(results)
    (options.out / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    report = table(results)
    (options.out / "latest.md").write_text(report + "\n")
    plot(results, options.out)
    if options.readme:
        update_readme(options.readme, report, options.out.resolve())
    print(report)
    missed = [name for name, check in results["targets"].items() if not check["met"]]
    if missed and not options.quick:
        sys.exit(f"bench: targets missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
