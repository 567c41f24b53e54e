"""A service with a background writer: it starts ``writer.py``, says ``serving`` and serves until stopped.

Like most apps it installs no SIGTERM handler and never stops its writer: the image's reaper
stops the writer when the app has exited (``REAPER_GRACE`` seconds at most).
"""

import subprocess
import sys
import time

subprocess.Popen([sys.executable, "writer.py"])
print("serving", flush=True)
while True:
    time.sleep(3600)
