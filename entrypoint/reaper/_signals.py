"""Signal names and numbers, for option parsing and log lines.

Built on the C module ``_signal``: the public ``signal`` module imports
``enum``, which alone costs more than starting the interpreter, and the
reaper's start-up time is a product feature.
"""

import _signal

SIGNALS = _signal.valid_signals()
"""Every signal number this system knows."""

CATCHABLE = SIGNALS - {_signal.SIGKILL, _signal.SIGSTOP}
"""The signals a process can block, wait for, or reset to their default."""


def _name_table():
    names = {}
    for name in sorted(dir(_signal)):
        if name.startswith("SIG") and not name.startswith("SIG_") and name[3:6] != "RTM":
            # Sorted order keeps the canonical name: SIGABRT before SIGIOT, SIGCHLD before SIGCLD.
            names.setdefault(getattr(_signal, name), name)
    return names


_NAMES = _name_table()
_NUMBERS = {name: number for number, name in _NAMES.items()}
_NUMBERS.update(SIGCLD=_signal.SIGCHLD, SIGIOT=_signal.SIGABRT, SIGPOLL=_signal.SIGIO)


def signal_name(number):
    """Return the usual name of a signal: ``SIGTERM``, ``SIGRTMIN+3``, or ``signal 99``."""
    if number in _NAMES:
        return _NAMES[number]
    if _signal.SIGRTMIN < number <= _signal.SIGRTMAX:
        return f"SIGRTMIN+{number - _signal.SIGRTMIN}"
    if number == _signal.SIGRTMIN:
        return "SIGRTMIN"
    return f"signal {number}"


def parse_signal(text):
    """Return the number of the signal that ``text`` names.

    Accepts a number (``15``), a name with or without ``SIG`` in any case
    (``TERM``, ``sigterm``), and real-time signals as ``RTMIN+N`` or
    ``RTMAX-N``.  Raises ValueError for anything this system does not know.
    """
    word = text.strip().upper()
    if not word.isascii():  # str.isdigit and int() accept other scripts' digits
        raise ValueError(f"unknown signal {text!r}")
    if word.isdigit():
        number = int(word) if len(word) <= 3 else None
    else:
        name = word if word.startswith("SIG") else "SIG" + word
        number = _NUMBERS.get(name) or _parse_realtime(name[3:])
    if number not in SIGNALS:
        raise ValueError(f"unknown signal {text!r}")
    return number


def _parse_realtime(word):
    for base in ("RTMIN", "RTMAX"):
        rest = word[len(base) :]
        if word.startswith(base) and (rest == "" or (rest[0] in "+-" and rest[1:].isdigit())):
            return getattr(_signal, "SIG" + base) + int(rest or 0)
    return None
