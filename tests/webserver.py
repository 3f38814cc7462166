"""Helpers to run the real web app (uvicorn in a thread) and small static "publisher" sites in tests."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from typing import Callable, Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(app, port: int, timeout_s: float = 30.0) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn on 127.0.0.1:``port`` in a thread; yields its base URL."""
    import uvicorn

    # a client that keeps a stream open (gradio_client) must not hold the shutdown for long
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the web app did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def static_site(pages: dict[str, Callable[[], str]], port: int) -> Iterator[str]:
    """A tiny HTTP server on ``port`` answering GET ``path`` with ``pages[path]()`` as HTML."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            page = pages.get(self.path.split("?")[0])
            body = (page() if page else "not found").encode("utf-8")
            self.send_response(200 if page else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, name=f"site-{port}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
