"""The ``reaper`` command line: ``reaper [OPTIONS] [--] COMMAND [ARG...]``.

Reads the options and their environment variables (an option always wins
over its variable), then either supervises COMMAND or, when a reaper already
runs above this process, execs COMMAND in its place and adds no process.
"""

import _signal
import posix  # not os: see _supervisor
import sys

from reaper import __version__, _proc
from reaper._signals import CATCHABLE, parse_signal, signal_name
from reaper._supervisor import environ, replace_process, say, supervise

USAGE = """\
usage: reaper [OPTIONS] [--] COMMAND [ARG...]

Run COMMAND as the only child of a reaper: zombies are reaped, signals are
forwarded to COMMAND, its exit status is passed through, and
when it exits every process left is sent SIGTERM, then SIGKILL after a grace
period.

options (each has an environment variable; the option wins):
  --grace SECONDS    time left processes get between SIGTERM and SIGKILL
                     [REAPER_GRACE, default 5]
  --forward MODE     forward signals to COMMAND's process 'group', to the
                     'child' alone, or 'auto': to the child alone when it
                     handles the signal, else to its group
                     [REAPER_FORWARD, default auto]
  --rewrite FROM:TO  forward signal FROM as TO, or drop it when TO is 0;
                     repeatable; signals by name (TERM, SIGTERM) or number
                     [REAPER_REWRITE=FROM:TO,FROM:TO]
  --stop-delay SECONDS
                     hold the first SIGTERM this long before forwarding it;
                     a second SIGTERM or a SIGINT ends the wait
                     [REAPER_STOP_DELAY, default 0]
  --stop-all         forward a SIGTERM to every process left too, not only
                     to COMMAND [REAPER_STOP_ALL=1]
  --exit-map FROM:TO exit with TO when the status would be FROM (0-255);
                     repeatable [REAPER_EXIT_MAP=FROM:TO,FROM:TO]
  -v, --verbose      log the spawn, each reaped process, each forwarded signal
                     and the shutdown to stderr [REAPER_DEBUG=1]
  -V, --version      print the version and exit
  -h, --help         print this help and exit

exit status: COMMAND's own, 128+N when signal N killed it, 127 when COMMAND
is not found, 126 when it cannot be run (each mapped by --exit-map), 2 for a
usage error.
"""

