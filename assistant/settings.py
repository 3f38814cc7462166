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
    # the embedder: ONNX exports of the packaged model live here, one folder per weights hash (a cache
    # shared by every data folder, git-ignored); precision "fp32" or "int8" (README, Performance)
    models_dir: Path = REPO_ROOT / "data" / "models"
    embedding_precision: str = "fp32"
    # retrieval
    dense_k: int = 12
    lexical_k: int = 12
    candidate_passages: int = 16
    # an embedded index of at most this many chunks is searched by an exact scan of the chunk vectors the
    # catalog holds anyway (the same vectors as the Chroma collection; ~0.2 ms at 5,000 chunks against
    # ~2 ms for Chroma's query, `python -m bench.turn`); a larger one, or a Chroma server, by Chroma; 0: always Chroma
    exact_search_max_chunks: int = 10_000
    # fusion weights that follow how much of the question the index's words cover (measured: lowers dev
    # answer accuracy 0.824 -> 0.791, see docs/evaluation.md; off by default)
    adaptive_fusion: bool = False
    # answering (see assistant/answering.py for where the abstention threshold comes from)
    max_answer_sentences: int = 3
    max_answer_chars: int = 600
    abstain_below: float = 0.15
    # A question whose words its likeliest document covers less than this share of (by idf weight) is "plain
    # language": WordNet stand-ins are searched for it (assistant/pipeline/synonyms.py), and the model's rewrite
    # may be asked (condense.py). Re-swept on dev in session 19, when everyday words outside the index stopped
    # weighing like rare ones: 0.751 at 0.5, 0.756 from 0.6 to 0.8; the plateau's lowest, the original set's
    # MRR floor met below 0.7 (docs/evaluation.md, docs/llm.md).
    plain_language_below: float = 0.6
    disabled_rules: tuple[str, ...] = ()  # named answering rules turned off (assistant/pipeline/rules.py; ablation)
    # input limits
    max_question_chars: int = 2000
    max_history_messages: int = 20
    max_history_chars: int = 4000
    # web
    host: str = "127.0.0.1"
    port: int = 7860
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # extra Host header values, e.g. the public name behind a proxy
    rate_limit_per_minute: int = 60
    max_body_bytes: int = 64_000  # POST /api/ask
    max_chat_body_bytes: int = 512_000  # the chat's own POSTs: it sends the whole conversation back each turn
    concurrency: int = 4  # questions answered at once, API and chat together; more wait their turn
    chat_queue_size: int = 64  # chat questions that may wait in Gradio's queue before it says it is full
    chat_queue_per_client: int = 8  # of those, waiting questions one client may have (its fair share)
    feedback_max_bytes: int = 10_000_000  # the feedback file is rotated to .1 past this (≤ 2x on disk)
    # connections (uvicorn/h11): a request's head, idle keep-alive, and the time to send the head
    max_header_bytes: int = 16_384
    keep_alive_s: float = 5.0
    header_timeout_s: float = 10.0
    # /v1/* (the OpenAI-compatible routes) require "Authorization: Bearer <this>" when set; env only
    # (ASSISTANT_OPENAI_TOKEN), kept out of repr so it is never logged or shown.
    openai_token: str | None = field(default=None, repr=False)
    debug: bool = False
    # opt-in LLM composer (assistant/pipeline/llm.py): unset URL = extractive answers only
    llm_url: str | None = None  # an OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 (Ollama)
    llm_model: str = "default"  # the model name the server knows (llama.cpp's server accepts any)
    llm_api_key: str = field(default="", repr=False)  # env ASSISTANT_LLM_API_KEY only: never a flag, never shown
    llm_timeout_s: float = 20.0  # each call to the model (a rewrite, an answer); then the rule/extractive result
    # with a model configured, a follow-up or plain-language question the rules could not answer is also
    # condensed by the model into a standalone query (used only if its evidence passes decide). Off by
    # default: on the dev split it changed no answer (SmolLM2), so it has not earned its latency; docs/llm.md
    llm_rewrite: bool = False

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
EMBEDDING_PRECISIONS = ("fp32", "int8")  # index.embedding.ONNX_PRECISIONS


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
    if values.get("embedding_precision", "fp32") not in EMBEDDING_PRECISIONS:
        raise InputError(f"embedding precision {values['embedding_precision']!r} is not one of "
                         f"{', '.join(EMBEDDING_PRECISIONS)} (ASSISTANT_EMBEDDING_PRECISION).")
    for name in ("data_dir", "corpus_dir", "models_dir"):
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
