"""A background writer: it counts in memory and writes the count to /data/count only on SIGTERM."""

import signal
import sys
import time
from pathlib import Path

count = 0


def flush(signum, frame):
    Path("/data/count").write_text(f"flushed {count}\n")
    sys.exit(0)


signal.signal(signal.SIGTERM, flush)
Path("/data/started").touch()
while True:
    count += 1
    time.sleep(0.1)