_SWITCHES = {
    "-h": "help",
    "--help": "help",
    "-V": "version",
    "--version": "version",
    "-v": "verbose",
    "--verbose": "verbose",
    "--stop-all": "stop_all",
}
_VALUED = {
    "--grace": "grace",
    "--forward": "forward",
    "--rewrite": "rewrite",
    "--stop-delay": "stop_delay",
    "--exit-map": "exit_map",
}
_ENVIRONMENT = {
    "grace": "REAPER_GRACE",
    "forward": "REAPER_FORWARD",
    "rewrite": "REAPER_REWRITE",
    "verbose": "REAPER_DEBUG",
    "stop_delay": "REAPER_STOP_DELAY",
    "stop_all": "REAPER_STOP_ALL",
    "exit_map": "REAPER_EXIT_MAP",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LONGEST_WAIT = 1_000_000_000
"""Seconds: the longest --grace or --stop-delay (about 31 years); the clock's waits overflow near 9e9."""
_LARGEST_PID = 4_194_304
"""The kernel's PID_MAX_LIMIT: a REAPER marker above it names no process."""


class UsageError(Exception):
    """Bad options or environment: one line for the user, and exit status 2."""


def main(args=None):
    """Run the command line ``args`` (default ``sys.argv[1:]``) and return the exit status."""
    environment = environ()
    try:
        options = parse(sys.argv[1:] if args is None else args, environment)
    except UsageError as error:
        say(str(error))
        return 2
    if options["help"]:
        return _print(USAGE)
    if options["version"]:
        return _print(f"reaper {__version__}\n")
    command = options.pop("command")
    if posix.getpid() != 1 and _reaper_above(environment.get("REAPER", "")):
        if options["verbose"]:
            say(f"reaper {environment['REAPER']} already runs above, running {command[0]} in place")
        return replace_process(command)
    status = supervise(
        command,
        grace=options["grace"],
        forward=options["forward"],
        rewrite=options["rewrite"],
        verbose=options["verbose"],
        stop_delay=options["stop_delay"],
        stop_all=options["stop_all"],
    )
    return options["exit_map"].get(status, status)


def run():
    """Run the command line and exit with its status, without the interpreter's finalisation.

    Skipping finalisation saves about 1.5 ms of every container's start-up;
    the reaper holds nothing that needs it: it writes to stdout unbuffered.
    """
    posix._exit(main())


def _print(text):
    """Write ``text`` to stdout; return 0, or 1 with one line on stderr when it cannot (closed, full)."""
    data = text.encode()
    try:
        while data:
            data = data[posix.write(1, data) :]
    except OSError as error:
        say(f"cannot write to stdout: {error.strerror}")
        return 1
    return 0


def parse(args, environ):
    """Read the command line ``args`` and the ``environ`` mapping into a dict of options.

    Keys: ``command`` (a list), ``grace`` and ``stop_delay`` (float seconds),
    ``forward`` (``"auto"``, ``"group"`` or ``"child"``), ``rewrite`` (a dict of signal
    numbers), ``exit_map`` (a dict of exit statuses), ``verbose``,
    ``stop_all``, ``help`` and ``version``.  An option wins over its
    variable; the entries of ``--rewrite`` and ``--exit-map`` win over their
    variable's entries for the same FROM only.  An empty variable is unset;
    an empty option value is an error.  Raises UsageError, whose text names
    the option or variable at fault and what was expected.
    """
    given = {"help": False, "version": False}
    entries = {key: [] for key in _TABLES}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, has_value, value = arg.partition("=")
        if name in _SWITCHES and not has_value:
            given[_SWITCHES[name]] = (name, "1")
        elif name in _VALUED:
            if not has_value:
                index += 1
                if index == len(args):
                    raise UsageError(f"{name}: expected a value")
                value = args[index]
            key = _VALUED[name]
            if key in _TABLES:
                entries[key].append((name, value))
            else:
                given[key] = (name, value)
        else:
            raise UsageError(f"{arg}: unknown option (see reaper --help)")
        index += 1
    options = {"command": args[index:], "help": bool(given["help"]), "version": bool(given["version"])}
    for key, variable in _ENVIRONMENT.items():
        text = environ.get(variable) or None  # empty means unset, for every variable alike
        if key in _TABLES:
            options[key] = _table(variable, text, _TABLES[key], strict=False)
            for source, value in entries[key]:
                options[key].update(_table(source, value, _TABLES[key], strict=True))
        else:
            source, text = given.get(key) or (variable, text)
            options[key] = _CONVERTERS[key](source, text)
    if not (options["help"] or options["version"]):
        if not options["command"]:
            raise UsageError("missing COMMAND (see reaper --help)")
        if not options["command"][0]:
            raise UsageError("COMMAND is empty (see reaper --help)")
    return options


def _reaper_above(marker):
    """Whether ``marker``, the REAPER variable, names a live ancestor; anything but a plain pid is ignored."""
    return (
        marker.isascii()
        and marker.isdigit()
        and len(marker) <= len(str(_LARGEST_PID))
        and 0 < int(marker) <= _LARGEST_PID
        and _proc.is_ancestor(int(marker))
    )


def _seconds(default):
    def convert(source, text):
        if text is None:
            return default
        try:
            seconds = float(text) if text.isascii() else -1.0
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds < float("inf"):
            raise UsageError(f"{source}: expected a number of seconds >= 0, got {text!r}")
        if seconds > _LONGEST_WAIT:
            raise UsageError(f"{source}: expected a number of seconds >= 0 and at most {_LONGEST_WAIT}, got {text!r}")
        return seconds

    return convert


def _forward(source, text):
    if text is None:
        return "auto"
    if text not in ("auto", "group", "child"):
        raise UsageError(f"{source}: expected 'auto', 'group' or 'child', got {text!r}")
    return text


def _switch(source, text):
    word = (text or "").strip().lower()
    if word not in _TRUE | _FALSE:
        raise UsageError(f"{source}: expected 1 or 0, got {text!r}")
    return word in _TRUE


def _table(source, text, entry, strict):
    """Read ``FROM:TO,FROM:TO`` with ``entry``; blank entries are skipped unless ``strict``."""
    table = {}
    for item in (text or "").split(","):
        if strict or item.strip():
            key, value = entry(source, item)
            table[key] = value
    return table


def _rewrite_entry(source, item):
    received, _, forwarded = item.partition(":")
    try:
        signum = parse_signal(received)
        sent = 0 if forwarded.strip() == "0" else parse_signal(forwarded)
    except ValueError:
        raise UsageError(
            f"{source}: expected FROM:TO with signal names or numbers, TO may be 0, got {item!r}"
        ) from None
    if signum not in CATCHABLE or signum == _signal.SIGCHLD:
        raise UsageError(f"{source}: {signal_name(signum)} is never forwarded, so it cannot be rewritten")
    return signum, sent


def _exit_map_entry(source, item):
    statuses = [word.strip() for word in item.split(":")]
    if len(statuses) != 2 or not all(
        word.isascii() and word.isdigit() and len(word) <= 3 and int(word) <= 255 for word in statuses
    ):
        raise UsageError(f"{source}: expected FROM:TO with exit statuses from 0 to 255, got {item!r}")
    return int(statuses[0]), int(statuses[1])


_CONVERTERS = {
    "grace": _seconds(5.0),
    "forward": _forward,
    "verbose": _switch,
    "stop_delay": _seconds(0.0),
    "stop_all": _switch,
}
_TABLES = {"rewrite": _rewrite_entry, "exit_map": _exit_map_entry}
