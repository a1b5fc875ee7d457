"""Downloading a data file safely: mirrors tried in turn, an overall deadline, a size cap, and
nothing cached unless it arrived whole and checked.

A socket timeout alone does not bound a download: it limits each read, so a server that sends
one byte a second keeps a loader waiting forever.  Here every attempt also has a `deadline` in
seconds for the whole transfer (TLS handshake, headers and body; connecting is bounded by the
per-read `timeout`, the name lookup by the system's resolver); when it passes, a watchdog shuts
the connection down, which wakes any read blocked on it.  What arrives goes to an anonymous
temporary file, at most `max_bytes` of it; only when it decompresses, parses as IDX and has the
expected SHA-256 is it copied into the cache with an atomic write.  A download cut short, too
big, too slow or wrong therefore never becomes a cached file.
"""
import gzip
import hashlib
import http.client
import shutil
import socket
import tempfile
import threading
import urllib.request
from pathlib import Path

from .files import MAX_BYTES, atomic_write
from .idx import DataNotFoundError, IDXError, read_idx_from

_CHUNK = 1 << 16


def download_idx(name, folder, mirrors, sha256=None, *, timeout=30.0, deadline=600.0,
                 max_bytes=MAX_BYTES):
    """Download NAME.gz into `folder` from the first mirror that serves a good copy; its path.

    A copy is good when it arrives within `deadline` seconds (each read within `timeout`), is at
    most `max_bytes` long, decompresses and parses as IDX (within `max_bytes` too) and, if
    `sha256` is given, its decompressed bytes have that SHA-256 (which still matches when a mirror
    serves a re-compressed gzip).  A failing mirror is skipped; when all fail, DataNotFoundError
    lists why.  `mirrors` are base URLs ending in '/'; http, https and file URLs work.
    """
    target = Path(folder) / (name + ".gz")
    reasons = []
    for mirror in mirrors:
        url = mirror + name + ".gz"
        with tempfile.TemporaryFile() as part:  # anonymous: gone when closed, even after a crash
            try:
                fetch(url, part, timeout=timeout, deadline=deadline, max_bytes=max_bytes)
                part.seek(0)
                read_idx_from(part, url, compressed=True, max_bytes=max_bytes)
                digest = _sha256_of_gzip(part)
            except IDXError as e:
                reasons.append(str(e))
                continue
            if sha256 is not None and digest != sha256:
                reasons.append(f"{url}: SHA-256 {digest[:12]}... is not the expected"
                               f" {sha256[:12]}...")
                continue
            part.seek(0)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, lambda f: shutil.copyfileobj(part, f))
            except OSError as e:
                raise DataNotFoundError.at(target, f"cannot save the download:"
                                                   f" {e.strerror or e}") from None
            return target
    raise DataNotFoundError.at(target, "download failed: " + ("; ".join(reasons) or "no mirrors"))


def fetch(url, out, *, timeout=30.0, deadline=600.0, max_bytes=MAX_BYTES):
    """Copy what `url` serves into the binary file `out`, within `deadline` seconds in all, each
    read within `timeout`, and at most `max_bytes`; the number of bytes.  Any failure raises
    DataNotFoundError naming the URL (and `out` then holds a part that must not be used)."""
    got = 0
    with _Watchdog(deadline) as watchdog:
        try:
            with _opener(watchdog).open(url, timeout=min(timeout, deadline)) as response:
                length = response.headers.get("Content-Length", "")
                length = int(length) if length.isdigit() else None
                if length is not None and length > max_bytes:
                    raise DataNotFoundError.at(url, f"serves {length} bytes, more than the limit"
                                                    f" max_bytes={max_bytes}")
                # read1 returns what one read brings, so a trickle cannot stall this loop
                while not watchdog.expired and (chunk := response.read1(_CHUNK)):
                    got += len(chunk)
                    if got > max_bytes:
                        raise DataNotFoundError.at(url, f"sent more than the limit"
                                                        f" max_bytes={max_bytes}")
                    out.write(chunk)
        except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError, reset, TLS...
            if not watchdog.expired:
                raise DataNotFoundError.at(url, e) from None
        if watchdog.expired:  # a shut-down connection can also look like a normal end
            raise DataNotFoundError.at(url, f"gave up after the deadline of {deadline:g} s"
                                            f" ({got} bytes received)")
    if length is not None and got < length:
        raise DataNotFoundError.at(url, f"connection closed after {got} of {length} bytes")
    return got


def _sha256_of_gzip(f):
    """SHA-256 of the decompressed content of the gzip file `f` (already parsed, so bounded)."""
    f.seek(0)
    digest = hashlib.sha256()
    with gzip.GzipFile(fileobj=f, mode="rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Watchdog:
    """Shuts down every connection it watches once `seconds` have passed.

    shutdown() on a socket wakes a read blocked on it in another thread (it returns end of file),
    which no timeout can do for a peer that keeps sending a byte now and then.  The watchdog keeps
    a duplicate of each socket because a TLS wrapper takes over the original."""

    def __init__(self, seconds):
        self.expired = False
        self._sockets = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def watch(self, sock):
        with self._lock:
            self._sockets.append(sock.dup())
            if self.expired:
                _shutdown(self._sockets[-1])

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the other side
        pass


def _opener(watchdog):
    """urllib's opener, with HTTP and HTTPS connections that `watchdog` watches."""
    class Connection(http.client.HTTPConnection):
        def connect(self):
            super().connect()
            watchdog.watch(self.sock)

    # MRO: HTTPSConnection.connect -> Connection.connect (watch the TCP socket) -> TLS handshake,
    # so the handshake is under the deadline too.
    class TLSConnection(http.client.HTTPSConnection, Connection):
        pass

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, request):
            return self.do_open(Connection, request)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, request):
            return self.do_open(TLSConnection, request)

    return urllib.request.build_opener(HTTPHandler, HTTPSHandler)

