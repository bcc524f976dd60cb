"""A small paginated REST API to ingest from: page numbers and opaque next-page tokens.

How it works: a ``ThreadingHTTPServer`` on 127.0.0.1 serves ``--pages`` pages of
``--page-size`` deterministic items (``{"id", "page", "payload"}``; item ``id`` is
``(page - 1) * page_size + i + 1`` and ``payload`` a hash of the id, so every server
started with the same numbers serves the same data). Two styles of paging:

- ``GET /items?page=N`` -> ``{"page", "total_pages", "items"}`` (N from 1);
  ``GET /items/count`` -> ``{"total_pages", "page_size", "total_items"}`` (no page served);
- ``GET /items/stream`` (first page), then ``GET /items/stream?token=T`` ->
  ``{"items", "next"}``, ``next`` a token or null after the last page. A token is the
  item offset of its page, base64url-encoded and HMAC-SHA256-signed with ``--secret``:
  stateless (any server with the same secret and data accepts it, across restarts) and
  opaque (not the page number; a tampered or foreign token is refused).

``GET /stats`` -> ``{"served": {"<page>": count}, "requests", "errors"}``: how many times
each page was served, by either style, since the server started (a test counts
re-fetches with it). A bad page or token is 400 ``{"error", "message"}``; an unknown path
404. ``--delay-ms`` sleeps before serving each page (a slow API, so a test can kill a
client mid-fetch).

Run it as ``python -m examples.paginated_ingest.server --port 0 --pages 40
--page-size 10``; it prints one line ``LISTENING http://127.0.0.1:PORT`` once it listens
and serves until SIGTERM or SIGINT.

What it does not do: persist anything (stats start at zero on each start), expire
tokens, authenticate, or TLS. Loopback only; for tests and demos, not for load.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["DEFAULT_SECRET", "ApiError", "Catalog", "main"]

DEFAULT_SECRET = "paginated-ingest-example"
_TOKEN_PREFIX = "o:"


class ApiError(Exception):
    """An error answered as ``{"error", "message"}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Catalog:
    """The served data: ``pages`` pages of ``page_size`` items, and the token secret."""

    pages: int
    page_size: int
    secret: str = DEFAULT_SECRET

    def items(self, page: int) -> list[dict[str, Any]]:
        """The items of ``page`` (1-based); the same on every call and every server."""
        first = (page - 1) * self.page_size + 1
        return [{"id": i, "page": page,
                 "payload": hashlib.sha256(f"item-{i}".encode()).hexdigest()[:16]}
                for i in range(first, first + self.page_size)]

    def page_number(self, raw: str | None) -> int:
        """The page number in the query value ``raw``; ApiError 400 if there is none."""
        try:
            page = int(raw or "")
        except ValueError:
            raise ApiError(400, "bad_page", f"page must be an integer, got {raw!r}") from None
        if not 1 <= page <= self.pages:
            raise ApiError(400, "bad_page", f"page {page} does not exist (1..{self.pages})")
        return page

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.secret.encode(), body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    def token_for(self, page: int) -> str:
        """The opaque next-page token of ``page``: its signed item offset."""
        body = base64.urlsafe_b64encode(
            f"{_TOKEN_PREFIX}{(page - 1) * self.page_size}".encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def page_of_token(self, token: str) -> int:
        """The page a token points at; ApiError 400 if it is forged, foreign or stale."""
        body, _, signature = token.partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            raise ApiError(400, "bad_token", "the page token is not one this server issued")
        try:
            text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
            offset = int(text.removeprefix(_TOKEN_PREFIX))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ApiError(400, "bad_token", "the page token is malformed") from None
        if offset % self.page_size or not 0 <= offset < self.pages * self.page_size:
            raise ApiError(400, "bad_token", f"the page token points at offset {offset}, "
                           f"which this data set ({self.pages} pages) does not have")
        return offset // self.page_size + 1


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        try:
            status, payload = 200, self._route()
        except ApiError as err:
            status, payload = err.status, {"error": err.code, "message": err.message}
        except Exception as exc:  # a bug here must not kill the thread silently
            status, payload = 500, {"error": "internal", "message": repr(exc)}
        self.server.count(None if status == 200 else status)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> dict[str, Any]:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        catalog = self.server.catalog
        if url.path == "/items":
            page = catalog.page_number(query.get("page"))
            return {"page": page, "total_pages": catalog.pages, "items": self._serve(page)}
        if url.path == "/items/count":
            return {"total_pages": catalog.pages, "page_size": catalog.page_size,
                    "total_items": catalog.pages * catalog.page_size}
        if url.path == "/items/stream":
            token = query.get("token")
            page = 1 if token is None else catalog.page_of_token(token)
            items = self._serve(page)
            return {"items": items,
                    "next": catalog.token_for(page + 1) if page < catalog.pages else None}
        if url.path == "/stats":
            return self.server.stats()
        raise ApiError(404, "not_found", f"no such endpoint: GET {url.path}")

    def _serve(self, page: int) -> list[dict[str, Any]]:
        if self.server.delay > 0:
            time.sleep(self.server.delay)
        self.server.served(page)
        return self.server.catalog.items(page)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, catalog: Catalog, delay: float, verbose: bool) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.catalog, self.delay, self.verbose = catalog, delay, verbose
        self._lock = threading.Lock()
        self._served: Counter[int] = Counter()
        self._requests = self._errors = 0

    def served(self, page: int) -> None:
        with self._lock:
            self._served[page] += 1

    def count(self, error_status: int | None) -> None:
        with self._lock:
            self._requests += 1
            self._errors += error_status is not None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"served": {str(p): n for p, n in sorted(self._served.items())},
                    "requests": self._requests, "errors": self._errors}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT (``python -m examples.paginated_ingest.server --help``)."""
    parser = argparse.ArgumentParser(prog="python -m examples.paginated_ingest.server",
                                     description="A paginated REST API of items.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--pages", type=_positive, default=40)
    parser.add_argument("--page-size", type=_positive, default=10)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="sleep before each page")
    parser.add_argument("--secret", default=DEFAULT_SECRET, help="HMAC key of page tokens")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must be >= 0")
    catalog = Catalog(args.pages, args.page_size, args.secret)
    server = _Server(args.port, catalog, args.delay_ms / 1000, args.verbose)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"LISTENING http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
