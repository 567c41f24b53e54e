"""Create children every way Python can, and print what their waits saw, while orphans storm beside.

The helper program of the library's in-process reaping tests (issue 11).
``children_workload.py MODE STORM``: MODE ``reap`` calls ``reaper.reap()``
(run it as PID 1), ``start`` calls ``reaper.start(Config(enable_child_subreaper=True))``,
``naive`` reaps as the library did before it knew the program's children
(the control: a thread that takes any child on every SIGCHLD, as a
subreaper off PID 1); STORM is a
shell script that makes orphans and prints ``zombies=N``.  Prints one JSON
object: for each way of creating a child, a count of what its wait returned.
"""

import asyncio
import collections
import json
import multiprocessing
import os
import pty
import signal
import subprocess
import sys
import threading
import time


def naive_reaping():
    """The library's reaping thread before issue 11: waitpid(-1, 0) until no child is left, on every SIGCHLD."""
    if os.getpid() != 1:
        from reaper._proc import become_subreaper

        become_subreaper()
    wake_up, woken = os.pipe()
    os.set_blocking(woken, False)
    signal.signal(signal.SIGCHLD, lambda *_: os.write(woken, b"!"))

    def reap_forever():
        while True:
            os.read(wake_up, 4096)
            try:
                while os.waitpid(-1, 0)[0]:
                    pass
            except ChildProcessError:
                pass

    threading.Thread(target=reap_forever, daemon=True).start()


def counted(make, times):
    """Call ``make`` ``times`` times; count what it returned (or raised, by the exception's name)."""
    seen = collections.Counter()
    for _ in range(times):
        try:
            seen[repr(make())] += 1
        except Exception as error:
            seen[type(error).__name__] += 1
    return dict(seen)


def subprocess_runs(total, threads):
    seen = collections.Counter()

    def runs():
        seen.update(counted(lambda: subprocess.run(["sh", "-c", "exit 7"]).returncode, total // threads))

    workers = [threading.Thread(target=runs) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return dict(seen)


def asyncio_runs(total):
    async def one():
        process = await asyncio.create_subprocess_exec("sh", "-c", "exit 7")
        return await process.wait()

    async def all_of_them():
        return await asyncio.gather(*(one() for _ in range(total)), return_exceptions=True)

    return dict(collections.Counter(repr(code) for code in asyncio.run(all_of_them())))


def multiprocessing_exit(method):
    process = multiprocessing.get_context(method).Process(target=sys.exit, args=(7,))
    process.start()
    process.join()
    return process.exitcode


def forked():
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def pty_forked():
    pid, terminal = pty.fork()
    if pid == 0:
        os._exit(7)
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        os.close(terminal)


def posix_spawned():
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 7"], os.environ)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def zombie_children(command=None):
    """Zombies among this process's children (only those running ``command``, when given)."""
    found = 0
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as listed:
            for pid in listed.read().split():
                try:
                    with open(f"/proc/{pid}/stat") as stat:
                        name, state = stat.read().split(" (", 1)[1].rsplit(") ", 1)
                except (FileNotFoundError, ProcessLookupError):  # reaped meanwhile
                    continue
                found += state.startswith("Z") and command in (None, name)
    return found


def main(mode, storm_script):
    if mode == "naive":
        naive_reaping()
    else:
        import reaper

        reaper.reap() if mode == "reap" else reaper.start(reaper.Config(enable_child_subreaper=True))
    storm = subprocess.Popen(["sh", "-c", storm_script], stdout=subprocess.PIPE, text=True)
    results = {
        "subprocess.run": subprocess_runs(1000, 4),
        "asyncio": asyncio_runs(200),
        **{
            f"multiprocessing {method}": counted(lambda method=method: multiprocessing_exit(method), 1)
            for method in ("fork", "spawn", "forkserver")
        },
        "os.system": counted(lambda: os.system("exit 7"), 20),
        "os.spawnv": counted(lambda: os.spawnv(os.P_WAIT, "/bin/sh", ["sh", "-c", "exit 7"]), 20),
        "os.fork": counted(forked, 20),
        "os.popen": counted(lambda: os.popen("exit 7").close(), 20),
        "os.posix_spawn": counted(posix_spawned, 20),
        "pty.fork": counted(pty_forked, 20),
    }
    results["storm"] = storm.communicate()[0].strip()
    multiprocessing.active_children()  # nothing of the workload is left but the forkserver and resource tracker
    deadline = time.monotonic() + 5
    while zombie_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    results["zombies left"] = zombie_children()
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
