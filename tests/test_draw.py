"""Tests for examples/draw.py's HTTP API and server: status codes, the JSON, the size limit,
malformed and slow clients, concurrency, the static files, and the command line.

The server runs in this process on a free port of 127.0.0.1 (``draw.serve_in_thread``) and
each fixture shuts it down. Its model is an untrained [784, 10] softmax network saved in a tmp
folder: the API's answers are checked against the reader's own for the same files, so no MNIST
is needed. Every wait is bounded by a socket timeout.
"""
import base64
import concurrent.futures
import contextlib
import http.client
import io
import json
import re
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import scratchnet as sn
from scratchnet.imaging import ImageError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import draw  # noqa: E402

import reader as reader_module  # noqa: E402

WAIT = 30          # seconds: the most any one socket operation in these tests may wait
KEYS = {"digit", "probabilities", "confident", "preview"}


# ---------------------------------------------------------------- fixtures and helpers

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A [784, 10] softmax network with its seeded initial weights, saved to a file: the API
    must give the reader's answers, whatever they are, so the model need not be trained."""
    net = sn.Network([sn.Dense(784, 10, init="glorot"), sn.Softmax()],
                     loss=sn.CategoricalCrossEntropy(), seed=0)
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    sn.save(net, path)
    return path


@pytest.fixture(scope="module")
def reader(model):
    return reader_module.load_reader(model)


@pytest.fixture(scope="module")
def server(reader):
    srv = draw.serve_in_thread(reader)
    yield srv
    srv.shutdown()
    srv.server_close()


def seven(size=(400, 300), ink=30, paper=235):
    """A grey picture of a hand-drawn-looking 7, dark ink on light paper."""
    img = Image.new("L", size, paper)
    ImageDraw.Draw(img).line([(120, 50), (260, 50), (170, 260)], fill=ink, width=16,
                             joint="curve")
    return img


def encoded(img, fmt, **options):
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def request(server, method, path, body=None, headers=None):
    """(status, headers, parsed JSON or raw bytes) for one request over a fresh connection."""
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=WAIT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        if response.getheader("Content-Type") == "application/json":
            data = json.loads(data)
        return response.status, response, data
    finally:
        conn.close()


def predict(server, body, headers=None):
    return request(server, "POST", "/api/predict", body, headers)


def raw(server, data, shut_write=True, timeout=WAIT):
    """Send raw bytes; return everything the server sends back before it closes."""
    with socket.create_connection(server.server_address[:2], timeout=timeout) as s:
        s.sendall(data)
        if shut_write:
            with contextlib.suppress(OSError):     # the server may have closed already
                s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:    # closed with our bytes unread: its answer came first
            pass
    return b"".join(chunks)


def status_and_json(reply):
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def is_one_line_error(data):
    return set(data) == {"error"} and isinstance(data["error"], str) and data["error"] \
        and "\n" not in data["error"] and "Traceback" not in data["error"]


# ---------------------------------------------------------------- the answer

