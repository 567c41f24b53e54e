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
forwarded to COMMAND's process group, its exit status is passed through, and
when it exits every process left is sent SIGTERM, then SIGKILL after a grace
period.

options (each has an environment variable; the option wins):
  --grace SECONDS    time left processes get between SIGTERM and SIGKILL
                     [REAPER_GRACE, default 5]
  --forward MODE     forward signals to COMMAND's process 'group' or to the
                     'child' alone [REAPER_FORWARD, default group]
  --rewrite FROM:TO  forward signal FROM as TO, or drop it when TO is 0;
                     repeatable; signals by name (TERM, SIGTERM) or number
                     [REAPER_REWRITE=FROM:TO,FROM:TO]
  -v, --verbose      log the spawn, each reaped process, each forwarded signal
                     and the shutdown to stderr [REAPER_DEBUG=1]
  -V, --version      print the version and exit
  -h, --help         print this help and exit

exit status: COMMAND's own, 128+N when signal N killed it, 127 when COMMAND
is not found, 126 when it cannot be run, 2 for a usage error.
"""

_SWITCHES = {
    "-h": "help",
    "--help": "help",
    "-V": "version",
    "--version": "version",
    "-v": "verbose",
    "--verbose": "verbose",
}
_VALUED = {"--grace": "grace", "--forward": "forward", "--rewrite": "rewrite"}
_ENVIRONMENT = {
    "grace": "REAPER_GRACE",
    "forward": "REAPER_FORWARD",
    "rewrite": "REAPER_REWRITE",
    "verbose": "REAPER_DEBUG",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


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
    return supervise(
        command,
        grace=options["grace"],
        forward_to_group=options["forward"] == "group",
        rewrite=options["rewrite"],
        verbose=options["verbose"],
    )


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

    Keys: ``command`` (a list), ``grace`` (float seconds), ``forward``
    (``"group"`` or ``"child"``), ``rewrite`` (a dict of signal numbers),
    ``verbose``, ``help`` and ``version``.  Raises UsageError, whose text
    names the option or variable at fault and what was expected.
    """
    given = {"help": False, "version": False}
    rewrites = []
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
            given[_SWITCHES[name]] = True
        elif name in _VALUED:
            if not has_value:
                index += 1
                if index == len(args):
                    raise UsageError(f"{name}: expected a value")
                value = args[index]
            if name == "--rewrite":
                rewrites.append(value)
            else:
                given[_VALUED[name]] = (name, value)
        else:
            raise UsageError(f"{arg}: unknown option (see reaper --help)")
        index += 1
    options = {"command": args[index:], "help": given["help"], "version": given["version"]}
    if rewrites:
        given["rewrite"] = ("--rewrite", ",".join(rewrites))
    if given.get("verbose"):
        given["verbose"] = ("--verbose", "1")
    for key, variable in _ENVIRONMENT.items():
        source, text = given.get(key) or (variable, environ.get(variable))
        options[key] = _CONVERTERS[key](source, text)
    if not options["command"] and not (options["help"] or options["version"]):
        raise UsageError("missing COMMAND (see reaper --help)")
    return options


def _reaper_above(marker):
    return marker.isdigit() and _proc.is_ancestor(int(marker))


def _grace(source, text):
    if text is None:
        return 5.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise UsageError(f"{source}: expected a number of seconds >= 0, got {text!r}")
    return seconds


def _forward(source, text):
    if text is None:
        return "group"
    if text not in ("group", "child"):
        raise UsageError(f"{source}: expected 'group' or 'child', got {text!r}")
    return text


def _rewrite(source, text):
    table = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        received, _, forwarded = item.partition(":")
        try:
            signum = parse_signal(received)
            table[signum] = 0 if forwarded.strip() == "0" else parse_signal(forwarded)
        except ValueError:
            raise UsageError(
                f"{source}: expected FROM:TO with signal names or numbers, TO may be 0, got {item!r}"
            ) from None
        if signum not in CATCHABLE or signum == _signal.SIGCHLD:
            raise UsageError(f"{source}: {signal_name(signum)} is never forwarded, so it cannot be rewritten")
    return table


def _verbose(source, text):
    word = (text or "").strip().lower()
    if word not in _TRUE | _FALSE:
        raise UsageError(f"{source}: expected 1 or 0, got {text!r}")
    return word in _TRUE


_CONVERTERS = {"grace": _grace, "forward": _forward, "rewrite": _rewrite, "verbose": _verbose}
