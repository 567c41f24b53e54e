"""A smoke run of the benchmarks with tiny sizes, so that they cannot rot."""

import json
import subprocess
import sys

from support import ROOT


def test_the_benchmarks_run_and_report_every_measurement(tmp_path, docker_client):
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- bench:start -->\nold\n<!-- bench:end -->\nafter\n")
    out = tmp_path / "results"
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out), "--readme", str(readme)]
    subprocess.run(command, check=True, timeout=600, capture_output=True)
    results = json.loads((out / "latest.json").read_text())
    assert set(results) >= {
        "machine",
        "startup",
        "idle",
        "storm",
        "reap_cost",
        "startup_window",
        "latency",
        "keepalive",
        "docker",
        "targets",
    }
    assert (
        set(results["reap_cost"]["us_per_reap"])
        == set(results["startup_window"])
        == {
            "python-reaper",
            "tini",
            "dumb-init",
            "catatonit",
        }
    )
    assert all(cost["median"] > 0 for cost in results["reap_cost"]["us_per_reap"].values())
    for section in ("latency", "storm"):
        assert {"python-reaper", "tini", "dumb-init", "catatonit"} <= set(
            results[section] if section == "latency" else results[section]["runs"]
        )
    assert results["storm"]["runs"]["python-reaper"]["cleared"] is not None
    assert results["storm"]["runs"]["non-reaping PID 1"]["cleared"] is None
    assert set(results["targets"]) == {
        "startup",
        "startup_direct",
        "memory",
        "wakeups",
        "storm",
        "latency",
        "reap_cost",
        "keepalive_ms",
    }
    hook = results["docker"]["site_hook"]
    assert hook["starts"] == 20 and all(hook[name]["cpu_ms"] > 0 for name in ("with the hook", "without"))
    assert set(results["keepalive"]) == {"tail", "sleep"}
    assert (out / "storm.png").stat().st_size > 0 and (out / "startup.png").stat().st_size > 0
    text = readme.read_text()
    assert text.startswith("before\n<!-- bench:start -->") and text.endswith("<!-- bench:end -->\nafter\n")
    assert (
        "old" not in text
        and "Orphan storm" in text
        and "Keep-alive wrappers" in text
        and "Cost of a reap" in text
        and "site hook" in text
    )