def test_a_photo_gets_the_documented_json(server, reader):
    body = encoded(seven(), "PNG")
    status, response, data = predict(server, body, {"Content-Type": "image/png"})
    assert status == 200 and response.getheader("Content-Type") == "application/json"
    assert set(data) == KEYS
    assert type(data["digit"]) is int and 0 <= data["digit"] <= 9
    p = data["probabilities"]
    assert len(p) == 10 and all(type(v) is float and 0 <= v <= 1 for v in p)
    assert sum(p) == pytest.approx(1, abs=1e-4)
    assert data["digit"] == int(np.argmax(p))
    assert type(data["confident"]) is bool
    prefix = "data:image/png;base64,"
    assert data["preview"].startswith(prefix)
    with Image.open(io.BytesIO(base64.b64decode(data["preview"][len(prefix):]))) as img:
        assert img.format == "PNG" and img.size == (28, 28) and img.mode == "L"
        seen = np.asarray(img, dtype=np.float32) / 255
    np.testing.assert_allclose(seen, reader.read(body).image, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("name", ["seven.jpg", "seven-light-on-dark.png", "sample.jpg"])
def test_the_api_answers_as_the_reader_does_for_the_same_file(server, reader, tmp_path, name):
    path = tmp_path / name
    if name == "sample.jpg":
        path = EXAMPLES / "sample.jpg"
    elif name.endswith(".jpg"):
        seven().convert("RGB").save(path, quality=90)
    else:
        seven(ink=200, paper=20).save(path)
    status, _, data = predict(server, path.read_bytes())
    assert status == 200
    expected = reader.read(path)
    assert data["digit"] == int(expected.digit)
    assert data["confident"] == bool(expected.confident)
    assert data["probabilities"] == [float(p) for p in expected.probabilities]


def test_the_api_and_the_front_end_give_the_same_answers(server, model, tmp_path):
    """front_end.py prints ``IMAGE: digit (p=0.97)``, with ", not sure" when the answer is not
    confident; the API must agree on every file."""
    paths = [EXAMPLES / "sample.jpg", tmp_path / "seven.jpg", tmp_path / "seven.png"]
    seven().convert("RGB").save(paths[1], quality=90)
    seven(ink=200, paper=20).save(paths[2])
    result = subprocess.run([sys.executable, str(EXAMPLES / "front_end.py"), *map(str, paths),
                             "--model", str(model)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = [re.fullmatch(r"(.+): (\d) \(p=([01]\.\d\d)(, not sure)?\)", line)
               for line in result.stdout.splitlines()]
    assert len(printed) == len(paths) and all(printed)
    for path, line in zip(paths, printed):
        data = predict(server, path.read_bytes())[2]
        assert line[1] == str(path)
        assert data["digit"] == int(line[2])
        assert f"{max(data['probabilities']):.2f}" == line[3]
        assert data["confident"] == (line[4] is None)


# ---------------------------------------------------------------- bad images

def test_bad_images_get_a_4xx_with_one_line_naming_the_problem(server):
    png = encoded(seven(), "PNG")
    cases = {b"these are notes, not a picture\n": "not a recognised image",
             png[:len(png) // 2]: "truncated",
             encoded(Image.new("L", (300, 200), 255), "PNG"): "no ink",
             encoded(Image.new("L", (4, 4), 0), "PNG"): "at least",
             b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n": "PostScript"}
    for body, word in cases.items():
        status, response, data = predict(server, body)
        assert status == 422, (word, data)
        assert response.getheader("Content-Type") == "application/json"
        assert is_one_line_error(data) and word in data["error"], data


def test_an_empty_body_is_a_400(server):
    status, _, data = predict(server, b"")
    assert status == 400 and is_one_line_error(data) and "empty" in data["error"]


# ---------------------------------------------------------------- the size limit

def test_a_body_over_the_limit_is_refused_before_it_is_read(server):
    """Only the headers are sent: the 413 must come from the Content-Length alone."""
    head = (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {draw.MAX_BODY + 1}\r\n\r\n").encode()
    start = time.monotonic()
    status, data = status_and_json(raw(server, head, shut_write=False))
    assert status == 413 and is_one_line_error(data)
    assert str(draw.MAX_BODY) in data["error"]
    assert time.monotonic() - start < draw.SOCKET_TIMEOUT       # it did not wait for a body


def test_a_client_sending_too_much_reads_the_413(server, monkeypatch):
    monkeypatch.setattr(draw, "MAX_BODY", 1000)
    status, _, data = predict(server, bytes(200_000))
    assert status == 413 and "1000" in data["error"]
    status, _, _ = predict(server, encoded(seven(), "PNG")[:1000])    # at the limit: read
    assert status == 422


@pytest.mark.parametrize("headers, code", [
    ("", 411),
    ("Transfer-Encoding: chunked\r\n", 411),
    ("Content-Length: abc\r\n", 400),
    ("Content-Length: -5\r\n", 400),
    ("Content-Length: 1e3\r\n", 400),
    ("Content-Length: \u00b2\r\n", 400),
    ("Content-Length: 10\r\nContent-Length: 20\r\n", 400),
    ("Content-Length: 99999999999999999999999999999\r\n", 413),
    (f"Content-Length: {'9' * 5000}\r\n", 413),
    (f"Content-Length: {'0' * 5000}5\r\n", 422),      # 5 bytes, read: not an image
])
def test_a_missing_or_invalid_content_length_is_refused(server, headers, code):
    head = f"POST /api/predict HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n".encode()
    status, data = status_and_json(raw(server, head + b"x" * 10))
    assert status == code and is_one_line_error(data)


# ---------------------------------------------------------------- malformed and slow clients

@pytest.mark.parametrize("data, code", [
    (b"\x00\x01\x02 garbage\r\n\r\n", 400),
    (b"GET / HTTP/9.9\r\n\r\n", 505),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 431),
    (b"BREW /api/predict HTTP/1.1\r\n\r\n", 501),
])
def test_malformed_http_gets_an_error_and_the_server_goes_on(server, data, code):
    status, reply = status_and_json(raw(server, data))
    assert status == code and is_one_line_error(reply)
    assert request(server, "GET", "/")[0] == 200


@pytest.mark.parametrize("data", [b"", b"GET", b"POST /api/predict HTTP/1.1\r\nContent-Le"])
def test_a_client_that_hangs_up_early_does_not_hurt(server, data):
    reply = raw(server, data)
    assert reply == b"" or reply.startswith(b"HTTP/1.0 4")
    assert request(server, "GET", "/")[0] == 200


@pytest.fixture
def impatient(monkeypatch, server):
    """The running server with short timeouts: 0.5 s a read, 1.5 s a whole request."""
    monkeypatch.setattr(draw, "SOCKET_TIMEOUT", 0.5)
    monkeypatch.setattr(draw, "REQUEST_SECONDS", 1.5)
    return server


def test_a_silent_client_is_dropped_after_the_socket_timeout(impatient):
    start = time.monotonic()
    raw(impatient, b"POST /api/predict HTTP/1.1\r\n", shut_write=False, timeout=10)
    assert time.monotonic() - start < 5


def test_a_body_that_stops_coming_gets_a_408(impatient):
    head = b"POST /api/predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
    status, data = status_and_json(raw(impatient, head, shut_write=False, timeout=10))
    assert status == 408 and is_one_line_error(data)


def test_a_client_dripping_bytes_is_cut_off_when_the_request_is_late(impatient):
    """A byte every 0.2 s never trips the 0.5 s read timeout; the 1.5 s deadline does."""
    with socket.create_connection(impatient.server_address[:2], timeout=10) as s:
        start = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\n")
        for _ in range(50):                                  # 10 s at most, then fail
            time.sleep(0.2)
            try:
                s.sendall(b"X")
            except OSError:                                  # reset: cut off
                break
            if select.select([s], [], [], 0)[0]:             # closed (reads b"") or answered
                break
        elapsed = time.monotonic() - start
    assert 1.0 < elapsed < 5


# ---------------------------------------------------------------- many clients at once

def test_concurrent_requests_each_get_their_own_answer(server, reader):
    good = {"seven": encoded(seven(), "PNG"), "light": encoded(seven(ink=220, paper=10), "JPEG"),
            "sample": (EXAMPLES / "sample.jpg").read_bytes()}
    expected = {name: int(reader.read(body).digit) for name, body in good.items()}
    jobs = [(name, body) for name, body in good.items()] * 12 + [("bad", b"not an image")] * 12
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda job: (job[0], predict(server, job[1])), jobs))
    for name, (status, _, data) in answers:
        if name == "bad":
            assert status == 422 and is_one_line_error(data)
        else:
            assert status == 200 and data["digit"] == expected[name]
    assert request(server, "GET", "/")[0] == 200


def test_a_burst_of_connections_waits_in_the_backlog(reader):
    """Connections the server has not accepted yet wait in the listen backlog. With
    socketserver's default backlog of 5, a burst of clients overflowed it: the kernel dropped
    their handshakes, and some were reset mid-request."""
    srv = draw.DrawServer(("127.0.0.1", 0), reader)         # not serving: nothing is accepted
    clients = []
    try:
        for _ in range(32):
            clients.append(socket.create_connection(srv.server_address, timeout=1))
    finally:
        for client in clients:
            client.close()
        srv.server_close()


class StuckReader:
    """A reader that holds its worker until released, then fails as ``failure`` says."""

    def __init__(self, failure):
        self.failure, self.started, self.release = failure, threading.Event(), threading.Event()

    def read(self, source, name=None):
        self.started.set()
        self.release.wait(WAIT)
        raise self.failure


def test_images_are_read_by_at_most_the_workers_and_the_rest_hear_busy(monkeypatch):
    monkeypatch.setattr(draw, "BUSY_SECONDS", 0.5)
    stuck = StuckReader(ImageError("image: not a digit, says the test"))
    srv = draw.serve_in_thread(stuck, workers=1)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(predict, srv, b"first")
            assert stuck.started.wait(WAIT)
            status, _, data = predict(srv, b"second")            # the one worker is busy
            assert status == 503 and is_one_line_error(data)
            stuck.release.set()
            assert first.result(WAIT)[0] == 422
    finally:
        stuck.release.set()
        srv.shutdown()
        srv.server_close()


def test_a_failing_reader_is_a_500_and_the_server_goes_on(capsys):
    stuck = StuckReader(RuntimeError("a bug\nover two lines"))
    stuck.release.set()
    srv = draw.serve_in_thread(stuck)
    try:
        status, _, data = predict(srv, b"x")
        assert status == 500 and data == {"error": "the image could not be read"}
        assert request(srv, "GET", "/")[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()
    err = capsys.readouterr().err
    assert "a bug over two lines" in err and "Traceback" not in err


def first_reply(server):
    """The answer to GET / on a new connection; b"" if the server closes it unanswered."""
    try:
        return raw(server, b"GET / HTTP/1.0\r\n\r\n", timeout=10)
    except socket.timeout:
        raise
    except OSError:             # reset, or closed before we finished sending: unanswered
        return b""


def test_connections_over_the_limit_are_closed_and_the_server_recovers(reader):
    srv = draw.serve_in_thread(reader, max_connections=2)
    try:
        idle = [socket.create_connection(srv.server_address, timeout=WAIT) for _ in range(2)]
        try:
            # Accepted in order: the two idle ones hold both slots, waiting for a request.
            assert first_reply(srv) == b""
        finally:
            for s in idle:
                s.close()
        for _ in range(50):                    # the two slots come back as their threads end
            if first_reply(srv).startswith(b"HTTP/1.0 200"):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the server did not recover its connection slots")
    finally:
        srv.shutdown()
        srv.server_close()


# ---------------------------------------------------------------- the page's files, and only them

@pytest.mark.parametrize("path, kind, words", [
    ("/", "text/html", ['<canvas id="pad"', '<button id="clear"', 'id="digit"']),
    ("/index.html?x=1", "text/html", ['<canvas id="pad"']),
    ("/draw.js", "text/javascript", ["api/predict"]),
    ("/draw.css", "text/css", ["#pad"]),
])
def test_the_page_is_served(server, path, kind, words):
    status, response, body = request(server, "GET", path)
    assert status == 200 and response.getheader("Content-Type").startswith(kind)
    assert "default-src 'self'" in response.getheader("Content-Security-Policy")
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    for word in words:
        assert word in body.decode()


def test_the_page_needs_nothing_from_the_internet():
    for name in ("index.html", "draw.js", "draw.css"):
        text = (EXAMPLES / "draw" / name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name


@pytest.mark.parametrize("path", [
    "/../draw.py", "/%2e%2e/draw.py", "/draw/../draw.py", "/..%2fdraw.py", "//etc/passwd",
    "/index.html/../../draw.py", "/draw", "/draw/index.html", "/examples/draw.py",
    "/%00", "/.git/config",
])
def test_nothing_else_is_served(server, path):
    reply = raw(server, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    status, data = status_and_json(reply)
    assert status == 404 and is_one_line_error(data)
    assert b"import" not in reply and b"root:" not in reply


def test_head_sends_headers_only(server):
    reply = raw(server, b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("method, path, code", [("GET", "/api/predict", 405),
                                                ("POST", "/", 404), ("PUT", "/", 501),
                                                ("DELETE", "/api/predict", 501)])
def test_wrong_methods_and_places_get_json_errors(server, method, path, code):
    status, _, data = request(server, method, path, body=b"x")
    assert status == code and is_one_line_error(data)


@pytest.mark.parametrize("host, code", [("localhost", 200), ("127.0.0.1:8000", 200),
                                        ("[::1]:8000", 200), ("evil.example", 403),
                                        ("127.0.0.1.evil.example", 403), ("[::1", 403)])
def test_only_requests_addressed_to_this_machine_are_answered(server, host, code):
    """DNS rebinding: a page on evil.example, its name pointed at 127.0.0.1, must get nothing."""
    reply = raw(server, f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert reply.startswith(f"HTTP/1.0 {code}".encode())
    body = encoded(seven(), "PNG")
    head = f"POST /api/predict HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n\r\n"
    assert raw(server, head.encode() + body).startswith(f"HTTP/1.0 {code}".encode())


# ---------------------------------------------------------------- the command line

def start(*args):
    return subprocess.Popen([sys.executable, str(EXAMPLES / "draw.py"), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(proc, seconds=60):
    """The first line the server prints, waiting at most ``seconds``."""
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    return proc.stdout.readline().strip() if ready else ""


def test_the_command_prints_its_address_and_serves_the_page(model):
    proc = start("--model", model, "--port", 0)
    try:
        line = first_line(proc)
        match = re.fullmatch(r"Draw a digit at http://127\.0\.0\.1:(\d+)/  \(Ctrl-C stops\)", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        conn = http.client.HTTPConnection("127.0.0.1", int(match[1]), timeout=WAIT)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=WAIT)


@pytest.mark.parametrize("args, word", [(["--model", "{tmp}/missing.npz"], "missing.npz"),
                                        (["--port", "70000"], "--port"),
                                        (["--port", "{busy}"], "cannot listen")])
def test_bad_flags_get_one_line(model, tmp_path, args, word):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = [a.replace("{tmp}", str(tmp_path)).replace("{busy}", str(busy.getsockname()[1]))
                for a in args]
        if "--model" not in args:
            args += ["--model", str(model)]
        proc = start(*args)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode in (1, 2) and out == "" and "Traceback" not in err
    assert word in err.strip().splitlines()[-1]


@pytest.mark.parametrize("args, line", [
    (["--port", "-1"], "error: --port: must be 0-65535 (0: any free port), got -1"),
    (["--port", "abc"], "error: --port: expected a port number, got 'abc'"),
    (["--model", ""], "error: --model: empty path (leave --model out for the default model)"),
    (["--host", ""], "error: --host: empty (127.0.0.1 for this machine only; 0.0.0.0 for every "
                     "interface, on purpose)"),
    (["--data", "{tmp}/none"], "error: --data: {tmp}/none is not a folder"),
    (["--model", "{tmp}"], "error: --model: {tmp} is a folder, not a model file")])
def test_a_bad_flag_is_one_line_with_exit_status_2_before_anything_runs(tmp_path, args, line):
    """An empty --model must not mean 'train the default model', nor an empty --host 'listen
    on every interface'."""
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = start(*args)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err.strip().splitlines() == [line.replace("{tmp}", str(tmp_path))]

