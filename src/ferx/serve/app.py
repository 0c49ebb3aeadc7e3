"""The web service: FastAPI on uvicorn.

Why FastAPI: the OpenAPI schema comes from the pydantic models in `ferx.serve.schema` (themselves
built from ferx's types), it runs on any ASGI server, and it is what people who used deepface's REST
API expect. The Swagger UI at /docs is served from the assets that `fastapi-offline` ships (FastAPI's
own /docs page would load them from a CDN), so the documentation works offline too.

Per worker process: one `Analyzer` (models loaded once, at start-up, then warmed up on the bundled
photo); requests run it in a thread pool capped at `settings.threads`, never on the event loop.
The Analyzer is thread-safe (docs/architecture.md).

Every request goes through `_Gate`, a plain ASGI middleware (cheaper than Starlette's
BaseHTTPMiddleware and able to stop a body mid-stream): it gives the request an ID (the client's
`X-Request-ID` when it is short and plain, else a new one), checks the API key for /v1/*, refuses a
body larger than `max_upload_bytes` — from Content-Length before reading, or while reading a
chunked body — and writes one JSON log line when the response is complete.

Errors: every error is JSON (`ErrorResponse`) with a code; a bad image is always a 4xx:
    400 bad_request / missing_field     malformed multipart, no `image` field, empty body
    401 unauthorized                    /v1/* without the right API key
    413 payload_too_large               body over max_upload_bytes
    413 image_too_large                 decoded size over max_pixels (read from the header)
    415 unsupported_media_type          a Content-Type other than multipart/form-data, image/*,
                                        application/octet-stream
    415 unsupported_format              a known non-image (PDF, video, text…)
    422 unreadable_image                truncated or corrupt image data
    422 image_too_small                 a side below the analyzer's minimum
    422 invalid_options                 unknown or malformed options
    503 unavailable                     the analyzer is closed (shutting down)
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import FileResponse, HTMLResponse, Response

from ferx import __version__
from ferx.config import AnalyzerConfig
from ferx.errors import ClosedError, ImageReadError, ImageSizeError, ImageTooSmall, UnsupportedFormatError
from ferx.io import input_notes
from ferx.serve.schema import (
    AnalyzeOptions,
    AnalyzeResponse,
    ErrorResponse,
    HealthResponse,
    ModelsResponse,
)
from ferx.serve.settings import ServeSettings

if TYPE_CHECKING:
    from ferx.pipeline import Analyzer

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("ferx.serve")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_IMAGE_TYPES = ("image/", "application/octet-stream")
_ERRORS = {
    400: "Bad request: malformed upload or missing `image` field",
    401: "Missing or wrong API key",
    413: "Body or image too large",
    415: "Not an image, or a content type the endpoint does not take",
    422: "Unreadable image, image too small, or invalid options",
    503: "Shutting down",
}
_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in _ERRORS.items()
}
# The upload is read by the endpoint itself (one body, two encodings), so its schema is given here.
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "the image file"},
                        "options": {"type": "string", "description": "JSON object of options, e.g. "
                                    '{"landmarks": true}; overrides the query parameters'},
                    },
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class ApiError(Exception):
    """An error answer: HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# -- the analyzer, per process ---------------------------------------------------------------------
