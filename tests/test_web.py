"""The web app over real HTTP: API answers equal the library's and the CLI's, errors are JSON, the
allow-list drives CORS and framing, limits hold, and no path serves files from outside the app."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from urllib.parse import urlparse

from pathlib import Path

import httpx
import pytest

from tests.webserver import free_port, running_app

pytestmark = pytest.mark.server

QUESTION = "What was the median TTP in the IFM 2014-01 study?"
FOLLOW_UP = "What was its median overall survival?"


def post_ask(url: str, payload, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/api/ask", json=payload, timeout=60, **kwargs)


def summary(answer: dict) -> tuple:
    return answer["answer"], answer["abstained"], [c["chunk_id"] for c in answer["citations"]], answer["rewritten_query"]


@pytest.fixture(scope="module")
def first_turn(web_url) -> dict:
    response = post_ask(web_url, {"question": QUESTION, "history": []})
    assert response.status_code == 200, response.text
    return response.json()


def test_api_answer_equals_in_process_answer(web_url, assistant, first_turn):
    assert summary(first_turn) == summary(assistant.ask(QUESTION, []).to_dict())
    assert set(first_turn) >= {"question", "rewritten_query", "answer", "abstained", "citations", "retrieved",
                               "see_also", "confidence"}
    assert "latency_ms" not in first_turn  # it told whether someone had just asked the same question


def test_api_follow_up_uses_history_like_the_library(web_url, assistant, first_turn):
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first_turn["answer"]}]
    response = post_ask(web_url, {"question": FOLLOW_UP, "history": history})
    assert response.status_code == 200, response.text
    assert summary(response.json()) == summary(assistant.ask(FOLLOW_UP, history).to_dict())


def test_api_answer_equals_cli_answer(web_settings, first_turn):
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(web_settings.data_dir), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "assistant", "ask", "--json", QUESTION], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert summary(json.loads(done.stdout)) == summary(first_turn)


def test_gradio_client_streams_the_same_answer_and_keeps_history(web_url, first_turn, assistant):
    os.environ["HF_HUB_OFFLINE"] = "1"
    from gradio_client import Client

    client = Client(web_url, verbose=False)
    job = client.submit(QUESTION, [], api_name="/ask")
    textbox, chat, sources, answer = job.result(timeout=60)
    assert summary(answer) == summary(first_turn)
    assert len(job.outputs()) > 2, "the answer should arrive in several streamed updates"
    assert "<mark>" in sources and answer["citations"][0]["quote"][:40].replace("&", "&amp;") in sources
    # The chat value goes back in as history: the Chatbot's escaped text is converted to plain turns.
    textbox, chat, sources, follow = client.predict(FOLLOW_UP, chat, api_name="/ask")
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first_turn["answer"]}]
    assert summary(follow) == summary(assistant.ask(FOLLOW_UP, history).to_dict())


def test_health_reports_index_and_model(web_url, assistant):
    body = httpx.get(f"{web_url}/api/health").json()
    assert body["status"] == "ok"
    assert body["chunks"] == assistant.store.count() > 0
    assert body["model"] == assistant.embedder.model_name


def test_docs_are_served_without_a_cdn(web_url):
    docs = httpx.get(f"{web_url}/docs")
    assert docs.status_code == 200
    assert "swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    asset = urlparse(docs.text.split('src="', 1)[1].split('"', 1)[0]).path
    assert httpx.get(f"{web_url}{asset}").status_code == 200
    schema = httpx.get(f"{web_url}/openapi.json").json()
    assert "/api/ask" in schema["paths"] and "/api/health" in schema["paths"]


@pytest.mark.parametrize("payload, status, needle", [
    ({"question": "", "history": []}, 400, "empty"),
    ({"question": "   \n\t ", "history": []}, 400, "empty"),
    ({"question": "x" * 2001, "history": []}, 400, "2000"),
    ({"history": []}, 422, "question"),
    ({"question": 42}, 422, "question"),
    ({"question": "ok?", "history": "not a list"}, 422, "history"),
    ({"question": "ok?", "history": [{"role": "robot", "content": "hi"}]}, 422, "role"),
    ({"question": "ok?", "history": [{"role": "user"}]}, 422, "content"),
    ([1, 2, 3], 422, "body"),
])
def test_bad_requests_get_a_json_error(web_url, payload, status, needle):
    response = post_ask(web_url, payload)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert needle in response.json()["error"]
    assert "Traceback" not in response.text


def test_malformed_json_gets_a_json_error(web_url):
    response = httpx.post(f"{web_url}/api/ask", content=b'{"question": "unterminated',
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["error"]


def test_oversized_body_is_refused_before_parsing(web_url, web_settings):
    body = json.dumps({"question": "a" * (web_settings.max_body_bytes + 10)}).encode()
    response = httpx.post(f"{web_url}/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert str(web_settings.max_body_bytes) in response.json()["error"]

    def chunked():  # no Content-Length: the limit must hold while reading
        for _ in range(10):
            yield b"x" * (web_settings.max_body_bytes // 5)

    response = httpx.post(f"{web_url}/api/ask", content=chunked(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_cors_allows_only_the_allow_list(web_url, web_ports):
    allowed = f"http://127.0.0.1:{web_ports['allowed_site']}"
    foreign = f"http://127.0.0.1:{web_ports['foreign_site']}"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}

    ok = httpx.options(f"{web_url}/api/ask", headers={"Origin": allowed, **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == allowed
    refused = httpx.options(f"{web_url}/api/ask", headers={"Origin": foreign, **preflight})
    assert refused.status_code >= 400 and "access-control-allow-origin" not in refused.headers

    answered = post_ask(web_url, {"question": QUESTION}, headers={"Origin": allowed})
    assert answered.status_code == 200 and answered.headers["access-control-allow-origin"] == allowed
    # The browser would hide the reply, but the server must not even run the request.
    for path in ("/api/ask", "/gradio_api/call/ask"):
        forbidden = httpx.post(f"{web_url}{path}", json={"question": QUESTION, "data": [QUESTION, []]},
                               headers={"Origin": foreign})
        assert forbidden.status_code == 403, path
        assert "not allowed" in forbidden.json()["error"]
    # A sandboxed frame or a file:// page sends "Origin: null": not on the list either.
    assert post_ask(web_url, {"question": QUESTION}, headers={"Origin": "null"}).status_code == 403
    # The server's own pages (same origin) may post.
    assert post_ask(web_url, {"question": QUESTION}, headers={"Origin": web_url}).status_code == 200


def test_frame_ancestors_and_security_headers_on_every_response(web_url, web_ports):
    allowed = f"http://127.0.0.1:{web_ports['allowed_site']}"
    foreign = f"http://127.0.0.1:{web_ports['foreign_site']}"
    responses = [httpx.get(f"{web_url}{path}") for path in (
        "/", "/embed", "/widget.js", "/widget/embed.js", "/api/health", "/docs", "/openapi.json", "/no-such-page",
        "/gradio_api/info", "/gradio_api/file=/etc/passwd", "/api/ask")]
    responses += [  # the guard's own refusals carry them too
        httpx.post(f"{web_url}/api/ask", content=b"x" * 70_000, headers={"Content-Type": "application/json"}),
        httpx.post(f"{web_url}/api/ask", content=b"{}", headers={"Content-Type": "text/plain"}),
        httpx.post(f"{web_url}/api/ask", json={"question": QUESTION}, headers={"Origin": foreign}),
    ]
    assert sorted({r.status_code for r in responses}) == [200, 403, 404, 405, 413, 415]
    for response in responses:
        path = f"{response.request.method} {response.request.url.path} {response.status_code}"
        csp = response.headers["content-security-policy"]
        assert "default-src" in csp, path
        ancestors = csp.split("frame-ancestors", 1)[1].split(";")[0]
        assert "'self'" in ancestors and allowed in ancestors and foreign not in ancestors, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert "x-frame-options" not in response.headers, path
    embed_csp = httpx.get(f"{web_url}/embed").headers["content-security-policy"]
    assert "script-src 'self';" in embed_csp and "unsafe" not in embed_csp and "img-src 'self' data:;" in embed_csp
    page_csp = httpx.get(f"{web_url}/").headers["content-security-policy"]
    assert "connect-src 'self'" in page_csp and "img-src 'self' data: blob:" in page_csp
    assert "script-src 'self' 'unsafe-inline';" in page_csp and "unsafe-eval" not in page_csp
    assert "object-src 'none'" in page_csp and "default-src 'self'" in page_csp


def test_an_unexpected_error_is_a_json_500_with_the_security_headers():
    """Starlette's own 500 is sent from outside every middleware; SecurityHeaders answers first."""
    from starlette.testclient import TestClient

    from assistant.web.security import SecurityHeaders

    async def broken(scope, receive, send):
        raise RuntimeError("secret detail /srv/app/file.py")

    response = TestClient(SecurityHeaders(broken, ("https://news.example",))).get("/anything")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal error; the server log has the details."}
    assert "frame-ancestors 'self' https://news.example" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_widget_script_and_embed_page_are_served(web_url):
    script = httpx.get(f"{web_url}/widget.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "document.currentScript" in script.text and 'script[src*="widget.js"]' in script.text
    page = httpx.get(f"{web_url}/embed")
    assert page.status_code == 200 and '<script src="/widget/embed.js">' in page.text
    assert "innerHTML" not in httpx.get(f"{web_url}/widget/embed.js").text


REPO = Path(__file__).resolve().parents[1]
# What each target file holds, to recognise it in a response body.
TARGETS = {
    "/etc/passwd": "root:x:0:0",
    str(REPO / "requirements.txt"): "torch==2.13.0",
    str(REPO / "assistant" / "settings.py"): "class Settings",
    str(REPO / ".git" / "config"): "[core]",
}
TRAVERSALS = [
    "/../../{rel}", "/%2e%2e/%2e%2e/{rel}", "/%2e%2e%2f%2e%2e%2f{rel}", "/..%2f..%2f{rel}", "/%252e%252e%252f{rel}",
    "/gradio_api/file={abs}", "/gradio_api/file={rel}", "/gradio_api/file=../../../../{rel}",
    "/gradio_api/file=%2e%2e%2f%2e%2e%2f%2e%2e%2f{rel}", "/gradio_api/file/{abs}", "/file={abs}", "/file={rel}",
    "/static/../../../../{rel}", "/static/%2e%2e/%2e%2e/%2e%2e/{rel}", "/assets/..%2f..%2f..%2f{rel}",
    "/assets/{abs}", "/widget/..%2f..%2f..%2f..%2f{rel}", "/widget/{abs}", "/docs-assets/../../../../{rel}",
    "/docs-assets/..%2f..%2f..%2f..%2f{rel}", "/gradio_api/static/../../../{rel}", "/{abs}", "//{abs}",
]


def get_verbatim(url: str, path: str) -> tuple[int, str]:
    host = urlparse(url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request("GET", path)  # sent verbatim: http.client does not normalise '..' or '%2e'
    response = conn.getresponse()
    body = response.read().decode("utf-8", "replace")
    conn.close()
    return response.status, body


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_no_path_serves_files_outside_the_app(web_url, target):
    """/etc/passwd and the repo's own files, by every traversal spelling, relative to the working
    directory (the repo, where Gradio was started) and to the filesystem root."""
    relative = os.path.relpath(target, REPO) if target.startswith(str(REPO)) else target.lstrip("/")
    deep = "../" * 12 + target.lstrip("/")
    served = []
    for template in TRAVERSALS:
        for rel in {relative, deep}:
            path = template.format(rel=rel, abs=target)
            status, body = get_verbatim(web_url, path)
            if TARGETS[target] in body:
                served.append((path, status))
    assert not served


def test_the_data_folder_is_not_served(web_url, web_settings):
    data = web_settings.data_dir
    votes = web_settings.feedback_path
    votes.parent.mkdir(parents=True, exist_ok=True)
    with open(votes, "a", encoding="utf-8") as fh:
        fh.write('{"vote": "like", "question": "marker-7f3a", "answer": ""}\n')
    sqlite = next(data.rglob("chroma.sqlite3"))
    for target in (sqlite, votes, next(data.rglob("recipe.json"))):
        for path in (f"/gradio_api/file={target}", f"/file={target}", f"/{target}",
                     f"/gradio_api/file={os.path.relpath(target, REPO)}", f"/static/{os.path.relpath(target, REPO)}"):
            status, body = get_verbatim(web_url, path)
            assert status in (403, 404), (path, status)
            assert "SQLite format" not in body and "marker-7f3a" not in body and "corpus_hash" not in body


def test_uploads_are_refused_so_nothing_can_be_stored_and_served_back(web_url):
    for path in ("/gradio_api/upload", "/gradio_api/upload/", "/upload"):
        response = httpx.post(f"{web_url}{path}", files={"files": ("x.html", b"<script>alert(1)</script>", "text/html")})
        assert response.status_code == 403, path
        assert response.json() == {"error": "This server accepts no file uploads."}


def test_rate_limit_answers_429_with_retry_after(web_settings, assistant):
    from assistant.web import create_app

    from gradio_client import Client

    limited = replace(web_settings, port=free_port(), rate_limit_per_minute=2)
    with running_app(create_app(limited, assistant=assistant), limited.port) as url:
        os.environ["HF_HUB_OFFLINE"] = "1"
        chat = Client(url, verbose=False)
        codes = [post_ask(url, {"question": "What is ixazomib?"}).status_code,
                 len(chat.predict("What is ixazomib?", [], api_name="/ask"))]
        refused = post_ask(url, {"question": "What is ixazomib?"})
        assert codes == [200, 4]  # one API question, one chat question: the window is per client, not per path
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "limit is 2" in refused.json()["error"]
        # The chat's queue join is refused by the guard with a 429 (the page shows its message as a toast).
        with pytest.raises(httpx.HTTPStatusError) as chat_refused:
            chat.predict("What is ixazomib?", [], api_name="/ask")
        assert chat_refused.value.response.status_code == 429
        assert re.search(r"Too many questions: the limit is 2 per 60 s. Try again in \d+ s.",
                         chat_refused.value.response.json()["error"])
        # Malformed requests count too (they cost a parse), and the limit is on questions only.
        assert post_ask(url, {"question": ""}).status_code == 429
        assert httpx.get(f"{url}/api/health").status_code == 200


def test_bad_allowed_origin_is_refused_at_start(web_settings, assistant):
    from assistant.errors import InputError
    from assistant.web import create_app

    with pytest.raises(InputError, match="not an origin"):
        create_app(replace(web_settings, allowed_origins=("https://ok.example", "* 'unsafe-inline'")), assistant=assistant)


def start_chroma(path: Path, port: int) -> subprocess.Popen:
    """`chroma run` on ``path``/``port``, returned once it answers its heartbeat."""
    chroma = os.path.join(os.path.dirname(sys.executable), "chroma")
    process = subprocess.Popen([chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            pytest.fail("chroma run exited at start")
        time.sleep(0.2)
    process.kill()
    pytest.fail("chroma run did not answer its heartbeat")


@pytest.fixture()
def chroma_server(tmp_path):
    """A real `chroma run` server on a free port; yields (url, path, processes) — a test may restart it
    on the same port and path and append the new process, which is stopped at the end too."""
    port = free_port()
    path = tmp_path / "chroma-server"
    processes = [start_chroma(path, port)]
    try:
        yield f"http://127.0.0.1:{port}", path, processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


def test_store_outage_answers_503_json_and_recovers_without_a_restart(chroma_server, web_settings, embedder, tmp_path):
    """Chroma (a server) goes away mid-run: questions and health answer 503 with a next step, the chat
    shows the message; once Chroma is back on the same port and path the same app answers again."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from assistant.service import Assistant
    from assistant.web import create_app
    from corpus.documents import load_documents
    from index.build import ingest
    from index.store import ChunkStore, connect

    url, path, processes = chroma_server
    server_settings = replace(web_settings, port=free_port(), chroma_url=url, data_dir=tmp_path / "data")
    store = ChunkStore(connect(url=url), server_settings.collection)
    ingest(load_documents([server_settings.corpus_dir]), store, embedder, server_settings.catalog_dir)
    with running_app(create_app(server_settings, assistant=Assistant.open(server_settings, embedder)),
                     server_settings.port) as app_url:
        before = post_ask(app_url, {"question": QUESTION})
        assert before.status_code == 200
        processes[0].terminate()
        processes[0].wait(timeout=10)
        for response in (post_ask(app_url, {"question": "What is the median PFS?"}), httpx.get(f"{app_url}/api/health")):
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "10" or response.request.method == "GET"
            assert "Chroma" in response.json()["error"] and "Traceback" not in response.text
        os.environ["HF_HUB_OFFLINE"] = "1"
        with pytest.raises(AppError, match="Chroma"):
            Client(app_url, verbose=False).predict("What is the median PFS?", [], api_name="/ask")

        processes.append(start_chroma(path, int(urlparse(url).port)))
        after = post_ask(app_url, {"question": QUESTION})
        assert after.status_code == 200, after.text
        assert summary(after.json()) == summary(before.json())
        assert httpx.get(f"{app_url}/api/health").json()["chunks"] == store.count() > 0


def test_only_the_ui_module_imports_gradio_and_web_imports_nothing_heavy():
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "assistant"
    importers = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "gradio" or n.startswith("gradio.") for n in names):
                importers.add(path.relative_to(package).as_posix())
    assert importers == {"web/ui.py"}
    probe = "import sys, assistant.web.app; print(sorted(m for m in ('gradio', 'torch', 'chromadb') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_concurrent_questions_get_the_same_answers_as_one_at_a_time(web_url, assistant):
    from concurrent.futures import ThreadPoolExecutor

    questions = [QUESTION, "What is the brand name of ixazomib?", "Where does Andrew Yee work?",
                 "What is the capital of France?"] * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda q: post_ask(web_url, {"question": q}), questions))
    assert [r.status_code for r in responses] == [200] * len(questions)
    expected = {q: summary(assistant.ask(q, []).to_dict()) for q in set(questions)}
    assert all(summary(r.json()) == expected[q] for q, r in zip(questions, responses))
