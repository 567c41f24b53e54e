"""A master that handles SIGHUP and SIGTERM itself and runs one worker in its own process group, as
gunicorn and celery do.

Prints ``ready`` once its worker runs and ``HUP`` on each SIGHUP.  On SIGTERM
it stops its worker, prints ``worker N`` with the worker's return code (-1
when a SIGHUP meant for the master killed it, -15 when the master stopped it)
and exits 0.  The worker handles nothing: a signal sent to the group kills it.
"""

import signal
import subprocess
import sys


def stop(signum, frame):
    worker.terminate()
    print("worker", worker.wait(), flush=True)
    sys.exit(0)


signal.signal(signal.SIGHUP, lambda signum, frame: print("HUP", flush=True))
signal.signal(signal.SIGTERM, stop)
worker = subprocess.Popen(
    [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"], stdout=subprocess.PIPE
)
worker.stdout.readline()
print("ready", flush=True)
while True:
    signal.pause()
