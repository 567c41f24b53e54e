"""What this process can learn about, and do to, the process tree around it.

Everything here reads ``/proc`` (slim images have no ``ps``) or calls
the kernel where Python has no function for it (``prctl``, ``rt_sigaction``).  A process is identified by its pid *and* its start time, so a
pid that was reused by an unrelated process is never mistaken for one of
ours.  ``/proc`` is only believed when it is this PID namespace's own
(:func:`sees_this_namespace`): a ``/proc`` mounted for another namespace
(``unshare --pid --fork`` without ``--mount-proc``) names other processes
by the same numbers.
"""

import _signal
import posix  # not os: see _supervisor

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_LARGEST_PID = 4_194_304
"""The kernel's PID_MAX_LIMIT: a marker above it names no process."""
_GLIBC_INTERNAL_SIGNALS = (32, 33)
_SYS_RT_SIGACTION = {"x86_64": 13, "aarch64": 134}


def become_subreaper():
    """Make orphaned descendants of this process its children, as PID 1's are.

    Raises OSError when the kernel refuses (kernels before 3.4, some sandboxes).
    """
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def set_parent_death_signal(signum):
    """Have the kernel send ``signum`` to this process when its parent dies (PR_SET_PDEATHSIG).

    The kernel sends it when the thread that forked this process exits, and
    never for a parent that died before the call: compare ``getppid()`` with
    the parent known before, afterwards.  Raises OSError when refused.
    """
    _prctl(_PR_SET_PDEATHSIG, signum)


def _prctl(option, value):
    _libc_call("prctl", option, value, 0, 0, 0)


