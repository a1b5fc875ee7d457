"""Draw a digit in the browser: a local web page that reads what you draw, as you draw it.

    python examples/draw.py [--model PATH] [--host 127.0.0.1] [--port 8000]

prints the page's address (``--port 0`` picks a free port). The page, examples/draw/ (plain
HTML, CSS and JavaScript: no build step, nothing from the internet), sends the drawing, or a
photo dropped or chosen, to the API below and shows the digit, the ten probabilities and the
28x28 the network saw. Model and preprocessing are the front end's (``examples/reader.py``):
the same default model, trained once if missing, and the same answers for the same file.

    POST /api/predict   body: one image file's bytes (PNG, JPEG, ...: not PostScript)
    200  {"digit": d, "probabilities": [p0, ..., p9], "confident": true|false,
          "preview": "data:image/png;base64,..."}      (the 28x28 the network saw, as a PNG)
    400  empty body, bad Content-Length    411  no Content-Length (chunked bodies refused)
    413  over MAX_BODY bytes, refused from the Content-Length before the body is read
    408  the body came too slowly          422  not an image of a digit (unreadable, blank)
    403  a Host other than this machine    503  too busy        ... each {"error": "reason"}

A web page is an open door, so: the server binds 127.0.0.1 unless told otherwise; it serves
the page's three files from a fixed table (no path in a request reaches the file system); a
body is only ever decoded as an image; every socket operation has a timeout and a request must
arrive whole within REQUEST_SECONDS; at most MAX_CONNECTIONS connections are served and WORKERS
images read at once, so threads and memory stay bounded. The standard library's http.server
is enough for one page and one endpoint, and keeps the examples free of dependencies.
"""
import argparse
import base64
import io
import ipaddress
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

from common import Parser  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from reader import add_model_flags, check_model_flags, load_reader  # noqa: E402
from scratchnet.imaging import ImageError  # noqa: E402

STATIC = Path(__file__).resolve().parent / "draw"
PAGES = {"/": ("index.html", "text/html; charset=utf-8"),          # URL -> the only files served
         "/index.html": ("index.html", "text/html; charset=utf-8"),
         "/draw.js": ("draw.js", "text/javascript; charset=utf-8"),
         "/draw.css": ("draw.css", "text/css; charset=utf-8")}
MAX_BODY = 10 * 1024 * 1024      # bytes: a phone photo is 2-6 MB
SOCKET_TIMEOUT = 10              # seconds any one read or write may wait
REQUEST_SECONDS = 30             # the whole request (line, headers, body) must arrive by then
MAX_CONNECTIONS = 64             # served at once; more are closed at once
WORKERS = 4                      # images decoded and read at once (each may take ~200 MB)
BUSY_SECONDS = 30                # how long a request waits for a worker before 503
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def answer(reading):
    """A reader's Reading as the API's JSON object."""
    grey = np.clip(np.asarray(reading.image, dtype=np.float32), 0, 1)
    png = io.BytesIO()
    Image.fromarray((grey * 255 + 0.5).astype(np.uint8), "L").save(png, "PNG")
    return {"digit": int(reading.digit),
            "probabilities": [float(p) for p in reading.probabilities],
            "confident": bool(reading.confident),
            "preview": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()}