def analyzer_config(settings: ServeSettings) -> AnalyzerConfig:
    """The analyzer configuration the service runs: the YAML config (or defaults) with the service's
    limits, and CPU threads per model set to cores / (workers × threads) where the config does not
    say: every analysis in flight gets its own core, none waits on another's model threads."""
    from ferx.pipeline import with_threads

    config = AnalyzerConfig.from_yaml(Path(settings.config)) if settings.config else AnalyzerConfig()
    config = config.with_overrides({"max_faces": settings.max_faces, "max_image_pixels": settings.max_pixels})
    in_flight = settings.workers * settings.threads
    return with_threads(config, settings.litert_threads or max(1, (os.cpu_count() or 1) // in_flight))


class _State:
    """What one worker holds: the analyzer and the limiter of concurrent analyses."""

    def __init__(self, settings: ServeSettings, analyzer: Analyzer | None) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.owns_analyzer = analyzer is None
        self.limiter: Any = None

    def start(self) -> None:
        import anyio

        from ferx.pipeline import Analyzer

        self.limiter = anyio.CapacityLimiter(self.settings.threads)
        if self.analyzer is None:
            self.analyzer = Analyzer(analyzer_config(self.settings))
        if self.settings.warmup:
            self.analyzer.example()

    def stop(self) -> None:
        if self.owns_analyzer and self.analyzer is not None:
            self.analyzer.close()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)


# -- request handling ------------------------------------------------------------------------------
async def _read_upload(request: Any) -> tuple[bytes, str, dict[str, Any]]:
    """(image bytes, name, JSON options) from a multipart form (`image` file field, optional
    `options` JSON field) or a raw image body."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=4)
        except ApiError:
            raise
        except Exception as e:  # malformed multipart (starlette raises its own error types)
            raise ApiError(400, "bad_request", f"malformed multipart/form-data body: {e}") from None
        try:
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                if not form.keys() and int(request.headers.get("content-length") or 0) > 0:
                    # bytes came but no part did: the body was cut off, or its boundary is not the header's
                    raise ApiError(400, "bad_request", "malformed multipart/form-data body: no complete part in it "
                                   "(a truncated upload, or a boundary other than the Content-Type's)")
                names = ", ".join(sorted(form.keys())) or "none"
                raise ApiError(400, "missing_field", f"multipart upload needs a file field named `image` (fields "
                               f"received: {names})")
            data = await upload.read()
            name = os.path.basename(upload.filename or "") or "upload"
            options: dict[str, Any] = {}
            raw = form.get("options")
            if raw is not None:
                try:
                    options = json.loads(raw if isinstance(raw, str) else await raw.read())
                except ValueError as e:
                    raise ApiError(422, "invalid_options", f"the `options` field is not JSON: {e}") from None
                if not isinstance(options, dict):
                    raise ApiError(422, "invalid_options", "the `options` field must be a JSON object")
        finally:
            await form.close()
        return data, name, options
    if ctype.startswith(_IMAGE_TYPES):
        data = await request.body()
        return data, "upload", {}
    shown = ctype or "none"
    raise ApiError(415, "unsupported_media_type", f"Content-Type {shown} is not accepted: send multipart/form-data "
                   "with an `image` file field, or the image itself as image/* or application/octet-stream")


def _check_query(request: Any, allowed: Iterable[str]) -> None:
    """Refuse query parameters the endpoint does not take (a typo such as `?landmark=true` must not
    be ignored silently, as unknown `options` keys are not)."""
    _refuse_unknown(request.query_params, allowed, "query option(s)")


def _refuse_unknown(given: Iterable[str], allowed: Iterable[str], what: str) -> None:
    """422 naming the options the endpoint does not take, and those it does."""
    allowed = set(allowed)
    unknown = sorted(set(given) - allowed)
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise ApiError(422, "invalid_options", f"unknown {what}: {', '.join(unknown)} (this endpoint takes: {takes})")


def _no_body_options(body_options: dict[str, Any], path: str) -> None:
    if body_options:
        raise ApiError(422, "invalid_options", f"{path} takes no `options` field (unknown option(s): "
                       f"{', '.join(sorted(body_options))}); give its options as query parameters")


def _options(request: Any, body_options: dict[str, Any]) -> AnalyzeOptions:
    from pydantic import ValidationError

    known = set(AnalyzeOptions.model_fields)
    _check_query(request, known)
    # worded as the query's unknown options are (pydantic said "Extra inputs are not permitted")
    _refuse_unknown(body_options, known, "option(s) in the `options` field")
    query = dict(request.query_params)
    try:
        return AnalyzeOptions.model_validate({**AnalyzeOptions.model_validate(query).model_dump(), **body_options})
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ApiError(422, "invalid_options", problems) from None


def _probe_pixels(data: bytes, limit: int) -> None:
    """Refuse an image whose header declares more than `limit` pixels, before decoding anything.
    (load_image checks the same; this gives the 413 without relying on its message.)"""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
    except Exception:
        return  # not readable as an image: load_image says why, with the right error class
    if width * height > limit:
        raise ApiError(413, "image_too_large", f"the image is {width}x{height} px ({width * height / 1e6:.1f} Mpx), "
                       f"above this service's limit of {limit / 1e6:.1f} Mpx")


def _decode(state: _State, data: bytes, name: str) -> Any:
    """The uploaded bytes as a Frame, or the ApiError that says what is wrong with them."""
    if not data:
        raise ApiError(400, "bad_request", "the image is empty (0 bytes)")
    _probe_pixels(data, state.settings.max_pixels)
    try:
        return state.analyzer.decode(data, source=name)
    except ImageTooSmall as e:
        raise ApiError(422, "image_too_small", str(e)) from None
    except ImageSizeError as e:  # ImageTooLarge
        raise ApiError(413, "image_too_large", str(e)) from None
    except UnsupportedFormatError as e:
        raise ApiError(415, "unsupported_format", str(e)) from None
    except ImageReadError as e:
        raise ApiError(422, "unreadable_image", str(e)) from None


def _analyze_frame(state: _State, data: bytes, name: str) -> tuple[Any, Any]:
    """The decoded frame and its result; what decoding warned about (values clipped, a 16-bit image
    that reads nearly black) is in the result's notes."""
    with input_notes() as notes:
        frame = _decode(state, data, name)
    try:
        return frame, state.analyzer.analyze(frame).with_notes(notes)
    except ClosedError:
        raise ApiError(503, "unavailable", "the service is shutting down") from None


def result_dict(frame: Any, result: Any, options: AnalyzeOptions) -> dict[str, Any]:
    """The answer of /v1/analyze: the library's `to_dict`, then what the options add or remove."""
    d = result.to_dict(landmarks=options.landmarks)
    if not options.maps:
        for face in d["faces"]:
            face.pop("expression_map", None)
    if options.views:
        from ferx.report.views import data_url, face_views

        views = []
        for k in range(len(result.faces)):
            v = face_views(frame.image, result.faces, k)
            if v is None:
                continue
            views.append({"face": k, "label": v.label, "crop": data_url(v.crop),
                          "activation": None if v.activation is None else data_url(v.activation),
                          "au_regions": None if v.au_regions is None else data_url(v.au_regions)})
        d["views"] = views
    return d


def _json(data: Any, status: int = 200) -> Any:
    return Response(json.dumps(data, allow_nan=False, separators=(",", ":")), status_code=status,
                    media_type="application/json")


def _error_response(status: int, code: str, message: str, request_id: str) -> Any:
    return _json({"error": code, "message": message, "request_id": request_id}, status)


# -- the middleware --------------------------------------------------------------------------------
class _BodyTooLarge(ApiError):
    """The body grew past the limit while it was read (a chunked upload has no Content-Length)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, "payload_too_large", f"the body is larger than this service's limit of {limit} bytes")


class _Gate:
    """Request ID, API key, body limit, structured log line, and JSON for unexpected errors."""

    def __init__(self, app: Any, settings: ServeSettings) -> None:
        self.app = app
        self.settings = settings
        self.key = settings.api_key.encode() if settings.api_key else None

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        info: dict[str, Any] = {"status": None, "bytes_in": 0, "bytes_out": 0, "error": None}
        started = False

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                info["status"] = message["status"]
                message["headers"] = list(message.get("headers", [])) + [
                    (b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff")]
            elif message["type"] == "http.response.body":
                info["bytes_out"] += len(message.get("body", b""))
            await send(message)

        limit = self.settings.max_upload_bytes

        async def receive_wrapper() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                info["bytes_in"] += len(message.get("body", b""))
                if info["bytes_in"] > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def refuse(status: int, code: str, message: str) -> None:
            info["error"] = code
            await _error_response(status, code, message, request_id)(scope, receive, send_wrapper)

        try:
            refusal = self._refusal(headers, scope.get("path", ""))
            if refusal is not None:
                await refuse(*refusal)
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        except ApiError as e:  # raised outside an endpoint (e.g. while the form is parsed)
            if not started:
                await refuse(e.status, e.code, e.message)
        except Exception as e:  # a bug: log it, answer JSON 500 (never a bad image: those are ApiErrors)
            log.exception("unhandled error in request %s", request_id)
            info["error"] = type(e).__name__
            if not started:
                await refuse(500, "internal_error", "an unexpected error occurred; the log has the request ID")
        finally:
            _log_request(scope, request_id, info, t0)

    def _refusal(self, headers: dict[str, str], path: str) -> tuple[int, str, str] | None:
        """Why a request is refused before it reaches the app (no API key, a body over the limit)."""
        limit = self.settings.max_upload_bytes
        length = headers.get("content-length")
        if self.key is not None and path.startswith("/v1/") and not self._authorised(headers):
            if self._given_key(headers):  # said apart from a missing key: a client then knows to check its key
                return 401, "unauthorized", "the API key sent is not this service's key"
            return 401, "unauthorized", "this service needs an API key: send it as the X-API-Key header or as " \
                                        "Authorization: Bearer KEY"
        if length is not None and not length.isdigit():
            return 400, "bad_request", "malformed Content-Length"
        if length is not None and int(length) > limit:
            return 413, "payload_too_large", f"the body is {length} bytes, above this service's limit of {limit} bytes"
        return None

    @staticmethod
    def _given_key(headers: dict[str, str]) -> str:
        given = headers.get("x-api-key")
        if given is None:
            auth = headers.get("authorization", "")
            given = auth[7:] if auth[:7].lower() == "bearer " else ""
        return given

    def _authorised(self, headers: dict[str, str]) -> bool:
        assert self.key is not None
        # compare_digest: the time taken does not tell how much of the key was right
        return hmac.compare_digest(self._given_key(headers).encode("latin-1"), self.key)


def _log_request(scope: dict[str, Any], request_id: str, info: dict[str, Any], t0: float) -> None:
    """One JSON log line per request, written when the response is complete."""
    entry = {"ts": round(time.time(), 3), "request_id": request_id, "method": scope.get("method"),
             "path": scope.get("path", ""), "status": info["status"], "ms": round((time.perf_counter() - t0) * 1e3, 1),
             "bytes_in": info["bytes_in"], "bytes_out": info["bytes_out"],
             "client": (scope.get("client") or ("", 0))[0], "pid": os.getpid()}
    state = scope.get("state", {})
    for key in ("faces", "error"):
        value = state.get(key) or info.get(key)
        if value is not None:
            entry[key] = value
    log.info(json.dumps(entry, separators=(",", ":")))


# -- the app ---------------------------------------------------------------------------------------
def create_app(settings: ServeSettings | None = None, *, analyzer: Analyzer | None = None) -> Any:
    """The FastAPI app. With `analyzer` the app uses that one (tests share theirs) and does not
    close it; otherwise each process builds its own at start-up from `settings`."""
    settings = settings or ServeSettings()
    _setup_logging()
    state = _State(settings, analyzer)

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPIOffline(
        title="ferx",
        version=__version__,
        description="Explainable facial expression recognition: faces, AUs, expressions and the chain of "
                    "thought behind each label, with heatmaps of where the model looked.",
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI would otherwise call an online validator
        static_url="/docs-assets",
    )
    app.state.ferx = state
    _error_handlers(app)
    _analysis_routes(app, state)
    _service_routes(app, state)
    _document_as_served(app, settings)
    return _Gate(app, settings)


def _document_as_served(app: Any, settings: ServeSettings) -> None:
    """The OpenAPI schema as the service answers: every error is JSON (an HTML endpoint's errors were
    listed as text/html), and with an API key the /v1/ operations say they need it and may answer 401
    (the schema did not declare the key at all)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        for path, operations in spec.get("paths", {}).items():
            for op in operations.values():
                for code, answer in op.get("responses", {}).items():
                    content = answer.get("content", {})
                    if str(code)[0] in "45" and "text/html" in content:
                        content["application/json"] = content.pop("text/html")
                if settings.api_key and path.startswith("/v1/"):
                    op["security"] = [{"ApiKey": []}, {"Bearer": []}]
                    op.setdefault("responses", {})["401"] = {
                        "description": "No API key, or not this service's",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
        if settings.api_key:
            spec.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"}}
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


def _error_handlers(app: Any) -> None:
    """Every error answers JSON with a code (module docstring)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> Any:
        request.scope.setdefault("state", {})["error"] = e.code
        return _error_response(e.status, e.code, e.message, _rid(request))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Any:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        return _error_response(422, "invalid_options", problems, _rid(request))

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception) -> Any:  # a bug, never a bad input: JSON 500, logged by _Gate
        request.scope.setdefault("state", {})["error"] = type(e).__name__
        return _error_response(500, "internal_error", "an unexpected error occurred; the log has the request ID",
                               _rid(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return _error_response(e.status_code, code, str(e.detail), _rid(request))


async def _answer(request: Request, state: _State, work: Callable[[], tuple[Any, int]]) -> Any:
    """Run `work` (analysis and serialisation, off the event loop); log the faces it found."""
    body, faces = await state.run(work)
    request.scope.setdefault("state", {})["faces"] = faces
    return body


def _analysis_routes(app: Any, state: _State) -> None:
    """POST /v1/analyze, /v1/analyze/annotated, /v1/report."""
    q = {name: Query(f.default, description=f.description) for name, f in AnalyzeOptions.model_fields.items()}

    @app.post("/v1/analyze", response_model=AnalyzeResponse, responses=_ERROR_RESPONSES, openapi_extra=_UPLOAD_BODY,
              summary="Analyse one image", tags=["analysis"])
    async def analyze(request: Request, landmarks: bool = q["landmarks"], maps: bool = q["maps"],
                      views: bool = q["views"]) -> Any:
        """Upload an image (multipart `image` field, or the raw body); get every face's box, AUs,
        expression probabilities and chain of thought — `FrameResult.to_dict()` as the library writes it."""
        data, name, body_options = await _read_upload(request)
        options = _options(request, body_options)

        def work() -> tuple[bytes, int]:
            frame, result = _analyze_frame(state, data, name)
            d = result_dict(frame, result, options)
            return json.dumps(d, allow_nan=False, separators=(",", ":")).encode(), len(result.faces)

        return Response(await _answer(request, state, work), media_type="application/json")

    @app.post("/v1/analyze/annotated", responses={200: {"content": {"image/png": {}, "image/jpeg": {}},
              "description": "the image with every face drawn"}, **_ERROR_RESPONSES}, openapi_extra=_UPLOAD_BODY,
              summary="Analyse one image and get it back annotated", tags=["analysis"], response_class=Response)
    async def annotated(request: Request, format: str = Query("png", pattern="^(png|jpeg)$",
                        description="png or jpeg"), top_aus: int = Query(3, ge=0, le=10,
                        description="strongest AUs listed under each box"), landmarks: bool = Query(False,
                        description="draw the 478 mesh points")) -> Any:
        _check_query(request, ("format", "top_aus", "landmarks"))
        data, name, body_options = await _read_upload(request)
        _no_body_options(body_options, "/v1/analyze/annotated")

        def work() -> tuple[bytes, int]:
            from ferx.annotate import annotate

            frame, result = _analyze_frame(state, data, name)
            image = annotate(frame.image, result, landmarks=landmarks, top_aus=top_aus)
            buf = io.BytesIO()
            image.save(buf, format="PNG" if format == "png" else "JPEG", **({"quality": 90} if format == "jpeg" else {}))
            return buf.getvalue(), len(result.faces)

        return Response(await _answer(request, state, work), media_type=f"image/{format}")

    @app.post("/v1/report", responses={200: {"content": {"text/html": {}}, "description": "a self-contained HTML "
              "report"}, **_ERROR_RESPONSES}, openapi_extra=_UPLOAD_BODY, response_class=HTMLResponse,
              summary="Analyse one image and get the HTML report", tags=["analysis"])
    async def report(request: Request) -> Any:
        _check_query(request, ())
        data, name, body_options = await _read_upload(request)
        _no_body_options(body_options, "/v1/report")

        def work() -> tuple[str, int]:
            from ferx.report.build import report_for_results

            frame, result = _analyze_frame(state, data, name)
            return report_for_results([(result, frame.image)], title=f"ferx report — {name}"), len(result.faces)

        # The report is self-contained: it may not fetch anything, whatever it holds.
        return HTMLResponse(await _answer(request, state, work), headers={
            "content-security-policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                                       "script-src 'unsafe-inline'"})


def _service_routes(app: Any, state: _State) -> None:
    """GET /v1/models, /healthz, the page at / and its static files."""
    settings = state.settings

    @app.get("/v1/models", response_model=ModelsResponse, tags=["service"], summary="What this service runs")
    async def models() -> Any:
        from ferx.facs import AU_CODES
        from ferx.report.html import au_info

        assert state.analyzer is not None
        info = state.analyzer.describe()
        stages = [{"slot": s.slot, "backend": s.backend, "options": _shown_options(s.options),
                   "provides": sorted(s.provides)} for s in info.stages]
        # the grades are the AU estimator's (its facs.AUProfile), not a global table's
        return _json({
            "ferx_version": __version__, "stages": stages, "expression_labels": list(info.expression_labels or ()),
            "aus": [vars(i) for i in au_info(info.au_codes or AU_CODES, info.au_profile)],
            "limits": {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels,
                       "max_faces": settings.max_faces, "min_side": state.analyzer.config.min_image_side},
            "auth": settings.api_key is not None,
        })

    @app.get("/healthz", response_model=HealthResponse, tags=["service"], summary="Liveness")
    async def healthz() -> Any:
        if state.analyzer is None or state.analyzer.closed:
            raise ApiError(503, "unavailable", "the analyzer is not loaded")
        return _json({"status": "ok", "ferx_version": __version__})

    page_headers = {"content-security-policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'"}

    @app.get("/", include_in_schema=False)
    async def page() -> Any:
        return FileResponse(STATIC / "index.html", headers=page_headers)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _shown_options(options: dict[str, Any]) -> dict[str, Any]:
    """A stage's options as /v1/models shows them: plain values, nothing that looks like a key."""
    return {k: v for k, v in options.items() if isinstance(v, (int, float, str, bool)) and "key" not in k.lower()}


def _rid(request: Any) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def _setup_logging() -> None:
    """One JSON line per request on stderr (uvicorn's access log is off)."""
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def create_app_from_env() -> Any:
    """The app factory uvicorn's worker processes call (settings from the environment)."""
    return create_app(ServeSettings.from_env())


__all__ = ["ApiError", "analyzer_config", "create_app", "create_app_from_env", "result_dict"]
