"""Build the image on the best base available and show what it changes, side by side.

usage: python3 image/demo.py [TARGET]   (default: py313-trixie)

Runs the same orphan storm under a Python app as PID 1, first in the bare
base and then in the image, and prints the zombies each leaves; then times
``docker stop`` of an idle Python app in both.
"""

import os
import sys

import docker

from bake import LOCAL_REGISTRY, bake_targets, build, local_tags, native_platform
from offline import choose_base
from workloads import APP_AS_PID1, SLEEPER, orphan_storm, stop_seconds, zombies_reported

ORPHANS = 1000
IDLE_APP = SLEEPER


def zombies_left(client, image):
    output = client.containers.run(image, [*APP_AS_PID1, "sh", "-c", orphan_storm(ORPHANS)], remove=True)
    return zombies_reported(output.decode())


def stop_idle_app(client, image):
    container = client.containers.run(image, IDLE_APP, detach=True)
    try:
        return stop_seconds(container, timeout=10)
    finally:
        container.remove(force=True)


def main(argv):
    name = argv[0] if argv else "py313-trixie"
    client = docker.from_env()
    target = bake_targets(environ={**os.environ, "REGISTRY": LOCAL_REGISTRY})[name]
    base, kind = choose_base(client, target)
    tags = local_tags(target, native_platform())
    build(client, target, base, tags=tags)
    image = tags[0]
    print(f"built {image} on the {kind} base {base}\n")
    rows = [(f"bare base  {base}", base), (f"the image  {image}", image)]
    print(f"{ORPHANS} orphans made under a Python app as PID 1:")
    for label, ref in rows:
        print(f"  {label:60} zombies left: {zombies_left(client, ref)}")
    print("\ndocker stop of an idle Python app:")
    for label, ref in rows:
        seconds, status = stop_idle_app(client, ref)
        print(f"  {label:60} {seconds:5.1f} s, exit status {status}")


if __name__ == "__main__":
    main(sys.argv[1:])
