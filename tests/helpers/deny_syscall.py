"""Make one system call fail with one errno, then exec the rest of the command line: ``deny_syscall.py NAME ERRNO ARGV...``.

A seccomp filter (as a container runtime's profile installs one) that this
process and every process it starts keep: the call NAME (``waitid``,
``wait4``) returns -1 with ERRNO (a name such as ``EPERM`` or ``ENOSYS``)
and every other call runs.  x86_64 and aarch64; on another architecture the
filter denies nothing and the helper exits 2.
"""

import ctypes
import errno
import os
import platform
import struct
import sys

_SYSCALLS = {  # (audit architecture, {name: number})
    "x86_64": (0xC000003E, {"waitid": 247, "wait4": 61}),
    "aarch64": (0xC00000B7, {"waitid": 95, "wait4": 260}),
}
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_LOAD_WORD, _JUMP_IF_EQUAL, _RETURN = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000


def deny(name, error):
    """Install a filter under which the system call ``name`` fails with ``error`` in this process and its children."""
    arch, numbers = _SYSCALLS[platform.machine()]
    program = [
        (_LOAD_WORD, 0, 0, 4),  # seccomp_data.arch
        (_JUMP_IF_EQUAL, 0, 3, arch),
        (_LOAD_WORD, 0, 0, 0),  # seccomp_data.nr
        (_JUMP_IF_EQUAL, 0, 1, numbers[name]),
        (_RETURN, 0, 0, _ERRNO | error),
        (_RETURN, 0, 0, _ALLOW),
    ]
    filters = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))
    fprog = struct.pack("HxxxxxxP", len(program), ctypes.addressof(filters))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog, 0, 0):
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


if __name__ == "__main__":
    if platform.machine() not in _SYSCALLS:
        sys.exit(f"deny_syscall.py: no system call numbers for {platform.machine()}")
    deny(sys.argv[1], getattr(errno, sys.argv[2]))
    os.execvp(sys.argv[3], sys.argv[3:])
