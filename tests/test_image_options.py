"""The options in the image: a nested reaper's own options, --user, --pdeathsig and --cpu-count."""

from workloads import stop_seconds

SLEEPER = ["python3", "-c", "import time; time.sleep(1000)"]


def test_a_nested_reaper_applies_its_own_stop_delay(image, containers):
    seconds, status = stop_seconds(containers(image.tag, ["reaper", "--stop-delay", "2", "--", *SLEEPER]), timeout=10)
    assert 2 <= seconds < 4
    assert status == 143


def test_a_nested_reaper_applies_its_own_exit_map(image, containers):
    container = containers(image.tag, ["reaper", "--exit-map", "143:0", "--", "sh", "-c", "kill -TERM $$"])
    assert container.wait(timeout=60)["StatusCode"] == 0
