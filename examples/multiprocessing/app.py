"""Work through items with a pool of two processes, one item per worker at a time.

On SIGTERM it hands out no new item, lets each worker finish the item it
holds (``pool.close()`` and ``pool.join()``) and exits 0.  The workers keep
SIGTERM's default action: the main process coordinates them.
"""

import itertools
import multiprocessing
import signal
import sys
import threading
import time

WORKERS = 2


class Stop(Exception):
    """Raised in the main thread by SIGTERM."""


def work(item):
    print(f"started {item}", flush=True)
    time.sleep(2)
    print(f"finished {item}", flush=True)


def stop(signum, frame):
    raise Stop


def main():
    pool = multiprocessing.Pool(WORKERS)
    free = threading.Semaphore(WORKERS)  # an item is handed out only to a worker that holds none
    signal.signal(signal.SIGTERM, stop)
    try:
        for item in itertools.count():
            free.acquire()
            pool.apply_async(work, (item,), callback=lambda _: free.release())
    except Stop:
        pool.close()
        pool.join()
        print("pool closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
