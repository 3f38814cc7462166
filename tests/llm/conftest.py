"""The LLM composer's test helpers. The session's real model server (llama-cpp-python with SmolLM2-135M)
and the assistant that answers with it are fixtures in tests/conftest.py (``llm_url``, ``llm_settings``,
``composer``, ``llm_assistant``): the browser journeys use them too, and one server serves both."""

from __future__ import annotations

import contextlib
import socket
import threading


@contextlib.contextmanager
def silent_server():
    """A TCP server on a free loopback port that accepts connections and never answers: a model that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()
