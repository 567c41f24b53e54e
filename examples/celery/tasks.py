"""A celery app whose broker is a folder (kombu's filesystem:// transport): no broker server.

``slow(seconds)`` prints ``task started`` and, ``seconds`` later, ``task finished``.
"""

import time
from pathlib import Path

from celery import Celery

BROKER = Path("/tmp/broker")  # the worker and whoever sends tasks share it: run both in one container
for folder in ("messages", "processed", "control"):
    (BROKER / folder).mkdir(parents=True, exist_ok=True)

app = Celery("tasks", broker="filesystem://")
app.conf.update(
    broker_transport_options={
        "data_folder_in": str(BROKER / "messages"),
        "data_folder_out": str(BROKER / "messages"),
        "processed_folder": str(BROKER / "processed"),
        "store_processed": True,
        "control_folder": str(BROKER / "control"),
    },
    task_ignore_result=True,
)


@app.task
def slow(seconds):
    print("task started", flush=True)
    time.sleep(seconds)
    print("task finished", flush=True)
