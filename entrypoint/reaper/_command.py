"""The ``reaper`` command line: ``reaper [OPTIONS] [--] COMMAND [ARG...]``.

Reads the options and their environment variables (an option always wins
over its variable; every option is one entry of :data:`OPTIONS`), then
either supervises COMMAND or, when a reaper already runs above this process
and this command line gives no option for it to apply, execs COMMAND in its
place and adds no process.
"""

import _signal
import posix  # not os: see _supervisor
import sys

from reaper import __version__, _proc
from reaper._signals import CATCHABLE, parse_signal, signal_name
from reaper._supervisor import environ, printable, replace_process, say, supervise

_USAGE_HEAD = """\
usage: reaper [OPTIONS] [--] COMMAND [ARG...]

Run COMMAND as the only child of a reaper: zombies are reaped, signals are
forwarded to COMMAND, its exit status is passed through, and
when it exits every process left is sent SIGTERM, then SIGKILL after a grace
period.

options (each has an environment variable; the option wins):
"""
_USAGE_TAIL = """
exit status: COMMAND's own, 128+N when signal N killed it, 127 when COMMAND
is not found, 126 when it cannot be run (or not as --user: the reaper may not
change ids) (each mapped by --exit-map), 2 for a usage error or an unknown
--user.
"""
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LONGEST_WAIT = 1_000_000_000
"""Seconds: the longest --grace or --stop-delay (about 31 years); the clock's waits overflow near 9e9."""
_HELP_WIDTH = (21, 79)
"""The column where an option's help text starts, and the width of a line of the usage text."""


class UsageError(Exception):
    """Bad options or environment: one line for the user, and exit status 2."""


