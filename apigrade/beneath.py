"""Walk a chapter folder opening every file beneath it, whatever changes meanwhile.

The engine reads learner folders as root, and a learner's process may swap a
folder or file for a link while the engine walks them. Every open here
starts from a descriptor of the chapter folder and rejects links at open
time, so no path the walk opens can resolve outside that folder, whatever
an earlier listing showed.

On Linux (x86_64 and aarch64) each open is one openat2(2) call with
RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, made through ctypes since Python has
no wrapper. Where openat2 is missing (kernels before 5.6, other
architectures, macOS) each path component is opened with O_NOFOLLOW
relative to its parent's descriptor, which rejects the same paths. The
constants are those of <linux/openat2.h> and the system call numbers those
of <asm/unistd_64.h> and <asm-generic/unistd.h> (Linux 6.1 headers).
"""

from __future__ import annotations

import ctypes
import enum
import errno
import fnmatch
import os
import platform
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# Only the architectures whose number was checked; others use the fallback.
_OPENAT2_NUMBERS = {"x86_64": 437, "aarch64": 437}
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
# RESOLVE_NO_XDEV is left out: only root can mount a file system inside a
# chapter folder, and the fallback could not reject mount points alike.
_RESOLVE = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
# Errors of an open or readlink that mean the entry changed since the
# listing: it went away, or it or its target became a link or a file.
_CHANGED_ERRORS = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EINVAL, errno.EXDEV}
# O_NONBLOCK: a FIFO swapped in for a file must not block the open.
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class ChapterTooLarge(Exception):
    """A chapter folder has too many entries or bytes to be copied for grading."""


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


def _openat2_number() -> int | None:
    if not sys.platform.startswith("linux"):
        return None
    return _OPENAT2_NUMBERS.get(platform.machine())


