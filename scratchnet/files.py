"""Atomic file writes: a crash or a full disk never leaves a half-written file.

The bytes go to a temporary file ``.NAME.<8 hex digits>.tmp`` in the destination's folder, are
flushed to disk (fsync), and only then is the temporary renamed over the destination with
``os.replace`` — a single atomic step on POSIX and Windows. Used for every file scratchnet
writes: IDX files, model files, downloads, images.

A writer killed mid-write (kill -9, a power cut) leaves its temporary behind; the next write to
the same path removes it. Only abandoned ones: a live writer holds an exclusive ``flock`` on its
temporary until the rename, so a temporary that can be locked has no writer (the kernel drops a
dead process's locks). A writer checks after locking that its name still points at its file
(a cleaner may have taken it for abandoned in the instant between creating and locking it) and
otherwise starts over under a new name. Without ``fcntl`` (Windows) an open file cannot be
deleted, so trying to delete each one is equally safe there.

Reading: ``open_regular`` opens a file only if it is a regular file (a named pipe would block a
reader forever, a device never end), and ``printable`` is how a file's name goes in a one-line
message.
"""
import errno
import os
import re
import secrets
import stat
from pathlib import Path

try:
    import fcntl
except ImportError:          # Windows
    fcntl = None

# The most bytes a file we read may make us allocate, unless the caller raises it (``max_bytes=``):
# a small file must never claim gigabytes. Model files and IDX files both check against it.
MAX_BYTES = 1 << 30


class NotRegularFileError(OSError):
    """A named pipe, socket or device where a file to read was expected."""


def open_regular(path, buffering=-1):
    """``path`` opened for binary reading, if it is a regular file. It is opened without
    blocking and then checked with fstat, so a pipe is refused at once and nothing can be
    swapped in between the check and the open. Raises FileNotFoundError, IsADirectoryError,
    NotRegularFileError, or the OSError (ValueError for a NUL byte) of the open."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", os.fsdecode(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, "not a regular file", os.fsdecode(path))
        return os.fdopen(fd, "rb", buffering=buffering)   # (non-blocking changes nothing here)
    except BaseException:
        os.close(fd)
        raise


def printable(path):
    """A file's name as it goes in a one-line message: as it is, or, if it holds a newline, an
    escape or undecodable bytes, as ``ascii`` writes it (so it can neither break the line nor
    drive the terminal)."""
    name = str(path)
    return name if name.isprintable() else ascii(name)


def atomic_write(path, write):
    """Call ``write(f)`` with a binary file open on a temporary beside ``path``, then
    rename it to ``path``. On any error the temporary is removed and ``path`` is untouched.
    Abandoned temporaries of earlier writes to ``path`` are removed first."""
    path = Path(path)
    remove_abandoned_temporaries(path)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666: respect umask
        if _lock(fd, tmp):
            break
        os.close(fd)             # a cleaner removed it before we locked it: take a new name
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())     # the bytes are on disk before the name points at them
            if fcntl is not None:
                os.replace(tmp, path)    # still locked: no cleaner can take it for abandoned
        if fcntl is None:
            os.replace(tmp, path)        # Windows renames only closed files
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_abandoned_temporaries(path):
    """Remove the ``.NAME.<8 hex>.tmp`` files beside ``path`` that no live writer holds."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"[0-9a-f]{8}\.tmp\Z")
    try:
        names = [e.name for e in os.scandir(path.parent) if pattern.match(e.name)]
    except OSError:
        return
    for name in names:
        _remove_if_abandoned(path.parent / name)


def _lock(fd, tmp):
    """Lock our new temporary; False if its name no longer points at it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)   # waits only while a cleaner holds it
    except OSError:                      # a file system without locks: cleaners there skip
        return True                      # every file (their flock fails too)
    return _same_file(fd, tmp)


def _same_file(fd, name):
    try:
        st, mine = os.stat(name, follow_symlinks=False), os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _unlocked(fd):
    """Whether we could lock ``fd`` (and now hold the lock): no live writer holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _remove_if_abandoned(tmp):
    """Delete ``tmp`` if it is a regular file that no writer holds; never raise."""
    # O_NONBLOCK: a FIFO of that name must not hang us; O_NOFOLLOW: nor a link lead us away.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags)
    except OSError:
        return
    try:
        # _same_file: the very file we locked, not one renamed to that name since we opened it.
        abandoned = stat.S_ISREG(os.fstat(fd).st_mode) and _unlocked(fd) and _same_file(fd, tmp)
        if abandoned and fcntl is not None:
            os.unlink(tmp)               # while we hold its lock
    except OSError:
        abandoned = False
    finally:
        os.close(fd)
    if abandoned and fcntl is None:
        try:
            os.unlink(tmp)               # Windows: fails while a writer has it open
        except OSError:
            pass
