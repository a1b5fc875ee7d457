"""Atomic file writes: a crash or a full disk never leaves a half-written file.

The bytes go to a temporary file in the destination's folder, are flushed to disk
(fsync), and only then is the temporary renamed over the destination with
``os.replace`` — a single atomic step on POSIX and Windows. Used for IDX files,
model files and images alike.
"""
import os
import secrets
from pathlib import Path

# The most bytes a file we read may make us allocate, unless the caller raises it (``max_bytes=``):
# a small file must never claim gigabytes. Model files and IDX files both check against it.
MAX_BYTES = 1 << 30


def atomic_write(path, write):
    """Call ``write(f)`` with a binary file open on a temporary beside ``path``, then
    rename it to ``path``. On any error the temporary is removed and ``path`` is untouched."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)   # 0o666: respect the umask
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())     # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
