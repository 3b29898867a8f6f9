"""Serve the bundled sample agency site (or any folder laid out like it) over HTTP on loopback.

`{{BASE_URL}}` in sitemap.xml and robots.txt becomes the address the site is served on. Pages get
ETag and Last-Modified headers and answer conditional GETs with 304, as a real web server does.
"""

from __future__ import annotations

import argparse
import hashlib
import threading
from email.utils import formatdate
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "data" / "sample_site"
TEMPLATED = {".xml", ".txt"}


class SiteHandler(SimpleHTTPRequestHandler):
    """Static files, with the base URL filled in and validators on every page."""

    base_url = ""

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            self.send_error(404, "Not found")
            return
        body = path.read_bytes()
        if path.suffix in TEMPLATED:
            # The address the client used, so a site bound to 0.0.0.0 still lists fetchable URLs.
            host = self.headers.get("Host")
            base = f"http://{host}" if host else self.base_url
            body = body.replace(b"{{BASE_URL}}", base.encode())
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header(
            "Content-Type",
            self.guess_type(str(path)) + ("; charset=utf-8" if path.suffix in {".html", ".xml", ".txt"} else ""),
        )
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", formatdate(path.stat().st_mtime, usegmt=True))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def make_server(root: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server for `root`; port 0 picks a free one. Call serve_forever() (or use serve_in_thread)."""

    class Handler(SiteHandler):
        pass

    server = ThreadingHTTPServer((host, port), partial(Handler, directory=str(root)))
    Handler.base_url = f"http://{host}:{server.server_address[1]}"
    return server


def serve_in_thread(root: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start a server on a daemon thread and return it; `server.shutdown()` stops it."""
    server = make_server(root, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the bundled sample agency site on loopback.")
    parser.add_argument("--root", type=Path, default=ROOT, help="folder to serve (default: data/sample_site)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = make_server(args.root, args.host, args.port)
    print(f"sample site: http://{args.host}:{args.port}/ serving {args.root}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
