"""Hostile mirrors: a local HTTP server (127.0.0.1, started and stopped here) that trickles,
stalls, lies about sizes, sends too much or hangs up.  Every download must end within its
deadline with a DataNotFoundError naming the URL, and nothing may reach the cache folder.

The server's handlers run bounded loops that also stop when the test ends, so no thread
outlives the module by more than a moment.
"""
import gzip
import http.server
import socket
import threading
import time

import pytest

from mnist_files import idx_bytes, offline  # noqa: F401
from scratchnet.download import download_idx
from scratchnet.idx import DataNotFoundError

pytestmark = pytest.mark.usefixtures("offline")

GOOD = gzip.compress(idx_bytes(0x08, [300], bytes(range(150)) * 2), mtime=0)
DRIP = 0.2      # seconds between the bytes of a trickle: GOOD takes 36 s
LONG = 30.0     # how long a stall lasts; the per-read timeout where one must not help


class Mirror(http.server.BaseHTTPRequestHandler):
    """Serves GOOD at /good/..., and misbehaves at the other first path components."""

    def do_GET(self):
        behaviour = self.path.split("/")[1]
        stop = self.server.stop
        if behaviour == "headers":  # the status line itself, a byte at a time
            for byte in b"HTTP/1.0 200 OK\r\nX-Slow: " + b"x" * 10_000:
                if stop.wait(DRIP) or not self.send(bytes([byte])):
                    return
            return
        if behaviour == "silent":
            stop.wait(LONG)
            return
        if behaviour == "missing":
            self.send_error(404)
            return
        self.send_response(200)
        length = {"huge": 10 ** 12, "endless": None}.get(behaviour, len(GOOD))
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if behaviour == "good":
            self.send(GOOD)
        elif behaviour == "short":
            self.send(GOOD[:len(GOOD) // 2])
        elif behaviour == "trickle":
            for byte in GOOD:
                if stop.wait(DRIP) or not self.send(bytes([byte])):
                    return
        elif behaviour == "endless":
            for _ in range(1000):  # 64 MiB at most
                if stop.is_set() or not self.send(bytes(1 << 16)):
                    return

    def send(self, data):
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:  # the client hung up, as it should
            return False

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    httpd.daemon_threads = True
    httpd.stop = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def attempt(server, tmp_path, behaviour, **limits):
    """download_idx from the `behaviour` mirror into tmp_path/cache: (message or path, seconds)."""
    start = time.monotonic()
    try:
        result = download_idx("thing", tmp_path / "cache", [f"{server}/{behaviour}/"], **limits)
    except DataNotFoundError as e:
        result = str(e)
    return result, time.monotonic() - start


def test_a_good_mirror_is_downloaded(server, tmp_path):
    path, _ = attempt(server, tmp_path, "good", timeout=5, deadline=10)
    assert path == tmp_path / "cache" / "thing.gz" and path.read_bytes() == GOOD
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["thing.gz"]


@pytest.mark.parametrize("behaviour", ["trickle", "headers", "silent"])
def test_a_slow_mirror_is_abandoned_at_the_deadline(server, tmp_path, behaviour):
    message, seconds = attempt(server, tmp_path, behaviour, timeout=LONG, deadline=1.0)
    assert message.startswith(f"{tmp_path / 'cache' / 'thing.gz'}: download failed:"
                              f" {server}/{behaviour}/thing.gz: gave up after the deadline of 1 s")
    assert seconds < 10  # 1 s and some scheduling; LONG without the deadline
    assert not (tmp_path / "cache").exists()  # the part received is never cached


def test_a_tls_handshake_that_never_ends_is_abandoned_at_the_deadline(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as listener:  # connects, then never answers
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
        start = time.monotonic()
        with pytest.raises(DataNotFoundError, match="gave up after the deadline of 1 s"):
            download_idx("thing", tmp_path / "cache", [url], timeout=LONG, deadline=1.0)
        assert time.monotonic() - start < 10
    assert not (tmp_path / "cache").exists()


def test_a_mirror_announcing_too_much_is_refused_before_reading(server, tmp_path):
    message, seconds = attempt(server, tmp_path, "huge", timeout=5, deadline=LONG,
                               max_bytes=1 << 20)
    assert "serves 1000000000000 bytes, more than the limit max_bytes=1048576" in message
    assert not (tmp_path / "cache").exists()


def test_a_mirror_sending_too_much_is_cut_off_at_the_cap(server, tmp_path):
    message, _ = attempt(server, tmp_path, "endless", timeout=5, deadline=LONG,
                         max_bytes=100_000)
    assert f"{server}/endless/thing.gz: sent more than the limit max_bytes=100000" in message
    assert not (tmp_path / "cache").exists()


def test_a_download_cut_short_is_never_cached(server, tmp_path):
    message, _ = attempt(server, tmp_path, "short", timeout=5, deadline=LONG)
    assert f"connection closed after {len(GOOD) // 2} of {len(GOOD)} bytes" in message
    assert not (tmp_path / "cache").exists()


def test_a_failing_mirror_falls_back_to_the_next(server, tmp_path):
    mirrors = [f"{server}/{b}/" for b in ("missing", "short", "trickle", "good")]
    start = time.monotonic()
    path = download_idx("thing", tmp_path / "cache", mirrors, timeout=5, deadline=2)
    assert path.read_bytes() == GOOD
    assert time.monotonic() - start < 12  # the trickle cost its deadline, not its 36 s
