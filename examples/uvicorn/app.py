"""An ASGI app: ``/sleep/N`` answers after N seconds, any other path at once.

It prints ``begin PATH`` when a request reaches a worker and ``end PATH`` before it answers.
"""

import asyncio


async def app(scope, receive, send):
    path = scope["path"]
    print(f"begin {path}", flush=True)
    if path.startswith("/sleep/"):
        await asyncio.sleep(float(path.removeprefix("/sleep/")))
    body = f"done {path}\n".encode()
    print(f"end {path}", flush=True)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
