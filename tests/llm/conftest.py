"""The LLM composer's fixtures: a real llama-cpp-python server with SmolLM2-135M on a free port, once per
session. It is never skipped: if it cannot start, every test that needs it fails with the reason."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import replace

import pytest

from tests.webserver import free_port

# Generous: two cores shared with other work make a 135M model take seconds per answer under load.
MODEL_TIMEOUT_S = 180.0


@pytest.fixture(scope="session")
def llm_url():
    """Base URL (``http://127.0.0.1:N/v1``) of the session's model server."""
    from tests.llm.server import LLMServerError, running_llm_server

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(running_llm_server(free_port()))
        except LLMServerError as exc:
            pytest.fail(f"The LLM composer's tests need a real model server and it did not start: {exc}",
                        pytrace=False)
        yield url


@pytest.fixture(scope="session")
def llm_settings(settings, llm_url):
    return replace(settings, llm_url=llm_url, llm_model="smollm2", llm_timeout_s=MODEL_TIMEOUT_S)


@pytest.fixture(scope="session")
def composer(llm_settings):
    from assistant.pipeline.llm import LLMComposer

    return LLMComposer(llm_settings)


@pytest.fixture(scope="session")
def llm_assistant(assistant, llm_settings, composer):
    """The session's (extractive) assistant's index and model, answering with the LLM composer."""
    from assistant.service import Assistant

    return Assistant(llm_settings, assistant.embedder, assistant.store, assistant.catalog, composer=composer)


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
