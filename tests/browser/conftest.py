"""Playwright with Debian's Chromium (never `playwright install`): one browser per session, one page per test
that records every request and every JavaScript dialog."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Recorder:
    """Requests, dialogs and console errors seen by one browser context."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []

    def hosts(self) -> set[str]:
        return {urlparse(url).hostname for url in self.requests if urlparse(url).scheme in ("http", "https", "ws", "wss")}

    def assert_stayed_local(self, csp_refusals_expected: bool = False) -> None:
        """Every request went to 127.0.0.1, no dialog fired, and (unless a test provokes one) our CSP
        blocked nothing — it is strict enough to matter and loose enough for Gradio to run."""
        assert self.requests, "no request was recorded"
        assert self.hosts() <= {"127.0.0.1"}, f"requests left the machine: {sorted(self.hosts())}"
        assert not self.dialogs, f"a JavaScript dialog fired: {self.dialogs}"
        if not csp_refusals_expected:
            refused = [line for line in self.console if "Content Security Policy" in line]
            assert not refused, refused


@pytest.fixture()
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture()
def page(browser, recorder):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.on("request", lambda request: recorder.requests.append(request.url))
    page = context.new_page()

    def on_dialog(dialog):
        recorder.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda message: recorder.console.append(f"{message.type}: {message.text}"))
    yield page
    context.close()


@pytest.fixture()
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, target=None) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        (target or page).screenshot(path=str(path))
        return path

    return take
