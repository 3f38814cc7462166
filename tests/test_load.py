"""A short version of bench/load.py: concurrent clients on ``/api/ask`` (and the chat at the same time)
get no errors and exactly the single-client answers, while at most ``concurrency`` answers run at once."""

from __future__ import annotations

import os
import threading
from dataclasses import replace

import pytest

from bench.load import load_requests, outcome, reference_answers, run_load
from tests.webserver import free_port, running_app

pytestmark = pytest.mark.server

CONCURRENCY = 2


@pytest.fixture(scope="module")
def busy_app(web_settings, assistant):
    """The app with answering concurrency 2, so 8 clients must queue; (url, app)."""
    from assistant.web import create_app

    settings = replace(web_settings, port=free_port(), concurrency=CONCURRENCY)
    app = create_app(settings, assistant=assistant)
    with running_app(app, settings.port) as url:
        yield url, app


def test_eight_clients_for_five_seconds_get_no_errors_and_the_single_client_answers(busy_app):
    url, app = busy_app
    requests = load_requests()[::5]  # 27 questions, with and without history
    assert any(r.history for r in requests)
    reference = reference_answers(url, requests)
    result = run_load(url, requests, reference, clients=8, duration_s=5)
    assert result.requests >= 8 and result.errors == 0 and result.mismatches == 0, result.problems
    # the gate held: never more than CONCURRENCY at once, and the load did reach it (the rest waited)
    assert app.state.gate.peak == CONCURRENCY and app.state.gate.active == 0


def test_chat_and_api_at_once_share_the_limit_and_queue_instead_of_failing(busy_app):
    os.environ["HF_HUB_OFFLINE"] = "1"
    from gradio_client import Client

    url, app = busy_app
    requests = load_requests()[1::9][:12]
    standalone = [i for i, r in enumerate(requests) if not r.history][:3]
    assert len(standalone) == 3
    reference = reference_answers(url, requests)
    chat = Client(url, verbose=False)
    try:
        jobs = [chat.submit(requests[i].question, [], api_name="/ask") for i in standalone]
        api = {}
        worker = threading.Thread(target=lambda: api.update(result=run_load(url, requests, reference, 6, 3)))
        worker.start()
        answers = [job.result(timeout=120)[3] for job in jobs]
        worker.join(timeout=120)
    finally:
        chat.close()
    assert api["result"].errors == 0 and api["result"].mismatches == 0, api["result"].problems
    assert [outcome(a) for a in answers] == [reference[i] for i in standalone]
    assert app.state.gate.peak == CONCURRENCY
