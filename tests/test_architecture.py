"""The shape of the code, checked by walking imports with ``ast``: dependencies point one way
(corpus <- index <- assistant <- eval), each heavy third-party library has one owner, library code
never reads the environment, and importing the library loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("corpus", "index", "assistant", "eval")
# The edges: they build Settings from the environment and may import every layer.
EDGES = {"assistant/cli.py", "assistant/web/app.py", "assistant/web/ui.py", "assistant/__main__.py", "assistant/settings.py"}


def source_files() -> list[Path]:
    """Every project module outside tests, the venv and data folders."""
    skip = {".venv", "tests", "data", "node_modules", ".git"}
    return sorted(p for p in REPO_ROOT.rglob("*.py") if not skip & set(p.relative_to(REPO_ROOT).parts))


def rel(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = rel(path).rsplit("/", 1)[0].replace("/", ".") if "/" in rel(path) else ""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def importers_of(library: str) -> set[str]:
    return {rel(p) for p in source_files()
            if any(n == library or n.startswith(library + ".") for n in imported_modules(p))}


def test_the_walk_sees_the_project():
    files = {rel(p) for p in source_files()}
    assert {"corpus/chunking.py", "index/store.py", "assistant/service.py", "eval/runner.py"} <= files
    assert not any(f.startswith(("tests/", ".venv/")) for f in files)
    assert "chromadb" in imported_modules(REPO_ROOT / "index" / "store.py")


@pytest.mark.parametrize("layer, forbidden", [
    ("corpus", ("index", "assistant", "eval")),
    ("index", ("assistant", "eval")),
    ("assistant", ("eval",)),
])
def test_dependencies_point_one_way(layer, forbidden):
    offenders = {}
    for path in (REPO_ROOT / layer).rglob("*.py"):
        bad = sorted(n for n in imported_modules(path) if n.split(".")[0] in forbidden)
        if bad:
            offenders[rel(path)] = bad
    assert offenders == {}


@pytest.mark.parametrize("library, owner", [
    ("chromadb", "index/store.py"),
    ("langchain_chroma", "index/store.py"),
    ("sentence_transformers", "index/embedding.py"),
    ("tokenizers", "index/onnx_embedding.py"),
    ("gradio", "assistant/web/ui.py"),
])
def test_each_heavy_library_has_exactly_one_owner(library, owner):
    assert importers_of(library) == {owner}


def test_onnxruntime_and_torch_stay_inside_the_embedder_modules():
    # the session lives in onnx_embedding; the export (torch, onnxruntime's quantiser) in onnx_export;
    # torch otherwise only behind the sentence-transformers reference
    assert importers_of("onnxruntime") == {"index/onnx_embedding.py", "index/onnx_export.py"}
    assert importers_of("torch") <= {"index/embedding.py", "index/onnx_export.py"}


def reads_environment(path: Path) -> list[int]:
    """Line numbers where ``path`` touches the process environment."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
                and node.attr in ("environ", "getenv", "putenv", "unsetenv", "environb")):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                a.name in ("environ", "getenv", "environb") for a in node.names):
            lines.append(node.lineno)
    return lines


def test_library_code_never_reads_the_environment():
    offenders = {}
    for package in ("corpus", "index", "assistant"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            if rel(path) not in EDGES and reads_environment(path):
                offenders[rel(path)] = reads_environment(path)
    assert offenders == {}
    assert reads_environment(REPO_ROOT / "assistant" / "settings.py")  # the one place that does


def test_importing_the_library_loads_no_heavy_dependency():
    modules = ["corpus.documents", "corpus.chunking", "index.build", "index.store", "index.embedding",
               "index.catalog", "assistant.service", "assistant.cli", "eval.runner"]
    probe = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
             "print(sorted(m for m in ('torch', 'chromadb', 'sentence_transformers', 'gradio', 'transformers')"
             " if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
