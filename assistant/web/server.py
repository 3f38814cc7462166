"""How the app is served: uvicorn on h11 with every connection bounded (head size, read time, keep-alive).

uvicorn picks httptools when it is installed, and httptools takes a request head of any size (a 200 MB
header was answered 200). h11 refuses a head over ``max_header_bytes`` with a 400. Neither bounds the
time a client may take to send its request: ``GuardedH11Protocol`` closes a connection whose request
(head and body) has not arrived ``header_timeout_s`` after the connection opened or the previous
response ended (an idle new connection, or one header line every few seconds, held a worker before).
Behind a reverse proxy the proxy's own limits come first; see docs/web.md.
"""

from __future__ import annotations

import asyncio
import functools

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each whole request."""

    def __init__(self, *args, request_timeout_s: float = 10.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request_timeout_s = request_timeout_s
        self._request_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()  # the whole request is in; answering it has no deadline here

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if self.request_timeout_s > 0:
            self._request_deadline = self.loop.call_later(self.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._request_deadline is not None:
            self._request_deadline.cancel()
            self._request_deadline = None

    def _too_slow(self) -> None:
        self._request_deadline = None
        if self.transport.is_closing() or self.conn.their_state is h11.DONE:
            return
        if self.cycle is None or self.cycle.response_complete:
            # Nothing is being answered: say why, then close (a request half-sent gets no reply).
            if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
                body = b"Request not received in time.\n"
                try:
                    self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
                                         b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                except Exception:  # noqa: BLE001 (the peer may be gone already)
                    pass
        self.transport.close()


def uvicorn_config(app, settings, **overrides):
    """The ``uvicorn.Config`` that ``serve`` (and the tests) run ``app`` with for ``settings``."""
    import uvicorn

    options = dict(
        host=settings.host, port=settings.port, log_level="info" if settings.debug else "warning",
        server_header=False, proxy_headers=False,
        http=functools.partial(GuardedH11Protocol, request_timeout_s=settings.header_timeout_s),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=settings.keep_alive_s,
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)
