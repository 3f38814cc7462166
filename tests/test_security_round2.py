"""Security, round two (issue 15): each finding of the outside test, against the real server.

1. no file on the server can be read through the chat's history (every content-part shape, both routes);
2. text handling is linear: the worst strings at the body limits cost about a normal turn and do not
   hold up a health check;
3. feedback is bounded data; 4. connections are bounded (h11, request deadline);
5. fair share: queue joins and votes count against the client's limit, a client's share of the queue,
   malformed queue calls are short 4xx; 6. Host allow-list, no latency_ms, monitoring closed, generic
   errors, nonsense asks to rephrase.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import statistics
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.webserver import free_port, running_app

SECRET = "s3cr3t-7f1c-issue15-do-not-serve"
QUESTION = "What was the median TTP in the IFM 2014-01 study?"


def _meta() -> dict:
    return {"_type": "gradio.FileData"}


def _shapes(secret: Path, folder: Path) -> dict[str, object]:
    """Every content shape a client could put in a chat message, each naming the secret file."""
    path = str(secret)
    file_data = {"path": path, "meta": _meta()}
    return {
        "file part": [{"type": "file", "file": file_data}],
        "file part with url": [{"type": "file", "file": {**file_data, "url": f"/gradio_api/file={path}",
                                                         "orig_name": "x.txt"}, "alt_text": "x"}],
        "image part": [{"type": "file", "file": {**file_data, "mime_type": "image/png"}}],
        "file part without type": [{"file": file_data}],
        "component part (file)": [{"type": "component", "component": "file", "value": file_data,
                                   "constructor_args": {}, "props": {}}],
        "component part (image)": [{"type": "component", "component": "image", "value": file_data,
                                    "constructor_args": {"type": "filepath"}, "props": {}}],
        "component part (html)": [{"type": "component", "component": "html", "value": f"<img src='{path}'>",
                                   "constructor_args": {}, "props": {}}],
        "unknown part type": [{"type": "video", "path": path}],
        "text part with a nested file": [{"type": "text", "text": "hi", "extra": {"file": file_data}}],
        "text and a file together": [{"type": "text", "text": "hi"}, {"type": "file", "file": file_data}],
        "content is a FileData": file_data,
        "content is a path string": path,
        "content is a tuple of a path": [path],
        "a directory": [{"type": "file", "file": {"path": str(folder), "meta": _meta()}}],
    }


def _dependencies(url: str) -> dict[str, int]:
    config = httpx.get(f"{url}/config", timeout=30).json()
    return {d.get("api_name"): d["id"] for d in config["dependencies"]}


def _queue_call(url: str, payload: dict, session: str, timeout_s: float = 60.0) -> tuple[int, str]:
    """POST /gradio_api/queue/join, then read the data stream until the event completes."""
    joined = httpx.post(f"{url}/gradio_api/queue/join", json={**payload, "session_hash": session}, timeout=30)
    text = joined.text
    if joined.status_code != 200:
        return joined.status_code, text
    deadline = time.monotonic() + timeout_s
    with httpx.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session},
                      timeout=timeout_s) as stream:
        for line in stream.iter_lines():
            text += line + "\n"
            if "process_completed" in line or time.monotonic() > deadline:
                break
    return joined.status_code, text


def _file_urls(value) -> list[str]:
    """Every ``url``/``path`` value and ``file=`` string anywhere in ``value``."""
    found: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found += [str(node[k]) for k in ("url", "path") if k in node]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and "file=" in node:
            found.append(node)
    return found


# -- 1. no file read through the chat -------------------------------------------------------------------

def test_no_content_part_shape_reads_a_file_through_run_or_queue(web_url, tmp_path):
    # A name and content of this run only: Gradio's cache is shared by every run on the machine.
    secret = tmp_path / f"secret-{uuid.uuid4().hex}.txt"
    secret.write_text(SECRET, encoding="utf-8")
    fn_index = _dependencies(web_url)["ask"]
    leaks = []
    for name, content in _shapes(secret, tmp_path).items():
        history = [{"role": "user", "content": content}, {"role": "assistant", "content": [{"type": "text", "text": "ok"}]}]
        data = ["What was its median OS?", history, None]
        run = httpx.post(f"{web_url}/gradio_api/run/ask", json={"data": data}, timeout=60)
        status, streamed = _queue_call(web_url, {"data": data, "fn_index": fn_index, "event_data": None,
                                                 "trigger_id": None}, f"shape{abs(hash(name))}")
        for route, code, text in (("run", run.status_code, run.text), ("queue", status, streamed)):
            if SECRET in text or str(secret) in text or "file=" in text:
                leaks.append(f"{name} via {route}: {code} {text[:200]}")
            if code == 200 and route == "run" and _file_urls(run.json()):
                leaks.append(f"{name} via run: file urls {_file_urls(run.json())[:2]}")
    assert not leaks, "\n".join(leaks)
    # Nothing of it reached Gradio's cache, and no spelling of the file route serves it.
    cache = Path(os.environ.get("GRADIO_TEMP_DIR", "/tmp/gradio"))
    copies = [p for p in cache.rglob(secret.name)] if cache.exists() else []
    assert copies == []
    for route in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
        got = httpx.get(f"{web_url}{route}{secret}", timeout=10)
        assert got.status_code in (403, 404) and SECRET not in got.text


def test_file_parts_are_refused_with_a_4xx_and_text_history_still_works(web_url, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    history = [{"role": "user", "content": [{"type": "file", "file": {"path": str(secret), "meta": _meta()}}]}]
    refused = httpx.post(f"{web_url}/gradio_api/run/ask", json={"data": ["What was its OS?", history, None]}, timeout=30)
    assert refused.status_code == 422 and "text only" in refused.json()["error"]
    text_history = [{"role": "user", "content": [{"type": "text", "text": QUESTION}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "10.5 months."}]}]
    answered = httpx.post(f"{web_url}/gradio_api/run/ask", json={"data": ["And its OS?", text_history, None]},
                          timeout=60)
    assert answered.status_code == 200, answered.text
    chat = answered.json()["data"][1]
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant"]
    assert all(part["type"] == "text" for m in chat for part in m["content"])
    assert _file_urls(answered.json()) == []


def test_the_chat_history_model_keeps_text_parts_only():
    from assistant.web.ui import _ChatHistory

    history = [{"role": "user", "content": [
        {"type": "text", "text": "kept"},
        {"type": "file", "file": {"path": "/etc/hostname", "meta": _meta()}},
        {"type": "component", "component": "file", "value": {"path": "/etc/hostname"}, "constructor_args": {},
         "props": {}},
        {"type": "unknown", "text": "dropped"},
    ], "options": [{"value": "/etc/hostname"}]}]
    rebuilt = _ChatHistory.model_validate(history).model_dump()
    assert [(m["role"], [p["text"] for p in m["content"]]) for m in rebuilt] == [("user", ["kept"])]
    assert "/etc/hostname" not in json.dumps(rebuilt)


def test_upload_recording_and_monitoring_routes_are_closed(web_url):
    files = {"files": ("a.html", b"<script>alert(1)</script>", "text/html")}
    assert httpx.post(f"{web_url}/gradio_api/upload", files=files, timeout=10).status_code == 403
    recorded = httpx.post(f"{web_url}/gradio_api/process_recording", files={"data": ("a.wav", b"RIFF", "audio/wav")},
                          timeout=10)
    assert recorded.status_code == 403
    for path in ("/monitoring", "/monitoring/summary", "/gradio_api/monitoring/summary", "/monitoring/abc/dashboard",
                 "/gradio_api/upload_progress?upload_id=x", "/gradio_api/proxy=http://127.0.0.1:1/x"):
        got = httpx.get(f"{web_url}{path}", timeout=10)
        assert got.status_code == 404, (path, got.status_code, got.text[:100])


# -- 2. linear-time text handling --------------------------------------------------------------------

def _timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _with_health_probe(url: str, call) -> tuple[float, float, object]:
    """Run ``call`` while another thread polls /api/health; (call's seconds, slowest health seconds, result)."""
    slowest = [0.0]
    done = threading.Event()

    def probe():
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                took, _ = _timed(lambda: client.get(f"{url}/api/health"))
                slowest[0] = max(slowest[0], took)
                time.sleep(0.05)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    time.sleep(0.1)
    try:
        took, result = _timed(call)
    finally:
        done.set()
        thread.join(timeout=30)
    return took, slowest[0], result


def test_worst_strings_at_the_body_limits_cost_about_a_normal_request(web_url, web_settings):
    api_max = web_settings.max_body_bytes - 200
    chat_max = web_settings.max_chat_body_bytes - 2000
    ask = f"{web_url}/api/ask"
    run = f"{web_url}/gradio_api/run/ask"

    def api(question, history=()):
        return lambda: httpx.post(ask, json={"question": question, "history": list(history)}, timeout=120)

    def chat(message, history=()):
        return lambda: httpx.post(run, json={"data": [message, list(history), None]}, timeout=120)

    def text_message(role, text):
        return {"role": role, "content": [{"type": "text", "text": text}]}

    normals = []
    for question in ("What was the median TTP in the IFM 2014-01 study?", "Which regimens are preferred?",
                     "Why is an oral drug liked?"):
        normals.append(_timed(api(question))[0])
        normals.append(_timed(chat(question))[0])
    normal = statistics.median(normals)
    worst = {
        "API question: spaces": api(" " * api_max + "x"),
        "API question: 2,000 digits": api("1" * 1999 + "a"),
        "API question: brackets": api("(" * api_max),
        "API question: markers": api("[1]" * 660),
        "API history: spaces then x (conversation._MARKER)": api("What was its median OS?", [
            {"role": "user", "content": " " * api_max + "x"}]),
        "API history: markers": api("What was its OS?", [{"role": "user", "content": "a [1" * (api_max // 4)}]),
        "API history: one long word": api("What was its OS?", [{"role": "user", "content": "Aa1-" * (api_max // 4)}]),
        "chat message: spaces": chat(" " * chat_max + "x"),
        "chat history: '<' (display._TAG)": chat("What was its OS?", [text_message("user", "<" * chat_max)]),
        "chat history: searched lines": chat("What was its OS?", [text_message("assistant",
                                                                                 '<div class="searched">' * (chat_max // 23))]),
        "chat history: spaces": chat("What was its OS?", [text_message("user", " " * chat_max + "x")]),
        "chat history: escapes": chat("What was its OS?", [text_message("user", "\\" * chat_max)]),
        "feedback: a huge vote": lambda: httpx.post(f"{web_url}/gradio_api/queue/join", timeout=120, json={
            "data": [None], "fn_index": _dependencies(web_url)["vote"], "session_hash": "w",
            "event_data": {"index": [1, None], "value": "x", "liked": "x" * chat_max}}),
    }
    slow = []
    for name, call in worst.items():
        took, health, response = _with_health_probe(web_url, call)
        assert response.status_code < 500, (name, response.status_code, response.text[:200])
        if took > 4 * normal + 1.5 or health > 1.5:
            slow.append(f"{name}: {took:.2f} s (normal {normal:.2f} s), health held {health:.2f} s")
    assert not slow, "\n".join(slow)


def test_a_garbage_collection_does_not_walk_the_served_index(web_url, assistant):
    """The open index, lexicon and model live as long as the server; frozen when the app is built, a full
    collection (which holds every request, /api/health too) walks only what turns allocate (the memo
    caches, named with "_", fill per turn). Unfrozen, the test session's 2.4 million objects took up to
    1.8 s to walk and stalled the request above in CI."""
    opened = {"assistant": assistant, "catalog": assistant.catalog, "lexicon": assistant.lexicon,
              "pipeline": assistant.pipeline, "embedder": assistant.embedder}
    for owner in ("catalog", "lexicon"):
        opened |= {f"{owner}.{k}": v for k, v in vars(opened[owner]).items() if not k.startswith("_")}
    held = {name: o for name, o in opened.items() if gc.is_tracked(o)}
    walked = {id(o) for o in gc.get_objects()}
    assert len(held) >= 10
    assert [name for name, o in held.items() if id(o) in walked] == []
    assert gc.get_freeze_count() >= len(held)


def test_history_cleaning_is_cut_before_the_marker_pattern_runs():
    from assistant.inputs import clean_history

    took, turns = _timed(lambda: clean_history([{"role": "user", "content": "x" + " " * 200_000 + "y"}] * 30, 20, 4000))
    assert took < 0.5 and [t.content for t in turns] == ["x"] * 20  # each cut first (to twice the budget)
    took, turns = _timed(lambda: clean_history([{"role": "user", "content": "see [1] and [12]."}], 20, 4000))
    assert turns[0].content == "see and."


def test_nonsense_asks_the_person_to_rephrase(web_url):
    for nonsense in ("((((((((((", "[1][1][1][1]", "😀🎉🔥", "?!?! ... ---", "1 2 3 4"):
        refused = httpx.post(f"{web_url}/api/ask", json={"question": nonsense}, timeout=30)
        assert refused.status_code == 400 and "rephrase" in refused.json()["error"], nonsense
    for fine in ("药物的效果如何？", "¿Qué es ixazomib?", "What was OS?"):
        assert httpx.post(f"{web_url}/api/ask", json={"question": fine}, timeout=60).status_code == 200, fine


# -- 3. feedback as bounded data ----------------------------------------------------------------------

def test_feedback_records_are_one_escaped_line_each_capped_and_rotated(tmp_path):
    from assistant.web.feedback import MAX_QUESTION_CHARS, FeedbackLog, read_feedback

    path = tmp_path / "feedback.jsonl"
    log = FeedbackLog(path, max_bytes=20_000)
    tricky = "a\u2028b\u0085c\u2029d\ud800e"
    log.record("like", tricky, "answer\u2028two", [{"n": 1, "chunk_id": "c" * 999, "quote": tricky}])
    log.record("dislike", "q" * 50_000, "a" * 50_000, [{"n": 1, "chunk_id": "c", "quote": "x"}] * 100)
    raw = path.read_bytes()
    assert raw.count(b"\n") == 2 and raw.isascii()
    entries, skipped = read_feedback(path)
    assert skipped == 0 and entries[0]["question"] == tricky and entries[0]["answer"] == "answer\u2028two"
    assert len(entries[1]["question"]) == MAX_QUESTION_CHARS and len(entries[1]["citations"]) == 10
    with pytest.raises(ValueError):
        log.record("x" * 480_000, "q", "a")
    for _ in range(40):
        log.record("like", "q" * 2000, "a" * 2000)
    assert path.stat().st_size <= 20_000 and (tmp_path / "feedback.jsonl.1").stat().st_size <= 20_000


def _first_answer_session(url: str, deps: dict, session: str) -> None:
    payload = {"data": [QUESTION, [], None], "fn_index": deps["ask"], "event_data": None, "trigger_id": None}
    status, text = _queue_call(url, payload, session)
    assert status == 200 and "process_completed" in text


def test_votes_are_validated_rate_limited_and_stored_bounded(web_settings, assistant, tmp_path):
    from assistant.web import create_app
    from assistant.web.feedback import read_feedback

    limited = replace(web_settings, port=free_port(), rate_limit_per_minute=4, data_dir=tmp_path)
    with running_app(create_app(limited, assistant=assistant), limited.port) as url:
        deps = _dependencies(url)
        _first_answer_session(url, deps, "voter")

        def vote(liked, index=(1, None)):
            return httpx.post(f"{url}/gradio_api/queue/join", timeout=30, json={
                "data": [None], "fn_index": deps["vote"], "session_hash": "voter", "trigger_id": None,
                "event_data": {"index": list(index), "value": "x", "liked": liked}})

        big = vote("x" * 480_000)
        assert big.status_code == 422 and "vote" in big.json()["error"]
        assert vote({"a": 1}).status_code == 422 and vote(True, index=("x",)).status_code == 422
        codes = [vote(True).status_code for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429, 429]  # 1 question + 3 votes = the limit
        time.sleep(2)
    entries, _ = read_feedback(tmp_path / "feedback.jsonl")
    assert {e["vote"] for e in entries} <= {"like", "dislike", "retracted"} and len(entries) <= 3
    assert all(len(json.dumps(e)) < 20_000 for e in entries)


# -- 5. fair share ---------------------------------------------------------------------------------

def test_queue_joins_count_against_the_limit_and_one_client_cannot_fill_the_queue(web_settings, assistant):
    from assistant.web import create_app

    shared = replace(web_settings, port=free_port(), rate_limit_per_minute=200, chat_queue_size=16,
                     chat_queue_per_client=3, concurrency=1)
    app = create_app(shared, assistant=assistant)
    hold = threading.Event()
    holder = threading.Thread(target=app.state.gate.run, args=(hold.wait, 60), daemon=True)
    holder.start()  # the one answering slot is busy: joins wait in the queue
    with running_app(app, shared.port) as url:
        deps = _dependencies(url)
        try:
            joins = [httpx.post(f"{url}/gradio_api/queue/join", timeout=30, json={
                "data": [f"What was the median TTP? {i}", [], None], "fn_index": deps["ask"], "session_hash": f"f{i}",
                "event_data": None, "trigger_id": None}) for i in range(30)]
        finally:
            hold.set()
        codes = [j.status_code for j in joins]
        assert codes.count(200) <= 1 + 3, codes  # one taken by the worker, 3 waiting
        assert all(c in (200, 429) for c in codes) and "waiting" in joins[-1].json()["error"]
        assert 503 not in codes  # the queue never filled
    rate = replace(web_settings, port=free_port(), rate_limit_per_minute=3)
    with running_app(create_app(rate, assistant=assistant), rate.port) as url:
        deps = _dependencies(url)
        codes = []
        for i in range(5):
            status, _ = _queue_call(url, {"data": [QUESTION, [], None], "fn_index": deps["ask"], "event_data": None,
                                          "trigger_id": None}, f"r{i}")
            codes.append(status)
        assert codes == [200, 200, 200, 429, 429]
        limited = httpx.post(f"{url}/gradio_api/run/ask", json={"data": [QUESTION, [], None]}, timeout=30)
        assert limited.status_code == 429 and "Too many questions" in limited.json()["error"]
        assert "retry-after" in limited.headers


@pytest.mark.parametrize("path, body", [
    ("/gradio_api/queue/join", {"data": [], "fn_index": -1, "session_hash": "abc"}),
    ("/gradio_api/queue/join", {"data": [], "fn_index": "x", "session_hash": "abc"}),
    ("/gradio_api/queue/join", {"fn_index": 0}),
    ("/gradio_api/queue/join", [1, 2]),
    ("/gradio_api/run/nope", {"data": []}),
    ("/gradio_api/run/predict", {"data": [], "fn_index": 99999}),
    ("/gradio_api/call/nope", {"data": []}),
    ("/gradio_api/stream/abc", {"data": []}),
    ("/gradio_api/vibe-edit", {"prompt": "x"}),
])
def test_malformed_queue_calls_are_short_4xx_with_one_log_line(web_url, path, body, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        got = httpx.post(f"{web_url}{path}", json=body, timeout=30)
    assert 400 <= got.status_code < 500, got.text[:200]
    assert len(got.content) < 300 and "Traceback" not in got.text
    assert sum("Traceback" in r.getMessage() or r.exc_info is not None for r in caplog.records) == 0
    assert len([r for r in caplog.records if "refused a chat request" in r.getMessage()]) <= 1


def test_not_json_to_the_queue_is_a_422(web_url):
    got = httpx.post(f"{web_url}/gradio_api/queue/join", content=b"{not json", timeout=30,
                     headers={"content-type": "application/json"})
    assert got.status_code == 422 and "JSON" in got.json()["error"]


# -- 6. low findings ---------------------------------------------------------------------------------

def test_a_host_header_not_on_the_allow_list_is_refused(web_url, web_ports):
    rebinding = httpx.get(f"{web_url}/api/health", headers={"Host": f"rebind.attacker.example:{web_ports['app']}",
                                                            "Origin": f"http://rebind.attacker.example:{web_ports['app']}"},
                          timeout=10)
    assert rebinding.status_code == 400 and "host" in rebinding.json()["error"]
    posted = httpx.post(f"{web_url}/api/ask", json={"question": QUESTION}, timeout=10,
                        headers={"Host": "rebind.attacker.example", "Origin": "http://rebind.attacker.example"})
    assert posted.status_code == 400
    assert httpx.get(f"{web_url}/api/health", headers={"Host": f"localhost:{web_ports['app']}"}, timeout=10).status_code == 200


def test_answers_carry_no_latency_and_errors_no_exception_text(web_url):
    answer = httpx.post(f"{web_url}/api/ask", json={"question": QUESTION}, timeout=60).json()
    assert "latency_ms" not in answer
    chat = httpx.post(f"{web_url}/gradio_api/run/ask", json={"data": [QUESTION, [], None]}, timeout=60).json()
    assert "latency_ms" not in json.dumps(chat)
    # A value Gradio cannot process (the State as a string, a textbox of a list): no exception text.
    for data in (["hi there question", [], "not a dict"], [["a list"], [], None], [None, None, None]):
        got = httpx.post(f"{web_url}/gradio_api/run/ask", json={"data": data}, timeout=60)
        assert "object is not" not in got.text and "Traceback" not in got.text and "Errno" not in got.text, got.text


# -- 4. connections ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bounded_server(web_settings, assistant):
    """The app served as ``serve`` serves it (assistant.web.server), with short deadlines."""
    import uvicorn

    from assistant.web import create_app
    from assistant.web.server import uvicorn_config

    settings = replace(web_settings, port=free_port(), header_timeout_s=2.0, keep_alive_s=1.0, max_header_bytes=16_384)
    server = uvicorn.Server(uvicorn_config(create_app(settings, assistant=assistant), settings,
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    yield settings
    server.should_exit = True
    thread.join(timeout=10)


def _closed_after(sock: socket.socket, limit_s: float) -> float:
    """Seconds until the server closes ``sock`` (reading and discarding), at most ``limit_s``."""
    started = time.monotonic()
    sock.settimeout(0.5)
    while time.monotonic() - started < limit_s:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - started
    return float("inf")


def test_a_huge_header_is_refused(bounded_server):
    url = f"http://127.0.0.1:{bounded_server.port}"
    try:
        status = httpx.get(f"{url}/api/health", headers={"X-Big": "a" * 200_000}, timeout=10).status_code
    except httpx.TransportError:
        status = "closed"  # refused before the whole head was sent
    assert status in (400, 431, "closed")
    assert httpx.get(f"{url}/api/health", timeout=10).status_code == 200


def test_idle_and_slow_connections_are_closed_in_time(bounded_server):
    port = bounded_server.port
    with socket.create_connection(("127.0.0.1", port)) as idle:
        assert _closed_after(idle, 10) < 4
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port)
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 10:
            try:
                slow.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
            time.sleep(0.5)
        assert closed or _closed_after(slow, 1) < 1
        assert time.monotonic() - started < 4
    with socket.create_connection(("127.0.0.1", port)) as kept:  # keep-alive after a response is short too
        kept.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
        assert _closed_after(kept, 10) < 4
