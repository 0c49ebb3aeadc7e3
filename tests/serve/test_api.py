"""The HTTP API against a running server, with real photos from ../shared/data."""

from __future__ import annotations

import io
import json
import logging
import struct
import time
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from tests.conftest import lfw_paths
from tests.serve.conftest import TEST_LIMITS, running_server


def _strip(d: dict) -> dict:
    """A result dict without what differs between two runs of the same image (timings, name)."""
    return {k: v for k, v in d.items() if k not in ("timings_ms", "source")}


@pytest.fixture(scope="module")
def photo() -> bytes:
    return lfw_paths("happiness", 1)[0].read_bytes()


def _assert_serving(client, photo: bytes) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    r = client.post("/v1/analyze", files={"image": ("again.jpg", photo, "image/jpeg")})
    assert r.status_code == 200 and len(r.json()["faces"]) == 1


# -- results -------------------------------------------------------------------------------------
@pytest.mark.parametrize("emotion", ["happiness", "surprise", "anger"])
def test_multipart_result_equals_library(client, analyzer, emotion):
    from ferx.serve.schema import AnalyzeResponse

    path = lfw_paths(emotion, 1)[0]
    r = client.post("/v1/analyze?landmarks=true", files={"image": (path.name, path.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    AnalyzeResponse.model_validate(body)  # the answer matches the published schema
    expected = analyzer.analyze(path).to_dict(landmarks=True)
    assert _strip(body) == _strip(json.loads(json.dumps(expected)))
    assert body["source"] == path.name
    assert len(body["faces"]) >= 1 and body["faces"][0]["explanation"]["text"]


def test_raw_body_and_options(client, analyzer, photo):
    r = client.post("/v1/analyze?maps=false", content=photo, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    face = r.json()["faces"][0]
    assert "expression_map" not in face and "landmarks" not in face
    expected = analyzer.analyze(photo).to_dict(landmarks=False)
    for f in expected["faces"]:
        f.pop("expression_map")
    assert _strip(r.json()) == _strip(json.loads(json.dumps(expected)))


def test_json_options_field_and_views(client, photo):
    r = client.post("/v1/analyze", files={"image": ("a.jpg", photo, "image/jpeg")},
                    data={"options": json.dumps({"views": True, "landmarks": True})})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["faces"][0]["landmarks"]) == 478
    (view,) = body["views"]
    assert view["face"] == 0 and view["label"] == body["faces"][0]["expression"]["label"]
    for key in ("crop", "activation", "au_regions"):
        assert view[key].startswith("data:image/png;base64,")


def test_annotated_image(client, analyzer, photo):
    from ferx.annotate import annotate

    r = client.post("/v1/analyze/annotated", files={"image": ("a.jpg", photo, "image/jpeg")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    frame = analyzer.decode(photo, source="a.jpg")
    want = np.asarray(annotate(frame.image, analyzer.analyze(frame)))
    assert np.array_equal(got, want)
    r = client.post("/v1/analyze/annotated?format=jpeg", content=photo, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"


class _Names(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data):
        self.text.append(data)


def test_report_names_every_face(client, face_refs):
    from ferx.data.mosaic import compose

    rng = np.random.default_rng(3)
    group = compose([img for img, _ in face_refs[:4]], [box for _, box in face_refs[:4]], [150] * 4, (1000, 700), rng).image
    buf = io.BytesIO()
    Image.fromarray(group).save(buf, format="JPEG", quality=92)
    data = buf.getvalue()
    n = len(client.post("/v1/analyze", content=data, headers={"content-type": "image/jpeg"}).json()["faces"])
    assert n >= 3
    r = client.post("/v1/report", files={"image": ("group.jpg", data, "image/jpeg")})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    parser = _Names()
    parser.feed(r.text)
    text = " ".join(parser.text)
    for k in range(n):  # numbered from 0, as in the JSON's rows and the command line (issue 24)
        assert f"group.jpg — face {k}" in text
    assert f"group.jpg — face {n}" not in text
    assert all(u.startswith(("data:", "#")) for u in parser.urls), [u[:60] for u in parser.urls if not u.startswith(("data:", "#"))]


def test_models_and_health(client):
    m = client.get("/v1/models").json()
    assert [s["slot"] for s in m["stages"]] == ["detect", "landmarks", "verify", "aus", "expression", "explain"]
    assert "happiness" in m["expression_labels"]
    assert m["limits"]["max_pixels"] == TEST_LIMITS["max_pixels"] and m["auth"] is False
    # the grades are those of the AU estimator the service runs (facs), not the mesh table's
    from ferx.facs import MESH_PROFILE
    from ferx.stages import AU_ESTIMATORS

    with AU_ESTIMATORS.create("facs") as stage:
        profile = stage.profile
    graded = {a["code"]: a for a in m["aus"]}
    for au in profile.units:
        assert graded[au.code]["region"] == au.region
        assert graded[au.code]["reliability"] == au.reliability and graded[au.code]["measured"] == au.measured
    differs = [au.code for au in profile.units if au.reliability != MESH_PROFILE.grade(au.code)]
    assert differs  # e.g. AU4 and AU9: the image heads read them better than the mesh
    assert all(graded[c]["reliability"] == profile.grade(c) for c in differs)
    assert client.get("/healthz").json() == {"status": "ok", "ferx_version": m["ferx_version"]}


def test_openapi_offline_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/analyze", "/v1/analyze/annotated", "/v1/report", "/v1/models", "/healthz"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert {"AnalyzeResponse", "Explanation", "ErrorResponse"} <= set(schemas)
    assert "multipart/form-data" in spec["paths"]["/v1/analyze"]["post"]["requestBody"]["content"]
    docs = client.get("/docs").text
    assert "http://" not in docs and "https://" not in docs
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    # errors are documented as what they are, JSON, also on the HTML endpoint (were listed as text/html)
    report_errors = spec["paths"]["/v1/report"]["post"]["responses"]["422"]["content"]
    assert list(report_errors) == ["application/json"]
    assert "securitySchemes" not in spec.get("components", {})  # this test server has no key


def test_openapi_declares_the_api_key_when_there_is_one(analyzer):
    """A keyed service's schema said nothing of the key, and /v1/models documented only a 200."""
    import httpx

    with running_server(analyzer, api_key="s3cret-key", warmup=False) as url:
        spec = httpx.get(f"{url}/openapi.json", timeout=60).json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    models = spec["paths"]["/v1/models"]["get"]
    assert {"ApiKey": []} in models["security"] and "401" in models["responses"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_request_id_and_log_line(client, photo):
    lines: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Grab()
    logging.getLogger("ferx.serve").addHandler(handler)
    try:
        r = client.post("/v1/analyze", content=photo, headers={"content-type": "image/jpeg", "x-request-id": "abc-123"})
        bad = client.post("/v1/analyze", content=b"not an image", headers={"content-type": "image/jpeg"})
        generated = bad.headers["x-request-id"]
        # The line is written once the response has been sent, so it may land just after the client
        # has its answer: wait for it (bounded).
        deadline = time.monotonic() + 30
        while not all(any(rid in s for s in lines) for rid in ("abc-123", generated)) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        logging.getLogger("ferx.serve").removeHandler(handler)
    assert r.headers["x-request-id"] == "abc-123"
    assert bad.json()["request_id"] == generated and len(generated) == 32
    records = [json.loads(s) for s in lines]
    ok = next(x for x in records if x["request_id"] == "abc-123")
    assert ok["status"] == 200 and ok["faces"] == 1 and ok["path"] == "/v1/analyze" and ok["bytes_in"] == len(photo)
    fail = next(x for x in records if x["request_id"] == generated)
    assert fail["status"] == 415 and fail["error"] == "unsupported_format"
    assert len([x for x in records if x["request_id"] == "abc-123"]) == 1  # one line per request


# -- bad inputs: the right 4xx, a JSON body, and the server keeps serving ---------------------------
def _png_bomb(side: int) -> bytes:
    """A valid grey PNG of side×side black pixels: a few hundred kB that decode to side² bytes."""
    raw = zlib.compress((b"\x00" + b"\x00" * side) * side, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _huge_jpeg_header(photo: bytes) -> bytes:
    """The photo with its frame header (SOF0/SOF2) declaring 60000×60000 pixels."""
    i = 2
    while i < len(photo):
        marker, length = photo[i + 1], struct.unpack(">H", photo[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC2):
            return photo[: i + 5] + struct.pack(">HH", 60000, 60000) + photo[i + 9 :]
        i += 2 + length
    raise AssertionError("no SOF marker")


@pytest.mark.parametrize(
    "case,status,code",
    [
        ("text", 415, "unsupported_format"),
        ("pdf", 415, "unsupported_format"),
        ("truncated_jpeg", 422, "unreadable_image"),
        ("huge_declared_size", 413, "image_too_large"),
        ("png_bomb", 413, "image_too_large"),
        ("tiny_image", 422, "image_too_small"),
        ("wrong_content_type", 415, "unsupported_media_type"),
        ("no_content_type", 415, "unsupported_media_type"),
        ("missing_field", 400, "missing_field"),
        ("empty_body", 400, "bad_request"),
        ("oversized_body", 413, "payload_too_large"),
        ("oversized_chunked_body", 413, "payload_too_large"),
        ("bad_option", 422, "invalid_options"),
        ("bad_options_json", 422, "invalid_options"),
        ("malformed_multipart", 400, "bad_request"),
        ("truncated_multipart", 400, "bad_request"),  # was "missing_field ... (fields received: none)"
    ],
)
def test_bad_input(client, photo, case, status, code):
    jpeg = {"content-type": "image/jpeg"}
    if case == "text":
        r = client.post("/v1/analyze", files={"image": ("notes.txt", b"just some words\n" * 20, "text/plain")})
    elif case == "pdf":
        r = client.post("/v1/analyze", content=b"%PDF-1.4\n" + b"0" * 500, headers=jpeg)
    elif case == "truncated_jpeg":
        r = client.post("/v1/analyze", files={"image": ("cut.jpg", photo[: len(photo) // 2], "image/jpeg")})
    elif case == "huge_declared_size":
        r = client.post("/v1/analyze", content=_huge_jpeg_header(photo), headers=jpeg)
    elif case == "png_bomb":
        bomb = _png_bomb(6000)  # 36 Mpx from a small file
        assert len(bomb) < TEST_LIMITS["max_upload_bytes"]
        r = client.post("/v1/analyze", files={"image": ("bomb.png", bomb, "image/png")})
    elif case == "tiny_image":
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, format="PNG")
        r = client.post("/v1/analyze", content=buf.getvalue(), headers={"content-type": "image/png"})
    elif case == "wrong_content_type":
        r = client.post("/v1/analyze", content=photo, headers={"content-type": "application/json"})
    elif case == "no_content_type":
        r = client.post("/v1/analyze", content=photo, headers={"content-type": ""})
    elif case == "missing_field":
        r = client.post("/v1/analyze", files={"file": ("a.jpg", photo, "image/jpeg")})
    elif case == "empty_body":
        r = client.post("/v1/analyze", content=b"", headers=jpeg)
    elif case == "oversized_body":
        r = client.post("/v1/analyze", files={"image": ("big.jpg", photo + b"\0" * TEST_LIMITS["max_upload_bytes"], "image/jpeg")})
    elif case == "oversized_chunked_body":
        def chunks():  # no Content-Length: the limit must hold while the body streams in
            for _ in range(TEST_LIMITS["max_upload_bytes"] // 65536 + 2):
                yield b"\0" * 65536

        r = client.post("/v1/analyze", content=chunks(), headers=jpeg)
    elif case == "bad_option":
        r = client.post("/v1/analyze?landmarks=perhaps", content=photo, headers=jpeg)
    elif case == "bad_options_json":
        r = client.post("/v1/analyze", files={"image": ("a.jpg", photo, "image/jpeg")}, data={"options": '{"colour": 1}'})
    elif case == "truncated_multipart":
        head = b'--abc\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        body = head + photo[: len(photo) // 2]  # cut off: no closing boundary
        r = client.post("/v1/analyze", content=body, headers={"content-type": "multipart/form-data; boundary=abc"})
    elif case == "malformed_multipart":
        r = client.post("/v1/analyze", content=b"--xyz\r\nnot a part", headers={"content-type": "multipart/form-data; boundary=abc"})
    else:
        raise AssertionError(case)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code and body["message"] and body["request_id"] == r.headers["x-request-id"]
    if case == "truncated_multipart":
        assert "truncated upload" in body["message"], body["message"]
    _assert_serving(client, photo)


def test_bad_input_on_every_upload_endpoint(client, photo):
    for path in ("/v1/analyze/annotated", "/v1/report"):
        r = client.post(path, files={"image": ("cut.jpg", photo[:3000], "image/jpeg")})
        assert r.status_code == 422 and r.json()["error"] == "unreadable_image"
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    _assert_serving(client, photo)


@pytest.mark.parametrize("path, query", [
    ("/v1/analyze", "landmark=true"),  # a typo of `landmarks`
    ("/v1/analyze", "maps=false&colour=red"),
    ("/v1/analyze/annotated", "top_au=2"),
    ("/v1/report", "views=true"),
])
def test_unknown_query_options_are_refused_as_unknown_options_keys_are(client, photo, path, query):
    r = client.post(f"{path}?{query}", files={"image": ("a.jpg", photo, "image/jpeg")})
    assert r.status_code == 422, r.text
    body = r.json()
    unknown = [kv.split("=")[0] for kv in query.split("&") if kv.split("=")[0] not in ("maps",)]
    assert body["error"] == "invalid_options" and all(u in body["message"] for u in unknown)
    _assert_serving(client, photo)


def test_unknown_keys_of_the_options_field_are_named_with_the_valid_ones(client, photo):
    r = client.post("/v1/analyze", files={"image": ("a.jpg", photo, "image/jpeg")}, data={"options": '{"bogus": 1}'})
    assert r.status_code == 422 and r.json()["error"] == "invalid_options"
    message = r.json()["message"]  # was pydantic's "bogus: Extra inputs are not permitted"
    assert "unknown option(s) in the `options` field: bogus" in message and "landmarks" in message


@pytest.mark.parametrize("path", ["/v1/analyze/annotated", "/v1/report"])
def test_an_options_field_where_none_is_read_is_refused(client, photo, path):
    r = client.post(path, files={"image": ("a.jpg", photo, "image/jpeg")}, data={"options": '{"landmarks": true}'})
    assert r.status_code == 422 and r.json()["error"] == "invalid_options" and "landmarks" in r.json()["message"]


def test_what_decoding_warns_about_is_in_the_answer_notes(client, photo):
    """A 16-bit PNG holding 12-bit data reads nearly black: the answer says so in its notes."""
    gray = np.asarray(Image.open(io.BytesIO(photo)).convert("L")).astype(np.uint16) << 4
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="PNG")
    r = client.post("/v1/analyze", files={"image": ("dark12.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200, r.text
    notes = r.json()["notes"]
    assert any("nearly black" in n and "bit_depth=12" in n for n in notes)
    plain = client.post("/v1/analyze", files={"image": ("a.jpg", photo, "image/jpeg")}).json()["notes"]
    assert not any("nearly black" in n for n in plain)


def test_max_faces(analyzer, face_refs):
    from ferx.data.mosaic import compose

    rng = np.random.default_rng(5)
    group = compose([img for img, _ in face_refs[:5]], [box for _, box in face_refs[:5]], [140] * 5, (1100, 700), rng).image
    buf = io.BytesIO()
    Image.fromarray(group).save(buf, format="PNG")
    import httpx

    # The limit is applied by the analyzer's max_faces policy; this server is given an analyzer built
    # from the service's own configuration with max_faces=2.
    from ferx.pipeline import Analyzer
    from ferx.serve.app import analyzer_config
    from ferx.serve.settings import ServeSettings

    with Analyzer(analyzer_config(ServeSettings(max_faces=2))) as limited, running_server(limited, max_faces=2) as url:
        body = httpx.post(f"{url}/v1/analyze", content=buf.getvalue(), headers={"content-type": "image/png"},
                          timeout=60).json()
    assert len(body["faces"]) == 2
    assert len(analyzer.analyze(group).faces) >= 4


def test_api_key(analyzer, photo):
    import httpx

    with running_server(analyzer, api_key="s3cret-key", warmup=False) as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/healthz").status_code == 200  # liveness stays open
        assert c.get("/").status_code == 200
        r = c.post("/v1/analyze", content=photo, headers={"content-type": "image/jpeg"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized" and "needs an API key" in r.json()["message"]
        wrong = c.get("/v1/models", headers={"x-api-key": "s3cret-kez"})
        assert wrong.status_code == 401 and "not this service's key" in wrong.json()["message"]  # said apart
        assert c.get("/v1/models", headers={"x-api-key": "s3cret-key"}).json()["auth"] is True
        r = c.post("/v1/analyze", content=photo, headers={"content-type": "image/jpeg", "authorization": "Bearer s3cret-key"})
        assert r.status_code == 200


def test_page_and_static_assets(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200
    page = r.text + client.get("/static/app.js").text + client.get("/static/app.css").text
    assert "http://" not in page and "https://" not in page  # works offline: nothing from elsewhere


def test_serve_refuses_a_bad_config_or_a_taken_port_in_one_line(tmp_path, capsys):
    """`ferx serve --config bad.yaml` printed "serving on", then a traceback from uvicorn's start-up (exit
    3); a taken port also printed "serving on" first."""
    import socket

    from ferx.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("detectr: x\n")
    assert main(["serve", "--port", "8799", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key(s) 'detectr'" in err and "serving on" not in err and "Traceback" not in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "serving on" not in err
