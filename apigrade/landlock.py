"""Landlock: let a process give up access to files, TCP ports and signals.

Landlock is a Linux security module (kernel 5.13 and later) that any
process can use on itself, without root or namespaces. The engine uses it
where bubblewrap cannot run: the learner's process keeps read access to the
system and the Python environment and full access to its own folders, and
loses everything else, for itself and every process it starts.

No maintained Python package wraps the three system calls, so this module
calls them through ctypes. The constants and struct layouts are those of
the kernel's documentation (Documentation/userspace-api/landlock.rst) and
<linux/landlock.h>.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import stat
import sys
from collections.abc import Iterable

# System call numbers: the same on every architecture Linux supports.
_CREATE_RULESET = 444
_ADD_RULE = 445
_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24

# Filesystem access rights, by the ABI version that added them.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
_ABI_1_RIGHTS = (1 << 13) - 1  # EXECUTE through MAKE_SYM
_REFER = 1 << 13  # ABI 2
_TRUNCATE = 1 << 14  # ABI 3
_IOCTL_DEV = 1 << 15  # ABI 5
# Rights that a rule on a file, rather than a folder, may grant.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE | _IOCTL_DEV
# Network (ABI 4): binding and connecting TCP sockets.
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
# Scopes (ABI 6): abstract Unix sockets and signals outside the domain.
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1

# Rights a rule grants: read and run; also write existing files (devices);
# everything (the learner's own folders).
READ = EXECUTE | READ_FILE | READ_DIR
READ_WRITE_FILES = READ | WRITE_FILE | _TRUNCATE | _IOCTL_DEV
ALL = (1 << 64) - 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel declares it __attribute__((packed))
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class LandlockError(OSError):
    """A Landlock system call failed."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


@functools.cache
def abi_version() -> int:
    """Return the kernel's Landlock ABI version, or 0 where there is none."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = _libc().syscall(_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def _handled_fs(abi: int) -> int:
    rights = _ABI_1_RIGHTS
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def restrict_self(rules: Iterable[tuple[str | int, int]], *, abi: int) -> None:
    """Limit this process and its future children to the given paths.

    Each rule is a path, or an open descriptor of a folder, and the rights
    (READ, READ_WRITE_FILES or ALL) that it grants beneath it. Paths that do
    not exist are skipped. Rights this
    kernel does not know are left out. From ABI 4, no TCP port may
    be bound or connected to; from ABI 6, no signal may be sent outside the
    domain and no abstract Unix socket outside it reached. Raises
    LandlockError when a system call fails. Safe to call between fork and
    exec: it only makes system calls.
    """
    libc = _libc()
    handled = _handled_fs(abi)
    attr = _RulesetAttr(handled_access_fs=handled)
    size = ctypes.sizeof(ctypes.c_uint64)
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size += ctypes.sizeof(ctypes.c_uint64)
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size += ctypes.sizeof(ctypes.c_uint64)
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        raise LandlockError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path, rights in rules:
            _add_path_rule(libc, ruleset, path, rights & handled)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(_RESTRICT_SELF, ruleset, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)


def _add_path_rule(
    libc: ctypes.CDLL, ruleset: int, path: str | int, rights: int
) -> None:
    if isinstance(path, int):
        fd = os.dup(path)
    else:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0):
            raise LandlockError(ctypes.get_errno(), f"landlock_add_rule on {path}")
    finally:
        os.close(fd)


def drop_capabilities() -> None:
    """Empty this process's capability bounding set.

    A root process keeps uid 0 but, from its next exec on, has no
    capability: it cannot load kernel modules, change limits or bypass file
    permissions. Raises LandlockError when a capability cannot be dropped.
    """
    libc = _libc()
    for capability in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            error = ctypes.get_errno()
            if error == errno.EINVAL:  # past the last capability this kernel has
                return
            raise LandlockError(error, f"prctl(PR_CAPBSET_DROP, {capability})")
