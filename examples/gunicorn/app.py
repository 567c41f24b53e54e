"""A WSGI app: ``/sleep/N`` answers after N seconds, any other path at once.

It prints ``begin PATH`` when a request reaches a worker and ``end PATH`` before it answers.
"""

import time


def app(environ, start_response):
    path = environ["PATH_INFO"]
    print(f"begin {path}", flush=True)
    if path.startswith("/sleep/"):
        time.sleep(float(path.removeprefix("/sleep/")))
    body = f"done {path}\n".encode()
    print(f"end {path}", flush=True)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