def _libc_call(name, *args):
    """Call the C library's function ``name`` with ``args`` (ints, bytes, None); raise OSError when it
    returns -1.

    Through ``_ctypes`` itself: the ``ctypes`` package costs 4-5 ms of
    start-up, this about 1.5 ms, paid only off PID 1 or for --pdeathsig.
    """
    import _ctypes

    class Int(_ctypes._SimpleCData):
        _type_ = "i"

    class Function(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = Int

    class Libc:
        _handle = _ctypes.dlopen(None, 0)

    if Function((name, Libc))(*args) == -1:
        errno = _ctypes.get_errno()
        raise OSError(errno, posix.strerror(errno))


_sees_this_namespace = None


def sees_this_namespace():
    """Tell whether ``/proc`` shows this process's PID namespace, so its pids are ours to use.

    ``/proc/self`` names this process as the namespace of that ``/proc``
    numbers it: the same number as ``getpid()`` only when it is ours.  The
    answer is read once.
    """
    global _sees_this_namespace
    if _sees_this_namespace is None:
        try:
            _sees_this_namespace = posix.readlink("/proc/self") == str(posix.getpid())
        except OSError:  # no /proc at all
            _sees_this_namespace = False
    return _sees_this_namespace


def default_glibc_signals():
    """Give glibc's internal signals (32 and 33) their default disposition if this process got them ignored.

    A program started by glibc's ``posix_spawn`` (make does so, and Python's
    ``subprocess`` on some paths) starts with them ignored, and an exec keeps
    an ignored signal ignored, so every command the reaper runs would inherit
    that.  glibc's own ``sigaction`` refuses these two, so this asks the
    kernel directly, on x86_64 and aarch64.  When they are not ignored it
    costs one read of ``/proc/self/status``.
    """
    ignored = _signal_set(read("/proc/self/status"), b"SigIgn:")
    if ignored is None:
        return
    ignored_here = [signum for signum in _GLIBC_INTERNAL_SIGNALS if ignored >> (signum - 1) & 1]
    rt_sigaction = _SYS_RT_SIGACTION.get(posix.uname().machine)
    if not ignored_here or rt_sigaction is None:
        return
    default = bytes(32)  # SIG_DFL, no flags, an empty mask: all zeros, in every kernel layout
    for signum in ignored_here:
        try:
            _libc_call("syscall", rt_sigaction, signum, default, None, 8)
        except OSError:
            pass


def parent_and_start(pid):
    """Return ``(parent pid, start time in clock ticks)`` of ``pid``, or None once it is gone."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[1]), int(fields[19]))


def state(pid):
    """Return the state letter of ``pid`` (``R``, ``S``, ``T`` for stopped, ``Z``...), or None once it is gone."""
    fields = _stat(pid)
    return None if fields is None else fields[0].decode()


def _stat(pid):
    """The fields of ``/proc/PID/stat`` after the command name, from the state on; None once ``pid`` is gone."""
    data = read(f"/proc/{pid}/stat")
    return None if data is None else _after_name(data)


def _after_name(stat):
    """The fields of the contents of a ``/proc/PID/stat`` after the command name, which may itself hold
    spaces and parentheses."""
    return stat[stat.rindex(b")") + 2 :].split()


def _signal_set(status, field):
    """The signal set of ``field`` (``b"SigCgt:"``...) in the contents of a ``/proc/PID/status`` as an
    int, signal N its bit N-1; None when ``status`` is None or has no such field."""
    if status is None:
        return None
    try:
        start = status.index(field) + len(field)
        return int(status[start : status.index(b"\n", start)], 16)
    except ValueError:
        return None


def handles(pid, signum):
    """Tell whether ``pid`` has a handler installed for ``signum`` (``SigCgt`` of ``/proc/PID/status``);
    False when it is gone or ``/proc`` cannot tell (see :func:`sees_this_namespace`).

    For signals 1 to 31 it reads the same bits from ``/proc/PID/stat``
    (its sigcatch field), which the kernel writes in a third of the time,
    through a descriptor kept open for the last ``pid`` asked about: this is
    read as each signal is forwarded.  That descriptor stays that process's
    even once its pid is reused, and then reads fail: False.
    """
    if signum < 32:
        stat = _kept_stat(pid)
        try:
            caught = None if stat is None else int(_after_name(stat)[31])
        except (ValueError, IndexError):  # not a /proc of this kernel's layout
            caught = None
    else:
        caught = _signal_set(read(f"/proc/{pid}/status"), b"SigCgt:")
    return caught is not None and bool(caught >> (signum - 1) & 1)


_kept = (None, None)
"""(pid, descriptor of its /proc/PID/stat) for :func:`handles`."""


def _kept_stat(pid):
    """Return the contents of ``/proc/PID/stat`` read through the descriptor kept for ``pid``, or None."""
    global _kept
    kept_pid, fd = _kept
    try:
        if kept_pid != pid:
            if fd is not None:
                posix.close(fd)
            _kept = (None, None)
            fd = posix.open(f"/proc/{pid}/stat", posix.O_RDONLY | posix.O_CLOEXEC)
            _kept = (pid, fd)
        return posix.pread(fd, 4096, 0)
    except OSError:
        return None


def read(path):
    """Return the contents of a small file such as one of ``/proc``, or None when it cannot be read.

    Plain system calls: ``open()`` costs a buffered reader, tens of
    microseconds on the path of a forwarded signal.
    """
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := posix.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        posix.close(fd)


def is_ancestor(pid):
    """Tell whether ``pid`` is a live ancestor of this process in this PID namespace (False when
    ``/proc`` is another namespace's)."""
    if not sees_this_namespace():
        return False
    current = posix.getpid()
    while current > 1:
        known = parent_and_start(current)
        if known is None:
            return False
        current = known[0]
        if current == pid:
            return True
    return False


def reaper_above(marker):
    """Tell whether ``marker``, the value of the variable that marks a reaper's command (``REAPER``),
    names a live ancestor; anything but a plain ASCII pid (other digits, a sign, spaces) names none."""
    return (
        marker.isascii()
        and marker.isdigit()
        and len(marker) <= len(str(_LARGEST_PID))
        and 0 < int(marker) <= _LARGEST_PID
        and is_ancestor(int(marker))
    )


def others():
    """Return the pids of every process of this PID namespace but this one (see :func:`sees_this_namespace`)."""
    me = str(posix.getpid())
    return [int(entry) for entry in posix.listdir("/proc") if entry.isdigit() and entry != me]


def descendants():
    """Return ``(pid, start time)`` of every live descendant of this process (see :func:`sees_this_namespace`)."""
    children = {}
    for pid in others():
        known = parent_and_start(pid)
        if known is not None:
            children.setdefault(known[0], []).append((pid, known[1]))
    found = []
    parents = [posix.getpid()]
    while parents:
        for pid, start in children.get(parents.pop(), ()):
            found.append((pid, start))
            parents.append(pid)
    return found


def signal_descendants(*signums):
    """Send each of ``signums``, in order, to every live descendant of this process, and to nobody else.

    Each pid is pinned with a pidfd before its start time is checked, so a
    process that exits meanwhile and whose pid is reused is left alone.  A
    descendant that may not be signalled (it runs as another user) is skipped.
    """
    for pid, start in descendants():
        try:
            pidfd = posix.pidfd_open(pid)
        except ProcessLookupError:
            continue
        except OSError:  # kernels before 5.3: kill() right after the same identity check
            pidfd = None
        try:
            known = parent_and_start(pid)
            if known is None or known[1] != start:
                continue
            for signum in signums:
                if pidfd is None:
                    posix.kill(pid, signum)
                else:
                    _signal.pidfd_send_signal(pidfd, signum)
        except OSError:
            pass
        finally:
            if pidfd is not None:
                posix.close(pidfd)
