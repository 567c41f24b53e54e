"""Who COMMAND runs as with ``--user USER[:GROUP]``: looked up in ``/etc/passwd`` and ``/etc/group``, as gosu does.

The files are read directly, not through NSS (``pwd``, ``grp``): what the
image's own files say is what counts, and nothing is loaded unless the option
is used.  The lookup happens in the reaper; the forked child only makes the
system calls of :meth:`Identity.become` before its exec.
"""

import posix  # not os: see _supervisor

_PASSWD, _GROUP = "/etc/passwd", "/etc/group"
_LARGEST_ID = 4_294_967_294
"""The largest uid or gid: 2**32 - 1 is (uid_t) -1, "no change" to the kernel."""


class Identity:
    """A uid, a gid, the supplementary groups, and the variables the command gets unless it has them."""

    def __init__(self, spec, uid, gid, groups, environment):
        self.spec = spec
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.environment = environment

    def __str__(self):
        return repr(self.spec)

    def is_current(self):
        """Whether this process already has exactly these ids and groups, so there is nothing to change."""
        return (
            posix.getresuid() == (self.uid,) * 3
            and posix.getresgid() == (self.gid,) * 3
            and sorted(set(posix.getgroups())) == self.groups
        )

    def fill(self, environment):
        """Set ``HOME``, ``USER`` and ``LOGNAME`` in ``environment`` from the passwd entry, unless it sets them.

        A value that describes this process's own user counts as unset: Docker
        sets ``HOME=/root`` for a container that starts as root, and that is
        not the home of the user the command runs as.
        """
        own = look_up("", str(posix.getuid())).environment
        for name, value in self.environment.items():
            if not environment.get(name) or environment[name] == own.get(name):
                environment[name] = value

    def become(self):
        """Take these groups, then this gid, then this uid: real, effective and saved alike, so a
        process that runs afterwards cannot take the old ones back.  Raises OSError (EPERM) when
        this process may not change its ids."""
        posix.setgroups(self.groups)
        posix.setresgid(self.gid, self.gid, self.gid)
        posix.setresuid(self.uid, self.uid, self.uid)


def look_up(source, spec):
    """Return the :class:`Identity` that ``spec`` (``USER[:GROUP]``, given by ``source``) names.

    USER is a name of ``/etc/passwd`` or a uid; a uid found there is that
    user, one not found is a bare uid, with this process's gid, no
    supplementary groups and ``HOME=/``.  A named user gets the groups of
    ``/etc/group`` that list it, and its primary group, as ``initgroups``
    gives them; ``HOME``, ``USER`` and ``LOGNAME`` come from its entry.
    GROUP (a name of ``/etc/group`` or a gid) replaces the primary group.
    Raises LookupError with one line naming the unknown user or group.
    """
    name, has_group, group = spec.partition(":")
    user = _entry(_PASSWD, name)
    if user is not None:
        name, uid, gid, home = user[0], int(user[2]), int(user[3]), user[5]
    elif _is_id(name):
        name, uid, gid, home = None, int(name), posix.getgid(), "/"
    else:
        raise LookupError(f"{source}: unknown user {name!r} (not in {_PASSWD})")
    if has_group:
        found = _entry(_GROUP, group)
        if found is not None:
            gid = int(found[2])
        elif _is_id(group):
            gid = int(group)
        else:
            raise LookupError(f"{source}: unknown group {group!r} (not in {_GROUP})")
    groups = [] if name is None else sorted({gid, *_memberships(name)})
    environment = {"HOME": home} if name is None else {"HOME": home, "USER": name, "LOGNAME": name}
    return Identity(spec, uid, gid, groups, environment)


def _is_id(text):
    return text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= _LARGEST_ID


def _entry(path, name):
    """The fields of the first line of ``path`` whose name (or, for a number, whose id) is ``name``."""
    for fields in _lines(path):
        if fields[0] == name or (_is_id(name) and fields[2] == name):
            return fields
    return None


def _memberships(user):
    return [int(fields[2]) for fields in _lines(_GROUP) if user in fields[3].split(",")]


def _lines(path):
    """The colon-separated fields of each well-formed line of ``path`` (none when it cannot be read)."""
    try:
        with open(path, "rb") as file:
            text = file.read().decode(errors="surrogateescape")
    except OSError:
        return []
    minimum = 7 if path == _PASSWD else 4
    return [
        fields
        for fields in (line.split(":") for line in text.splitlines())
        if len(fields) >= minimum and fields[2].isascii() and fields[2].isdigit()
    ]