def _openat2(dir_fd: int, path: str, flags: int) -> int:
    """Open `path` beneath `dir_fd` through no link; raise OSError on failure."""
    number = _openat2_number()
    if number is None:
        raise OSError(errno.ENOSYS, "openat2 is not available on this platform")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    how = _OpenHow(flags=flags, mode=0, resolve=_RESOLVE)
    fd = libc.syscall(
        ctypes.c_long(number),
        ctypes.c_int(dir_fd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


def _open_by_components(dir_fd: int, parts: Sequence[str], flags: int) -> int:
    """Open `parts` beneath `dir_fd` one component at a time, each with O_NOFOLLOW."""
    opened: list[int] = []
    parent = dir_fd
    try:
        for name in parts[:-1]:
            parent = os.open(
                name,
                os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                dir_fd=parent,
            )
            opened.append(parent)
        return os.open(parts[-1], flags | os.O_NOFOLLOW, dir_fd=parent)
    finally:
        for fd in opened:
            os.close(fd)


class LinkProblem(enum.Enum):
    """Reason a link is left out of the copy."""

    MISSING = "which does not exist"
    OUTSIDE = "out of the chapter folder"
    FOLDER = "a link to a folder: put the folder itself there"


class Kind(enum.Enum):
    """Kind of path a walk found."""

    FOLDER = "folder"
    FILE = "file"
    LINK = "link"
    # Named in IGNORED_NAMES, or neither a file, folder nor link (a FIFO).
    SKIPPED = "skipped"
    # Gone, or of another kind, between the listing and the open.
    CHANGED = "changed"


@dataclass
class Entry:
    """One path a walk found, with its file opened where it has one.

    `fd` is open only until the walk goes on: for a FILE it is the file,
    for a LINK the regular file inside the chapter folder that it leads to
    (None for any other link). `size` is the opened file's size at open, and
    `mode` the permission bits (stat.S_IMODE) of the opened file or folder,
    0 when nothing was opened.
    """

    parts: tuple[str, ...]
    kind: Kind
    fd: int | None = None
    size: int = 0
    mode: int = 0
    link_text: str = ""
    link_problem: LinkProblem | None = None

    @property
    def relative(self) -> str:
        """The path relative to the chapter folder, with forward slashes."""
        return "/".join(self.parts)


class ChapterFolder:
    """A chapter folder opened once, whose paths are opened only beneath it.

    Raises OSError when `path` is a link or no folder. Close it, or use it
    in a `with` block.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = path.resolve()
        self.fd = os.open(
            path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
        self.uses_openat2 = self._openat2_works()

    def __enter__(self) -> ChapterFolder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _openat2_works(self) -> bool:
        try:
            fd = _openat2(self.fd, ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            # Container seccomp profiles that predate openat2 return EPERM.
            if error.errno in (errno.ENOSYS, errno.EPERM):
                return False
            raise
        os.close(fd)
        return True

    def open(self, parts: Sequence[str], flags: int = _READ_FLAGS) -> int:
        """Open a path beneath the folder, rejecting links in any component.

        Raises OSError when a component is a link: ELOOP, or ENOTDIR from
        the fallback for a link in place of a folder. Raises ValueError for
        an empty, "." or ".." component, which no listing returns.
        """
        if not parts:
            return os.dup(self.fd)
        if any(part in ("", ".", "..") or "/" in part for part in parts):
            raise ValueError(f"invalid path component in {'/'.join(parts)!r}")
        if self.uses_openat2:
            return _openat2(self.fd, "/".join(parts), flags)
        return _open_by_components(self.fd, parts, flags)

    def read_link(self, parts: Sequence[str]) -> str:
        """Return the text of the link at `parts`, read through its opened folder."""
        parent = self.open(parts[:-1], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return os.readlink(parts[-1], dir_fd=parent)
        finally:
            os.close(parent)

    def open_link_target(
        self, parts: Sequence[str], text: str
    ) -> tuple[LinkProblem | None, int | None]:
        """Open the file that the link at `parts`, reading `text`, leads to.

        The link is resolved by path only to learn where inside the folder
        it leads. That place is then opened beneath the folder, rejecting
        links, so a link swapped in after the resolution makes the open
        fail (OSError) rather than lead out. Returns why the copy leaves the
        link out, or None and the open descriptor of the file it leads to,
        or None and None when that is neither a file nor a folder (a FIFO).
        """
        link = self.path.joinpath(*parts)
        try:
            resolved = link.resolve(strict=True)
        except (OSError, RuntimeError):
            return LinkProblem.MISSING, None
        if Path(text).is_absolute() or not resolved.is_relative_to(self.root):
            return LinkProblem.OUTSIDE, None
        fd = self.open(resolved.relative_to(self.root).parts)
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            return None, fd
        os.close(fd)
        if stat.S_ISDIR(mode):
            return LinkProblem.FOLDER, None
        return None, None


def walk(
    folder: ChapterFolder,
    ignored_names: Sequence[str],
    max_entries: int,
    max_depth: int | None = None,
) -> Iterator[Entry]:
    """Yield every path in `folder`, each folder before what it contains.

    Paths whose name matches a pattern of `ignored_names` are SKIPPED, and
    their folders not entered. Each folder is listed through a descriptor
    opened beneath `folder`, and each entry is opened and judged (with
    fstat) at the time of the open, never by the listing: an entry swapped
    for a link is handled as a link. Raises ChapterTooLarge past
    `max_entries` paths (the ignored ones aside), RecursionError for a
    folder nested deeper than `max_depth`, and OSError when a path cannot
    be opened for any reason other than a change since the listing.
    """
    counted = 0
    stack: list[tuple[str, ...]] = [()]
    while stack:
        parts = stack.pop()
        if parts:
            entry = _open_entry(folder, parts)
            if entry.kind is not Kind.FOLDER:
                yield from _handed_over(entry)
                continue
            assert entry.fd is not None
            fd = entry.fd
            mode = entry.mode
        else:
            fd = os.dup(folder.fd)
            mode = 0
        try:
            if max_depth is not None and len(parts) > max_depth:
                raise RecursionError(f"folders nested more than {max_depth} deep")
            listing = _list_folder(fd)
        finally:
            os.close(fd)
        if parts:
            yield Entry(parts, Kind.FOLDER, mode=mode)
        ignored = {
            name
            for name, _ in listing
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in ignored_names)
        }
        counted += len(listing) - len(ignored)
        if counted > max_entries:
            raise ChapterTooLarge(f"contains more than {max_entries} files and folders")
        folders: list[tuple[str, ...]] = []
        for name, listed in listing:
            child = (*parts, name)
            if name in ignored or listed is Kind.SKIPPED:
                yield Entry(child, Kind.SKIPPED)
            elif listed is Kind.FOLDER:
                folders.append(child)
            elif listed is Kind.LINK:
                yield from _handed_over(_link_entry(folder, child))
            else:
                entry = _open_entry(folder, child)
                if entry.kind is Kind.FOLDER:
                    # A file swapped for a folder: listed when its turn comes.
                    assert entry.fd is not None
                    os.close(entry.fd)
                    folders.append(child)
                else:
                    yield from _handed_over(entry)
        stack.extend(reversed(folders))


def _list_folder(fd: int) -> list[tuple[str, Kind]]:
    """Return the names in the folder open as `fd`, each with its kind as listed."""
    listing = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_symlink():
                kind = Kind.LINK
            elif entry.is_dir(follow_symlinks=False):
                kind = Kind.FOLDER
            elif entry.is_file(follow_symlinks=False):
                kind = Kind.FILE
            else:
                kind = Kind.SKIPPED
            listing.append((entry.name, kind))
    return listing


def _open_entry(folder: ChapterFolder, parts: tuple[str, ...]) -> Entry:
    """Open the path at `parts` and judge it by what the open returned."""
    try:
        fd = folder.open(parts)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return _link_entry(folder, parts)
        if error.errno in _CHANGED_ERRORS:
            return Entry(parts, Kind.CHANGED)
        raise
    status = os.fstat(fd)
    mode = stat.S_IMODE(status.st_mode)
    if stat.S_ISDIR(status.st_mode):
        return Entry(parts, Kind.FOLDER, fd, mode=mode)
    if stat.S_ISREG(status.st_mode):
        return Entry(parts, Kind.FILE, fd, status.st_size, mode=mode)
    os.close(fd)
    return Entry(parts, Kind.SKIPPED)


def _link_entry(folder: ChapterFolder, parts: tuple[str, ...]) -> Entry:
    try:
        text = folder.read_link(parts)
        problem, fd = folder.open_link_target(parts, text)
    except OSError as error:
        if error.errno in _CHANGED_ERRORS:
            return Entry(parts, Kind.CHANGED)
        raise
    status = os.fstat(fd) if fd is not None else None
    size = status.st_size if status is not None else 0
    mode = stat.S_IMODE(status.st_mode) if status is not None else 0
    return Entry(parts, Kind.LINK, fd, size, mode, text, problem)


def read_chunks(fd: int, size: int) -> Iterator[bytes]:
    """Yield the file open as `fd` in chunks of 1 MB, up to `size` bytes.

    The copy and the digest both read this way, with `size` from the fstat
    at the open, so both take the same bytes, and a file that grows
    meanwhile cannot take either past the limits checked against `size`.
    """
    remaining = size
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 2**20))
        if not chunk:
            return
        yield chunk
        remaining -= len(chunk)


def _handed_over(entry: Entry) -> Iterator[Entry]:
    """Yield `entry`, closing its descriptor once the caller goes on."""
    try:
        yield entry
    finally:
        if entry.fd is not None:
            os.close(entry.fd)
