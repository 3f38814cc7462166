"""All configuration in one frozen object: defaults < environment (ASSISTANT_*) < CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

from assistant.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    """Every knob of the assistant. Library code receives this; only the edges build it."""

    data_dir: Path = REPO_ROOT / "data"
    corpus_dir: Path = REPO_ROOT / "corpus" / "data"
    chroma_url: str | None = None
    collection: str = "articles"
    # retrieval
    dense_k: int = 12
    lexical_k: int = 12
    candidate_passages: int = 16
    # answering (see assistant/answering.py for where the abstention threshold comes from)
    max_answer_sentences: int = 3
    max_answer_chars: int = 600
    abstain_below: float = 0.15
    # input limits
    max_question_chars: int = 2000
    max_history_messages: int = 20
    max_history_chars: int = 4000
    # web
    host: str = "127.0.0.1"
    port: int = 7860
    allowed_origins: tuple[str, ...] = ()
    rate_limit_per_minute: int = 60
    max_body_bytes: int = 64_000  # POST /api/ask
    max_chat_body_bytes: int = 512_000  # the chat's own POSTs: it sends the whole conversation back each turn
    concurrency: int = 4  # questions answered at once, API and chat together; more wait their turn
    chat_queue_size: int = 64  # chat questions that may wait in Gradio's queue before it says it is full
    debug: bool = False
    # opt-in LLM composer (assistant/pipeline/llm.py): unset URL = extractive answers only
    llm_url: str | None = None  # an OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 (Ollama)
    llm_model: str = "default"  # the model name the server knows (llama.cpp's server accepts any)
    llm_api_key: str = field(default="", repr=False)  # env ASSISTANT_LLM_API_KEY only: never a flag, never shown
    llm_timeout_s: float = 20.0

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def catalog_dir(self) -> Path:
        # one catalog per store: embedded and server mode never share a cache
        where = "server-" + "".join(ch if ch.isalnum() else "_" for ch in self.chroma_url) if self.chroma_url else "embedded"
        return self.data_dir / "catalog" / f"{self.collection}-{where}"

    @property
    def feedback_path(self) -> Path:
        return self.data_dir / "feedback.jsonl"


_ENV_PREFIX = "ASSISTANT_"


def load_settings(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Settings from defaults, then ``ASSISTANT_*`` variables, then keyword overrides (CLI flags).

    Raises:
        InputError: a variable cannot be read as its type; the message names it.
    """
    env = os.environ if env is None else env
    if overrides.get("llm_api_key") is not None:
        raise InputError("The model's API key is read from ASSISTANT_LLM_API_KEY only, never from a flag.")
    values: dict = {}
    for f in fields(Settings):
        key = _ENV_PREFIX + f.name.upper()
        if key in env and env[key] != "":
            values[f.name] = _coerce(f.name, env[key], Settings.__dataclass_fields__[f.name].type, key)
    values.update({k: v for k, v in overrides.items() if v is not None})
    for name in ("data_dir", "corpus_dir"):
        if name in values:
            values[name] = Path(values[name]).expanduser().resolve()
    return replace(Settings(), **values)


def _coerce(name: str, raw: str, type_name: str, key: str):
    try:
        if "tuple" in type_name:
            return tuple(item.strip().rstrip("/") for item in raw.split(",") if item.strip())
        if "bool" in type_name:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if "int" in type_name:
            return int(raw)
        if "float" in type_name:
            return float(raw)
        if "Path" in type_name:
            return Path(raw)
        return raw
    except ValueError:
        raise InputError(f"{key}={raw!r} is not a valid {type_name}; fix or unset it.") from None
