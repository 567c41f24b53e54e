"""Make N orphans as fast as possible, print ``done``, then stay alive.

usage: python3 orphans.py N [--wait]

With --wait it prints ``ready`` and waits for a line on stdin first, so
that the cost of the storm can be told from the start-up of its init.
Each orphan is a grandchild whose parent exits at once, so the orphan is
re-parented to the nearest reaper and exits there: a zombie until reaped.
The maker stays alive so that its init keeps running while it reaps.
"""

import os
import sys
import time

if "--wait" in sys.argv:
    print("ready", flush=True)
    sys.stdin.readline()
for _ in range(int(sys.argv[1])):
    middle = os.fork()
    if middle == 0:
        if os.fork() == 0:
            os._exit(0)
        os._exit(0)
    os.waitpid(middle, 0)
print("done", flush=True)
time.sleep(3600)