class Handler(BaseHTTPRequestHandler):
    """One connection: HTTP/1.0, one request, then the connection closes."""

    server_version = "scratchnet-draw"
    default_request_version = "HTTP/1.0"   # so even a garbled request gets a status line

    def setup(self):
        super().setup()
        self.connection.settimeout(SOCKET_TIMEOUT)     # no read or write waits for ever
        # Per-read timeouts alone let a client that sends a byte every few seconds hold the
        # thread for hours; this cuts the connection when the whole request is late.
        self.watchdog = threading.Timer(REQUEST_SECONDS, self._cut)
        self.watchdog.daemon = True
        self.watchdog.start()

    def _cut(self):
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def finish(self):
        self.watchdog.cancel()
        try:
            super().finish()
        except OSError:          # the client is gone: nothing left to tell it
            pass

    def version_string(self):
        return self.server_version      # not Python's version: nobody needs to know it

    # ---- responses

    def _send(self, code, body, content_type):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code, obj):
        self._send(code, json.dumps(obj).encode(), "application/json")

    def send_error(self, code, message=None, explain=None):
        """Every error, the ones http.server itself sends included, as {"error": reason}."""
        self.close_connection = True
        reason = message or self.responses.get(code, ("error",))[0]
        try:
            self._json(code, {"error": " ".join(str(reason).split())})
        except OSError:
            pass

    def log_request(self, code="-", size="-"):
        if str(code).isdigit() and int(code) >= 400:   # quiet when all is well
            super().log_request(code, size)

    # ---- requests

    def _host_ok(self):
        """Bound to this machine only, answer only requests addressed to it: a web page
        elsewhere cannot then reach the API through a domain name that points here (DNS
        rebinding)."""
        if not self.server.loopback:
            return True
        host = self.headers.get("Host")
        if host is None:
            return True          # not a browser: browsers always send Host
        try:
            name = urlsplit("//" + host.strip()).hostname or ""
            return name == "localhost" or ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def do_GET(self):
        if not self._host_ok():
            return self.send_error(403, "this server answers only requests for localhost")
        path = urlsplit(self.path).path
        if path == "/api/predict":
            return self.send_error(405, "use POST with the image file's bytes as the body")
        if path not in PAGES:
            return self.send_error(404, f"no such page: {path[:100]}")
        name, content_type = PAGES[path]
        self._send(200, (STATIC / name).read_bytes(), content_type)

    do_HEAD = do_GET

    def do_POST(self):
        if not self._host_ok():
            return self.send_error(403, "this server answers only requests for localhost")
        if urlsplit(self.path).path != "/api/predict":
            return self.send_error(404, "POST only to /api/predict")
        body = self._read_body()
        if body is None:
            return
        self.watchdog.cancel()   # the request is in: from here on, the work is ours
        if not self.server.workers.acquire(timeout=BUSY_SECONDS):
            return self.send_error(503, "too busy; try again in a moment")
        try:
            reading = self.server.reader.read(body, name="image")
        except ImageError as e:          # its message starts with "image: "
            return self.send_error(422, str(e))
        except Exception as e:  # noqa: BLE001 - one bad request must not end the server
            self.log_error("reading an upload failed: %s", " ".join(str(e).split())
                           or type(e).__name__)
            return self.send_error(500, "the image could not be read")
        finally:
            self.server.workers.release()
        self._json(200, answer(reading))

    def _read_body(self):
        """The request's body, or None after answering with an error. The length is checked
        before a byte of the body is read, so a huge upload costs nothing."""
        if self.headers.get("Transfer-Encoding"):
            self.send_error(411, "send the image with a Content-Length, not chunked")
            return None
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            self.send_error(411, "a Content-Length is required")
            return None
        text = lengths[0].strip()
        if len(set(lengths)) > 1 or not (text.isascii() and text.isdigit()):
            self.send_error(400, f"invalid Content-Length: {', '.join(lengths)[:40]!r}")
            return None
        digits = text.lstrip("0") or "0"       # int() refuses over 4300 digits: don't ask it
        n = int(digits) if len(digits) <= 18 else MAX_BODY + 1
        if n > MAX_BODY:
            self.send_error(413, f"the image is {n} bytes; the limit is {MAX_BODY} bytes "
                                 f"({MAX_BODY // 2 ** 20} MiB)")
            return None
        if n == 0:
            self.send_error(400, "empty body: send the image file's bytes")
            return None
        try:
            body = self.rfile.read(n)
        except socket.timeout:     # TimeoutError from Python 3.10 on
            self.send_error(408, f"the body did not arrive within {SOCKET_TIMEOUT} s")
            return None
        except OSError:          # reset, or cut by the watchdog: no one to answer
            self.close_connection = True
            return None
        if len(body) < n:
            self.send_error(400, f"the body ended after {len(body)} of {n} bytes")
            return None
        return body


class DrawServer(ThreadingHTTPServer):
    """A threading HTTP server with a bounded number of connections and of workers."""

    daemon_threads = True
    request_queue_size = MAX_CONNECTIONS    # the listen backlog (socketserver's default: 5)

    def __init__(self, address, reader, max_connections=MAX_CONNECTIONS, workers=WORKERS):
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self.loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            self.loopback = False
        self.reader = reader
        self.slots = threading.BoundedSemaphore(max_connections)
        self.workers = threading.BoundedSemaphore(workers)
        super().__init__(address, Handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):     # full: refuse rather than queue threads
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        """One line, not a traceback: clients that vanish or send garbage are expected."""
        e = sys.exc_info()[1]
        if not isinstance(e, OSError):
            why = " ".join(str(e).split())
            print(f"draw: {client_address[0]}: {type(e).__name__}: {why}", file=sys.stderr)

    def url(self):
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve_in_thread(reader, host="127.0.0.1", port=0, **options):
    """A DrawServer serving from a background thread (for tests and notebooks); ``options`` go
    to DrawServer. Stop it with ``server.shutdown(); server.server_close()``."""
    server = DrawServer((host, port), reader, **options)
    threading.Thread(target=server.serve_forever, name="draw-server", daemon=True).start()
    return server


def port_number(text):
    """An argparse type: a TCP port, 0-65535 (0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535 (0: any free port), got {port}")
    return port


def main(argv=None):
    parser = Parser(description=__doc__.splitlines()[0])
    add_model_flags(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=port_number, default=8000,
                        help="port (default 8000; 0 picks a free one)")
    args = parser.parse_args(argv)
    check_model_flags(parser, args)
    if not args.host.strip():
        parser.error("--host: empty (127.0.0.1 for this machine only; 0.0.0.0 for every "
                     "interface, on purpose)")

    try:
        reader = load_reader(args.model, args.data)
    except (ValueError, OSError) as e:        # one line, naming the file
        sys.exit(f"error: {' '.join(str(e).split())}")
    try:
        server = DrawServer((args.host, args.port), reader)
    except (OSError, OverflowError) as e:
        sys.exit(f"error: cannot listen on {args.host} port {args.port}: "
                 f"{getattr(e, 'strerror', None) or e}")
    print(f"Draw a digit at {server.url()}  (Ctrl-C stops)", flush=True)
    if not server.loopback:
        print(f"note: listening on {args.host}: other machines can reach this page",
              file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