def main(args=None):
    """Run the command line ``args`` (default ``sys.argv[1:]``) and return the exit status."""
    parent = posix.getppid()  # first: the parent whose death --pdeathsig is about
    environment = environ()
    try:
        options = parse(sys.argv[1:] if args is None else args, environment)
    except UsageError as error:
        say(str(error))
        return 2
    if options["help"]:
        return _print(usage())
    if options["version"]:
        return _print(f"reaper {__version__}\n")
    command = options.pop("command")
    if posix.getpid() != 1 and _proc.reaper_above(environment.get("REAPER", "")):
        own = [option.spellings[-1] for option in OPTIONS if option.key in options["given"] and option.supervises]
        if not own:  # what it inherited, the reaper above applies
            if options["verbose"]:
                say(f"reaper {environment['REAPER']} already runs above, running {command[0]} in place")
            return replace_process(command)
        if options["verbose"]:
            say(f"reaper {environment['REAPER']} already runs above, supervising {command[0]} for {' '.join(own)}")
    user = None
    if options["user"]:
        from reaper import _identity  # read only when used, as every module of an option

        try:
            user = _identity.look_up("--user" if "user" in options["given"] else "REAPER_USER", options["user"])
        except LookupError as error:
            say(str(error))
            return 2
        user.fill(environment)
        if user.is_current():  # a nested reaper that inherited REAPER_USER: the reaper above dropped already
            user = None
    if options["cpu_count"] == "quota" and not environment.get("PYTHON_CPU_COUNT"):
        from reaper._cpu import quota_count

        count = quota_count()
        if count is not None:
            environment["PYTHON_CPU_COUNT"] = str(count)
        if options["verbose"]:
            say(f"CPU quota: {count or 'none'}, PYTHON_CPU_COUNT={environment.get('PYTHON_CPU_COUNT', '(unset)')}")
    status = supervise(
        command,
        grace=options["grace"],
        forward=options["forward"],
        rewrite=options["rewrite"],
        verbose=options["verbose"],
        stop_delay=options["stop_delay"],
        stop_all=options["stop_all"],
        env=environment,
        user=user,
        parent_death=(options["pdeathsig"], parent) if options["pdeathsig"] else None,
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

    Keys: ``command`` (a list), ``given`` (the set of the keys of the options
    given on the command line) and one per entry of :data:`OPTIONS`: ``grace``
    and ``stop_delay`` (float seconds), ``forward`` (``"auto"``, ``"group"`` or
    ``"child"``), ``rewrite`` (a dict of signal numbers), ``exit_map`` (a
    dict of exit statuses), ``verbose``, ``stop_all``, ``help`` and
    ``version``.  An option wins over its variable; the entries of a
    repeatable option (``--rewrite``, ``--exit-map``) win over their
    variable's entries for the same FROM only.  An empty variable is unset;
    an empty option value is an error.  Raises UsageError, whose text names
    the option or variable at fault and what was expected.
    """
    given = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, has_value, value = arg.partition("=")
        option = _BY_SPELLING.get(name)
        if option is None or (option.metavar is None and has_value):
            raise UsageError(f"{printable(arg)}: unknown option (see reaper --help)")
        if option.metavar is None:
            value = "1"
        elif not has_value:
            index += 1
            if index == len(args):
                raise UsageError(f"{name}: expected a value")
            value = args[index]
        given.setdefault(option.key, []).append((name, value))
        index += 1
    options = {"command": args[index:], "given": set(given)}
    for option in OPTIONS:
        options[option.key] = option.value(given.get(option.key, ()), environ)
    if not (options["help"] or options["version"]):
        if not options["command"]:
            raise UsageError("missing COMMAND (see reaper --help)")
        if not options["command"][0]:
            raise UsageError("COMMAND is empty (see reaper --help)")
    return options


class _Option:
    """One option of the command line: its spellings, its environment variable, how its value is
    read, its default, and its entry in the usage text."""

    __slots__ = (
        "default",
        "help",
        "key",
        "metavar",
        "read",
        "repeatable",
        "shown",
        "spellings",
        "supervises",
        "variable",
    )

    def __init__(
        self, key, spellings, help, *, metavar=None, variable=None, shown="", read=None, default=None, supervises=True
    ):
        self.key = key
        self.spellings = spellings
        self.help = help
        self.metavar = metavar
        """What the value is called in the usage text; None for a switch, which takes no value."""
        self.variable = variable
        self.shown = shown
        """How the usage text writes the variable's value after its name (``=1``), if not as ``--help`` does."""
        self.read = read
        """``read(source, text)`` turns a value into the option's; for a repeatable option, one entry."""
        self.default = default
        self.repeatable = isinstance(read, _Entries)
        self.supervises = supervises
        """Given on the command line of a reaper under another reaper, the option makes it supervise
        COMMAND as a subreaper to apply it, rather than run COMMAND in place."""

    def value(self, given, environ):
        """The option's value from what the command line ``given`` (``(spelling, text)`` pairs) and ``environ``."""
        text = (environ.get(self.variable) or None) if self.variable else None  # empty means unset, for every variable
        if self.repeatable:
            table = self.read(self.variable, text, strict=False)
            for source, value in given:
                table.update(self.read(source, value, strict=True))
            return table
        if given:
            return self.read(*given[-1])
        if text is None:
            return self.default
        return self.read(self.variable, text)

    def usage(self):
        """The option's entry in the usage text, its help wrapped at the usage text's width."""
        indent, width = _HELP_WIDTH
        head = "  " + ", ".join(self.spellings) + (f" {self.metavar}" if self.metavar else "")
        lines = [head + " " * (indent - len(head))] if len(head) < indent else [head, " " * indent]
        words = self.help.split()
        if self.variable:
            default = f"{self.default:g}" if isinstance(self.default, float) else self.default
            words.append(f"[{self.variable}{self.shown}{f', default {default}' if isinstance(default, str) else ''}]")
        for word in words:
            if len(lines[-1]) > indent and len(lines[-1]) + 1 + len(word) > width:
                lines.append(" " * indent)
            lines[-1] += word if len(lines[-1]) == indent else " " + word
        return "".join(line + "\n" for line in lines)


def usage():
    """The text of ``reaper --help``, made from :data:`OPTIONS`."""
    return _USAGE_HEAD + "".join(option.usage() for option in OPTIONS) + _USAGE_TAIL


def _seconds(source, text):
    try:
        seconds = float(text) if text.isascii() else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise UsageError(f"{source}: expected a number of seconds >= 0, got {text!r}")
    if seconds > _LONGEST_WAIT:
        raise UsageError(f"{source}: expected a number of seconds >= 0 and at most {_LONGEST_WAIT}, got {text!r}")
    return seconds


def _one_of(*words):
    """A reader that accepts exactly one of ``words``."""
    quoted = [f"{word!r}" for word in words]
    expected = " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 2 else quoted)

    def read(source, text):
        if text not in words:
            raise UsageError(f"{source}: expected {expected}, got {text!r}")
        return text

    return read


def _user(source, text):
    name, has_group, group = text.partition(":")
    if not name or (has_group and not group) or ":" in group:
        raise UsageError(f"{source}: expected USER or USER:GROUP (names or numeric ids), got {text!r}")
    return text


def _forwarded_signal(source, text):
    try:
        signum = parse_signal(text)
    except ValueError:
        raise UsageError(f"{source}: expected a signal name or number, got {text!r}") from None
    if signum not in CATCHABLE or signum == _signal.SIGCHLD:
        raise UsageError(f"{source}: {signal_name(signum)} cannot be received and forwarded")
    return signum


def _switch(source, text):
    word = text.strip().lower()
    if word not in _TRUE | _FALSE:
        raise UsageError(f"{source}: expected 1 or 0, got {text!r}")
    return word in _TRUE


class _Entries:
    """A reader of ``FROM:TO,FROM:TO`` into a dict, each entry read by ``entry(source, item)``."""

    def __init__(self, entry):
        self.entry = entry

    def __call__(self, source, text, strict):
        """Read ``text`` (None reads as empty); blank entries are skipped unless ``strict``."""
        table = {}
        for item in (text or "").split(","):
            if strict or item.strip():
                key, value = self.entry(source, item)
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


OPTIONS = (
    _Option(
        "grace",
        ("--grace",),
        "time left processes get between SIGTERM and SIGKILL",
        metavar="SECONDS",
        variable="REAPER_GRACE",
        read=_seconds,
        default=5.0,
    ),
    _Option(
        "forward",
        ("--forward",),
        "forward signals to COMMAND's process 'group', to the 'child' alone, or 'auto': to the child alone "
        "when it handles the signal, else to its group",
        metavar="MODE",
        variable="REAPER_FORWARD",
        read=_one_of("auto", "group", "child"),
        default="auto",
    ),
    _Option(
        "rewrite",
        ("--rewrite",),
        "forward signal FROM as TO, or drop it when TO is 0; repeatable; signals by name (TERM, SIGTERM) or number",
        metavar="FROM:TO",
        variable="REAPER_REWRITE",
        shown="=FROM:TO,FROM:TO",
        read=_Entries(_rewrite_entry),
    ),
    _Option(
        "stop_delay",
        ("--stop-delay",),
        "hold the first SIGTERM this long before forwarding it; a second SIGTERM or a SIGINT ends the wait",
        metavar="SECONDS",
        variable="REAPER_STOP_DELAY",
        read=_seconds,
        default=0.0,
    ),
    _Option(
        "stop_all",
        ("--stop-all",),
        "forward a SIGTERM to every process left too, not only to COMMAND",
        variable="REAPER_STOP_ALL",
        shown="=1",
        read=_switch,
        default=False,
    ),
    _Option(
        "exit_map",
        ("--exit-map",),
        "exit with TO when the status would be FROM (0-255); repeatable",
        metavar="FROM:TO",
        variable="REAPER_EXIT_MAP",
        shown="=FROM:TO,FROM:TO",
        read=_Entries(_exit_map_entry),
    ),
    _Option(
        "user",
        ("--user",),
        "run COMMAND as USER (a name or uid) with its groups, or with GROUP (a name or gid) as its"
        " group, as gosu does; the reaper keeps its own ids",
        metavar="USER[:GROUP]",
        variable="REAPER_USER",
        read=_user,
    ),
    _Option(
        "pdeathsig",
        ("--pdeathsig",),
        "when the process that started the reaper dies, handle SIGNAL as if received: forward it, then shut down",
        metavar="SIGNAL",
        variable="REAPER_PDEATHSIG",
        read=_forwarded_signal,
    ),
    _Option(
        "cpu_count",
        ("--cpu-count",),
        "set PYTHON_CPU_COUNT for COMMAND (read by Python 3.13+) to the cgroup's CPU limit in whole CPUs,"
        " unless it is set already; no limit sets nothing",
        metavar="quota",
        variable="REAPER_CPU_COUNT",
        shown="=quota",
        read=_one_of("quota"),
    ),
    _Option(
        "verbose",
        ("-v", "--verbose"),
        "log the spawn, each reaped process, each forwarded signal and the shutdown to stderr",
        variable="REAPER_DEBUG",
        shown="=1",
        read=_switch,
        default=False,
        supervises=False,
    ),
    _Option("version", ("-V", "--version"), "print the version and exit", read=_switch, default=False),
    _Option("help", ("-h", "--help"), "print this help and exit", read=_switch, default=False),
)
"""Every option, in the order of the usage text: the one place an option is defined."""

_BY_SPELLING = {spelling: option for option in OPTIONS for spelling in option.spellings}
VARIABLES = tuple(option.variable for option in OPTIONS if option.variable)
"""The environment variables the options read."""
