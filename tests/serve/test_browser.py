"""End to end in a real browser: headless Chromium (Debian's `chromium` package) driven by Playwright
through `executable_path` — Playwright never downloads a browser here.

Set-up (Makefile / CI, as root): `apt-get update && apt-get install -y chromium`. Where Chromium is
not installed the test is skipped with that command in the message; with FERX_REQUIRE_BROWSER=1
(set by CI after installing it) a missing browser fails instead, so that the test cannot silently
stop running. The screenshot is saved to $FERX_TEST_ARTIFACTS (default build/test-artifacts/).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, lfw_paths

try:
    from playwright.sync_api import expect
except ModuleNotFoundError:  # the fixture skips with the reason
    expect = None

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    """The system Chromium, or skip (fail with FERX_REQUIRE_BROWSER=1) with how to install it."""
    path = os.environ.get("FERX_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = ("Chromium is not installed, so the browser test cannot run; install it with "
               "`apt-get update && apt-get install -y chromium` (or set FERX_CHROMIUM to a Chromium binary)")
    if os.environ.get("FERX_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _ready(page) -> None:
    # Locator waits, not wait_for_function: the page's CSP forbids evaluating strings.
    expect(page.locator("#status")).to_have_text(re.compile("^Ready"), timeout=60_000)


def artifacts() -> Path:
    folder = Path(os.environ.get("FERX_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture()
def page(server):
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (ferx[dev])")
    outside: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            # Offline means offline: any request that leaves the test server is refused and recorded.
            def guard(route):
                url = route.request.url
                if url.startswith((server, "data:", "blob:", "file:")):  # file: the saved report
                    route.continue_()
                else:
                    outside.append(url)
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.set_default_timeout(60_000)  # a bound on waiting for the analysis, not a speed check
            yield page
        finally:
            context.close()
    assert outside == [], f"the page tried to reach beyond the server: {outside}"


def test_upload_click_face_shows_explanation_and_heatmaps(server, page):
    photo = lfw_paths("happiness", 1)[0]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    _ready(page)
    page.set_input_files("#file", str(photo))
    box = page.locator(".facebox").first
    box.wait_for(state="visible")
    assert page.locator(".facebox").count() == 1
    assert page.locator("#details").is_hidden()
    box.click()
    page.locator("#details").wait_for(state="visible")
    assert page.locator("#details-h").inner_text().startswith("Face 0: happiness")  # from 0, as in the rows
    cot = page.locator("#cot").inner_text()
    assert "Conclusion" in cot and len(cot) > 100
    heatmaps = page.locator("#views img.heatmap")
    assert heatmaps.count() == 3
    for k in range(3):  # decoded and drawn, not just present
        assert heatmaps.nth(k).evaluate("img => img.complete && img.naturalWidth === 160")
    assert page.locator("#au-bars .name").filter(has_text="AU12").count() == 1
    assert page.locator("#expr-bars .name").count() == 8
    page.screenshot(path=str(artifacts() / "serve-page.png"), full_page=True)
    assert errors == []


def test_keyboard_only(server, page):
    photo = lfw_paths("surprise", 1)[0]
    page.goto(server + "/")
    _ready(page)
    page.set_input_files("#file", str(photo))
    page.locator(".facebox").first.wait_for(state="visible")
    page.locator(".face-list button").first.focus()
    page.keyboard.press("Enter")
    page.locator("#details").wait_for(state="visible")
    assert page.locator(".face-list button").first.get_attribute("aria-pressed") == "true"
    assert "Conclusion" in page.locator("#cot").inner_text()


def test_bad_file_shows_error_and_page_recovers(server, page, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"this is not a photo\n" * 10)
    page.goto(server + "/")
    _ready(page)
    page.set_input_files("#file", str(bad))
    expect(page.locator("#status")).to_have_class("error", timeout=60_000)
    assert "not an image" in page.locator("#status").inner_text()
    page.set_input_files("#file", str(lfw_paths("happiness", 1)[0]))
    page.locator(".facebox").first.wait_for(state="visible")
    # a failed upload after a good one: the earlier image and result are no longer shown under the error
    page.locator(".facebox").first.click()
    page.locator("#details").wait_for(state="visible")
    page.set_input_files("#file", str(bad))
    expect(page.locator("#status")).to_have_class("error", timeout=60_000)
    assert page.locator("#result").is_hidden() and page.locator(".facebox").count() == 0
    assert page.locator("#photo").get_attribute("src") is None


def test_report_opens_offline_in_browser(server, page):
    import httpx

    photo = lfw_paths("sadness", 1)[0]
    html = httpx.post(server + "/v1/report", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
                      timeout=60).text
    path = Path(tempfile.mkdtemp()) / "report.html"
    path.write_text(html, encoding="utf-8")
    page.goto(path.as_uri())
    assert page.locator("article.face").count() >= 1
    assert page.locator("article.face .bars i").count() >= 8 + 10  # expression and AU bars, drawn as HTML
    assert page.locator("article.face .bars i").first.evaluate("e => e.getBoundingClientRect().width") > 0
    page.locator("#faces-table th button[data-key=confidence]").click()
    assert page.locator("#faces-table th[aria-sort=ascending]").count() == 1
    page.screenshot(path=str(artifacts() / "report-single.png"), full_page=True)


def test_report_filter_matches_whole_au_codes_and_links_open_sections(page, analyzer, tmp_path):
    """Typing "AU4" used to match AU43 rows (any code and a longer one: AU1/AU12, AU2/AU25); a link
    from the table into a closed image section opens it."""
    from ferx.report import write_report
    from ferx.report.html import OPEN_UP_TO
    from ferx.runs.photos import BatchOptions, run_photos

    photos = [p for e in ("happiness", "surprise", "sadness", "neutral") for p in lfw_paths(e, 4)]
    assert len(photos) > OPEN_UP_TO  # so that the sections start closed
    out = tmp_path / "out"
    run_photos(photos, out, analyzer.config, BatchOptions(formats=("json",)), quiet=True)
    report = write_report(out)
    page.goto(report.as_uri())
    rows = page.locator("#faces-table tbody tr")
    # the codes of each row's top AUs (a weak one carries its mark: "AU1 · weak, AU2")
    tops = [re.findall(r"AU\d+", rows.nth(i).get_attribute("data-top-aus")) for i in range(rows.count())]
    codes = {c for t in tops for c in t}
    pairs = [(a, b) for a in codes for b in codes if b != a and b.startswith(a)]
    assert pairs, codes  # real faces: AU1 and AU12, AU2 and AU25… appear among these photos' top AUs
    for short, _ in pairs:
        page.fill("#f-text", short)
        shown = [not rows.nth(i).is_hidden() for i in range(rows.count())]
        assert shown == [short in t for t in tops], short
    page.fill("#f-text", "")
    link = rows.nth(3).locator("a")
    target = link.get_attribute("href")[1:]  # img3-face0, or img3 for a photo without a face
    section = page.locator(f"details.image:has(#{target})") if "-" in target else page.locator(f"#{target}")
    assert section.get_attribute("open") is None
    link.click()
    assert section.get_attribute("open") is not None and page.locator(f"#{target}").is_visible()


def test_api_docs_render_offline(server, page):
    """Swagger UI from the shipped assets: the operations render and nothing is fetched from outside
    (the fixture fails the test on any such request)."""
    page.goto(server + "/docs")
    page.locator(".swagger-ui .opblock").first.wait_for(state="visible")
    assert page.locator(".swagger-ui .opblock-summary-path").filter(has_text="/v1/analyze").count() >= 1


class TestARuleThatOverrulesTheClassifier:
    """The page served by an analyzer whose rule weighs the AU evidence in (`WEIGHED_RULE`): the shipped
    rule keeps the classifier's label, so only a configured one can conclude another."""

    @pytest.fixture()
    def server(self, weighed_analyzer):
        from tests.serve.conftest import running_server

        with running_server(weighed_analyzer) as url:
            yield url

    def test_the_page_names_the_label_the_explanation_concludes(self, server, page):
        """FaridaJalal_47: the classifier's top class (sadness) is not what a decision rule weighing the AU
        evidence in concludes; the box, the list and the heading named the classifier's label beside a
        text concluding another."""
        from tests.conftest import LFW

        path = LFW / "images" / "FaridaJalal_47.jpg"
        if not path.is_file():
            pytest.skip("no lfw-expressions")
        page.goto(server + "/")
        _ready(page)
        page.set_input_files("#file", str(path))
        box = page.locator(".facebox").first
        box.wait_for(state="visible")
        box.click()
        page.locator("#details").wait_for(state="visible")
        cot = page.locator("#cot").inner_text()
        concluded = re.search(r"Conclusion: (\w+) (\d+) ?%", cot)
        assert concluded, cot
        heading = page.locator("#details-h").inner_text()
        assert heading.startswith(f"Face 0: {concluded.group(1)} {concluded.group(2)}") and "sadness" not in heading
        assert box.get_attribute("title").startswith(f"Face 0: {concluded.group(1)}")
