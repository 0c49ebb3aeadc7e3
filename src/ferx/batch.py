"""The `ferx analyze` batch: many images into an output folder, robust to bad items, interrupts and
full disks, and resumable.

Output folder layout (OUT):

    OUT/summary.json              status "running" while the batch runs, then "complete",
                                  "interrupted" (SIGINT/SIGTERM), "aborted" (the output kept
                                  failing: a full disk at once, other errors 5 images in a row) or
                                  "error" (an exception that is not about one image, re-raised)
    OUT/config.yaml               the analyzer configuration used
    OUT/<rel>.json                one per analysed image (format json); <rel> is the image's path
                                  relative to the common folder of all inputs
    OUT/faces.csv                 format csv: ferx's one table (`ferx.table`), one row per face and one
                                  per image without a face; always has its header
    OUT/annotated/<rel>           with annotate; a source that is not JPEG/PNG gets ".png" appended
                                  (face.bmp → face.bmp.png), so face.bmp and face.png never collide
    OUT/.ferx-batch/run.json      what defines the batch (config + output options) and its hash
    OUT/.ferx-batch/done.jsonl    one line per finished image, appended once all its outputs exist

Rules that keep the folder consistent whatever happens:

- Every file is written atomically (`ferx.fsutil`): no reader ever sees half a JSON or image.
- An image's outputs are written together — annotated image, JSON, its faces.csv rows, its manifest
  line — while SIGINT/SIGTERM wait; if one write fails, the others of that image are undone. So
  faces.csv always holds exactly the faces of the JSON files written, and the manifest lists only
  images whose outputs are complete.
- Undecodable bytes in file names (surrogate-escaped by Python) are written as `\\xNN` in every
  text output (JSON `source`, faces.csv, summary.json): see `printable`.
- An output name longer than the file system allows (NAME_MAX) is shortened to a truncated stem,
  "~" and 8 hex digits of the source's hash; two sources that would write the same output file get
  the same treatment. Both are listed under `renamed` in summary.json.
- Files under OUT itself are never analysed (an OUT inside a recursively scanned folder would
  otherwise re-ingest its own annotated images).
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import hashlib
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from ferx import __version__
from ferx.annotate import annotate
from ferx.assets import demo_image
from ferx.config import AnalyzerConfig
from ferx.errors import ConfigError, FerxError, NoImagesError
from ferx.fsutil import append_bytes, atomic_save_image, atomic_write_bytes, atomic_write_text, file_sha256
from ferx.pipeline import Analyzer, Failure
from ferx.table import FrameInfo, TableLayout
from ferx.types import Frame, FrameResult

FORMATS = ("json", "csv")
STATE_DIR = ".ferx-batch"
#: Write errors in a row after which the batch stops: the output is broken, not one image.
MAX_CONSECUTIVE_WRITE_ERRORS = 5
#: Write errors that no later image can escape; the batch stops at the first one.
FATAL_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
#: Annotated images keep the source's name only for these formats; others become PNG.
KEEP_ANNOTATED_SUFFIXES = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}
#: Files of the batch itself, never used as an image's output.
RESERVED_NAMES = ("summary.json", "config.yaml", "faces.csv")
#: Version of the faces.csv columns (`ferx.table`); a batch written with another cannot be resumed.
ROW_FORMAT = 2
#: faces.csv rows end with CRLF (RFC 4180); explanation texts hold bare LFs, so a file that does not
#: end with CRLF ends with a torn row.
_CRLF = "\r\n"


class BatchError(FerxError):
    """The batch cannot start: the output folder is unusable, or --resume does not match it."""


@dataclass(frozen=True)
class BatchOptions:
    """What a batch writes, besides the analysis itself. Part of what a resume must match."""

    formats: tuple[str, ...] = ("json",)
    annotate: bool = False
    landmarks: bool = False  # draw landmarks on annotated images

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise ConfigError(f"unknown format {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")


@dataclass
class BatchSummary:
    """What summary.json says about a batch. Counts cover the whole output folder, images done by
    an earlier run that this one resumed included; `failed` and `seconds` are this run's."""

    status: str  # "running" (in summary.json only), "complete", "interrupted", "aborted", "error"
    files: int
    analysed: int
    faces: int
    files_without_faces: int
    failed: list[Failure]
    seconds: float
    formats: tuple[str, ...]
    pending: int = 0  # neither analysed nor failed (the batch stopped early)
    resumed: int = 0  # done by an earlier run and not redone
    excluded: int = 0  # inputs inside the output folder, not analysed
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)  # source → {"json"/"annotated": path}
    signal: str | None = None  # "SIGINT" or "SIGTERM" when interrupted
    reason: str | None = None  # why an aborted batch stopped

    @property
    def exit_code(self) -> int:
        """0 all analysed, 1 some failed or output broke, 130/143 interrupted by SIGINT/SIGTERM."""
        if self.status == "interrupted":
            return 128 + (signal.SIGTERM if self.signal == "SIGTERM" else signal.SIGINT)
        return 1 if self.failed or self.status != "complete" else 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ferx_version": __version__,
            "status": self.status,
            "files": self.files,
            "analysed": self.analysed,
            "faces": self.faces,
            "files_without_faces": self.files_without_faces,
            "failed": [f.to_dict() for f in self.failed],
            "pending": self.pending,
            "resumed": self.resumed,
            "excluded": self.excluded,
            "renamed": self.renamed,
            "seconds": round(self.seconds, 3),
            "formats": list(self.formats),
        }
        if self.signal is not None:
            d["signal"] = self.signal
        if self.reason is not None:
            d["reason"] = self.reason
        return d


def printable(text: str) -> str:
    """`text` safe for UTF-8 outputs: bytes of a file name that are not UTF-8 (which Python keeps as
    lone surrogates) become `\\xNN`, e.g. b"caf\\xe9.jpg" → "caf\\\\xe9.jpg"."""
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeError:  # a lone surrogate that did not come from a file name
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def run_batch(
    files: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    config: AnalyzerConfig,
    options: BatchOptions = BatchOptions(),
    *,
    resume: bool = False,
    quiet: bool = True,
    on_result: Callable[[FrameResult, Callable[[str], None]], None] | None = None,
) -> BatchSummary:
    """Analyse `files` into the folder `out` (layout and guarantees: this module's docstring).

    Args:
        files: image paths (e.g. from `ferx.io.find_images`); those inside `out` are skipped.
        out: output folder, created if missing.
        config: analyzer configuration.
        options: formats, annotated images.
        resume: continue the batch recorded in `out`, skipping the images it finished; the config
            and options must be those of that batch. Without a batch in `out`, starts a new one.
            Without `resume`, an earlier batch's summary, manifest and faces.csv are replaced (its
            other files are overwritten as images are redone, never deleted).
        quiet: no progress bar and no per-file messages on stderr.
        on_result: called with each result and a function that prints without breaking the bar.

    Returns the summary also written to `out/summary.json`. SIGINT and SIGTERM (when called from
    the main thread) end the batch cleanly with status "interrupted" instead of raising.

    Raises:
        BatchError: `out` is not a writable folder, or `resume` does not match it (before any work).
        NoImagesError: every file is inside `out`.
    """
    return _Batch(files, Path(out), config, options, resume=resume, quiet=quiet, on_result=on_result).run()


# -- internals -------------------------------------------------------------------------------------


class _Interrupt(BaseException):
    """SIGINT or SIGTERM arrived (BaseException: `except Exception` in the analyzer must not eat it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Abort(Exception):
    """The output keeps failing; stop the batch."""


class _SignalGuard:
    """While entered (main thread only), SIGINT and SIGTERM raise `_Interrupt`, except inside
    `hold()`, where they wait for the block to end, and after `close()`, where they are ignored."""

    def __init__(self) -> None:
        self._old: dict[int, Any] = {}
        self._held = 0
        self._closed = False
        self.pending: int | None = None

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is threading.main_thread():  # signal.signal works only there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._closed:
            return
        if self._held:
            self.pending = self.pending or signum
            return
        self._closed = True  # one signal ends the batch; more must not cut the clean-up short
        raise _Interrupt(signum)

    def check(self) -> None:
        if self.pending is not None and not self._closed:
            signum, self.pending = self.pending, None
            self._closed = True
            raise _Interrupt(signum)

    @contextmanager
    def hold(self) -> Iterator[None]:
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        # Only on a normal exit: an error inside the block is reported first, the signal at the next
        # check().
        if not self._held:
            self.check()

    def close(self) -> None:
        self._closed = True


@dataclass(frozen=True)
class _Input:
    path: str  # as given (what the analyzer records as the source)
    key: str  # absolute path, printable: identifies the image across runs
    source: str  # printable `path`: JSON "source", faces.csv "source"
    rel: Path  # path relative to the inputs' common folder


@dataclass
class _Done:
    """A manifest line: an image whose outputs are all written."""

    key: str
    source: str
    faces: int
    json_file: str | None = None  # relative to OUT
    annotated_file: str | None = None
    renamed: dict[str, str] | None = None  # {"json"/"annotated": name} where the usual name was not used

    def to_line(self) -> bytes:
        # ensure_ascii: output names keep undecodable bytes as \udcXX escapes, which json.loads
        # turns back into the exact same name.
        return (json.dumps(dataclasses.asdict(self), ensure_ascii=True) + "\n").encode("ascii")


class _Batch:
    def __init__(
        self,
        files: Sequence[str | os.PathLike[str]],
        out: Path,
        config: AnalyzerConfig,
        options: BatchOptions,
        *,
        resume: bool,
        quiet: bool,
        on_result: Callable[[FrameResult, Callable[[str], None]], None] | None,
    ) -> None:
        self.out = out
        self.config = config
        self.options = options
        self.resume = resume
        self.quiet = quiet
        self.on_result = on_result
        self.state = out / STATE_DIR
        self.csv_path = out / "faces.csv"
        self.inputs, self.excluded = self._inputs(files)
        self.done: dict[str, _Done] = {}
        self.failed: list[Failure] = []
        self.failed_keys: set[str] = set()
        self.claimed: dict[Path, str] = {}  # output path (relative to out) → key of the image writing it
        self.csv_fd: int | None = None
        self.csv_header: list[str] | None = None
        self.layout = TableLayout()  # the analyzer's, once it is built
        self.manifest_fd: int | None = None
        self.name_max = 255
        self.guard = _SignalGuard()
        self.write_errors = 0  # consecutive
        self.log: Callable[[str], None] = lambda msg: None if quiet else print(msg, file=sys.stderr)

    # -- setup -------------------------------------------------------------------------------------
    def _inputs(self, files: Sequence[str | os.PathLike[str]]) -> tuple[list[_Input], int]:
        # abspath, not resolve(): a symlink keeps its own name (two links to one photo are two
        # outputs), and a self-looping link is reported by the reader instead of crashing here.
        out_real = os.path.realpath(self.out)
        seen: set[str] = set()
        kept: list[tuple[str, str]] = []
        excluded = 0
        for f in files:
            path = os.fspath(f)
            absolute = os.path.abspath(path)
            folder = os.path.realpath(os.path.dirname(absolute))
            if folder == out_real or folder.startswith(out_real + os.sep):
                excluded += 1
                continue
            if absolute not in seen:  # the same file named twice is analysed once
                seen.add(absolute)
                kept.append((path, absolute))
        if not kept:
            raise NoImagesError(f"nothing to analyse: {excluded} input(s), all inside the output folder "
                                f"{printable(str(self.out))}" if excluded else "nothing to analyse: no input files")
        root = os.path.commonpath([os.path.dirname(a) for _, a in kept])
        inputs = [
            _Input(path=p, key=printable(a), source=printable(p), rel=Path(os.path.relpath(a, root))) for p, a in kept
        ]
        return inputs, excluded

    def _fingerprint(self) -> tuple[dict[str, Any], str]:
        spec = {
            "config": self.config.to_dict(),
            "formats": sorted(self.options.formats),
            "annotate": self.options.annotate,
            "landmarks": self.options.annotate and self.options.landmarks,
        }
        if "csv" in self.options.formats:  # faces.csv of an older ferx has other columns: not resumable
            spec["row_format"] = ROW_FORMAT
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        return spec, digest

    def _prepare(self) -> None:
        """Check and set up the output folder before any analysis: problems here raise BatchError."""
        if self.out.exists() and not self.out.is_dir():
            raise BatchError(f"output folder {printable(str(self.out))} exists and is not a folder")
        spec, digest = self._fingerprint()
        previous = self._read_run() if self.resume else None
        if previous is not None:
            self._check_same(previous, spec, digest)  # before anything in OUT changes
        elif self.resume:
            self.log(f"ferx: no earlier batch in {printable(str(self.out))}; starting a new one")
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self.name_max = _name_max(self.out)
            # First write: a stale summary must never look current, and it proves OUT is writable.
            self._write_summary(self._summary("running", 0.0))
            self.state.mkdir(exist_ok=True)
            if previous is not None:
                self._load_manifest()
                if "csv" in self.options.formats:
                    self._rebuild_csv()
            else:
                atomic_write_bytes(self.state / "done.jsonl", b"")
                atomic_write_text(self.state / "run.json", json.dumps(
                    {"ferx_version": __version__, "fingerprint": digest, "spec": spec}, indent=1))
                if "csv" in self.options.formats:
                    atomic_write_bytes(self.csv_path, b"")
            atomic_write_text(self.out / "config.yaml", self.config.to_yaml())
            flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
            self.manifest_fd = os.open(self.state / "done.jsonl", flags)
            if "csv" in self.options.formats:
                self.csv_fd = os.open(self.csv_path, flags)
        except OSError as e:
            raise BatchError(f"cannot write to the output folder {printable(str(self.out))}: {_reason(e)}") from None
        for name in RESERVED_NAMES:  # an input named "summary" must not write OUT/summary.json
            self.claimed[Path(name)] = ""
        for d in self.done.values():
            for output in (d.json_file, d.annotated_file):
                if output is not None:
                    self.claimed[Path(output)] = d.key

    def _read_run(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.state / "run.json").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise BatchError(f"cannot resume: {self.state / 'run.json'} is unreadable ({e})") from None
        return data if isinstance(data, dict) else None

    def _check_same(self, previous: dict[str, Any], spec: dict[str, Any], digest: str) -> None:
        if previous.get("fingerprint") == digest:
            return
        old, new = previous.get("spec") or {}, json.loads(json.dumps(spec))  # both as JSON would have them
        keys = [k for k in new if k != "config" and old.get(k) != new[k]]
        old_cfg = old.get("config") or {}
        keys += [f"config.{k}" for k in new["config"] if old_cfg.get(k) != new["config"][k]]
        raise BatchError(
            f"cannot resume: {printable(str(self.out))} was written with different settings "
            f"({', '.join(keys) or 'see .ferx-batch/run.json'}); use the same options and config, or drop --resume "
            "to start over"
        )

    def _load_manifest(self) -> None:
        """Read done.jsonl (a torn last line is skipped), keep entries whose outputs still exist,
        and rewrite it cleanly so that appends start on a fresh line."""
        try:
            raw = (self.state / "done.jsonl").read_bytes()
        except FileNotFoundError:
            raw = b""
        for line in raw.split(b"\n"):
            try:
                d = _Done(**json.loads(line))
            except (ValueError, TypeError):
                continue  # torn or foreign line: that image is simply redone
            outputs = [name for name in (d.json_file, d.annotated_file) if name is not None]
            if all((self.out / name).is_file() for name in outputs):
                self.done[d.key] = d
        self._rewrite_manifest()

    def _rewrite_manifest(self) -> None:
        atomic_write_bytes(self.state / "done.jsonl", b"".join(d.to_line() for d in self.done.values()))

    def _rebuild_csv(self) -> None:
        """Keep exactly the rows of finished images in faces.csv (one per face, one for an image
        without a face): rows of an image that was being written when the batch stopped (and a
        torn last row) are dropped; an image whose row count does not match its manifest entry is
        redone."""
        try:
            text = self.csv_path.read_bytes().decode("utf-8", "backslashreplace")
        except FileNotFoundError:
            text = ""
        rows = _parse_csv(text)
        if rows and not text.endswith(_CRLF):
            rows.pop()
        header, body = (rows[0], rows[1:]) if rows and "source" in rows[0] else (None, [])
        col = header.index("source") if header else 0
        wanted: dict[str, int] = {}
        for d in self.done.values():
            wanted[d.source] = wanted.get(d.source, 0) + max(d.faces, 1)
        kept = [r for r in body if header and len(r) == len(header) and r[col] in wanted]
        counts: dict[str, int] = {}
        for r in kept:
            counts[r[col]] = counts.get(r[col], 0) + 1
        bad = {source for source, n in wanted.items() if counts.get(source, 0) != n}
        if bad:
            self.done = {k: d for k, d in self.done.items() if d.source not in bad}
            kept = [r for r in kept if r[col] not in bad]
            self._rewrite_manifest()
        buf = io.StringIO(newline="")
        if header:
            csv.writer(buf, lineterminator=_CRLF).writerows([header, *kept])
            self.csv_header = header
        atomic_write_text(self.csv_path, buf.getvalue())

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> BatchSummary:
        t0 = time.perf_counter()
        resumed = 0
        status, signame, reason = "complete", None, None
        with self.guard:
            try:
                try:
                    with self.guard.hold():  # the state files are set up whole, even on Ctrl-C
                        self._prepare()
                    todo = [i for i in self.inputs if i.key not in self.done]
                    resumed = len(self.inputs) - len(todo)
                    if resumed:
                        self.log(f"ferx: resuming: {resumed} file(s) already done, {len(todo)} to go")
                    with Analyzer(self.config) as analyzer:
                        self.layout = TableLayout.of_pipeline(analyzer.describe())
                        if self.csv_fd is not None and self.csv_header is None:
                            self._write_csv_header()
                        self._loop(analyzer, todo)
                except _Interrupt as e:
                    status, signame = "interrupted", signal.Signals(e.signum).name
                except _Abort as e:
                    status, reason = "aborted", str(e)
                finally:
                    self.guard.close()  # from here on, a signal must not cut the summary short
            except BatchError:
                raise  # nothing was done; OUT is left as it was or cannot be written
            except BaseException as e:
                self._close_files()
                try:  # a bug or a model problem: say so rather than leave "running"
                    self._write_summary(self._summary("error", time.perf_counter() - t0,
                                                      reason=f"{type(e).__name__}: {e}", resumed=resumed))
                except OSError:
                    pass
                raise
            self._close_files()
            summary = self._summary(status, time.perf_counter() - t0, signame=signame, reason=reason,
                                    resumed=resumed)
            try:
                self._write_summary(summary)
            except OSError as e:
                print(f"ferx: error: could not write {printable(str(self.out / 'summary.json'))}: {_reason(e)}",
                      file=sys.stderr)
                if summary.status == "complete":
                    summary.status, summary.reason = "aborted", f"summary.json not written: {_reason(e)}"
        return summary

    def _loop(self, analyzer: Analyzer, todo: list[_Input]) -> None:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="img", disable=self.quiet or len(todo) < 2, file=sys.stderr)
        write: Callable[[str], None] = bar.write  # what on_result prints is asked for, even when quiet
        self.log = lambda msg: bar.write(msg, file=sys.stderr) if not self.quiet else None
        results = analyzer.iter_frames(i.path for i in todo)
        try:
            for inp, (frame, item) in zip(todo, results):
                self.guard.check()
                bar.update(1)
                if isinstance(item, Failure):
                    self._fail(inp, item.error, item.message, "skipped")
                    continue
                if item.source != inp.source:
                    item = dataclasses.replace(item, source=inp.source)
                if self.on_result is not None:
                    self.on_result(item, write)
                try:
                    with self.guard.hold():
                        self._write_outputs(inp, frame, item)
                except OSError as e:
                    self._fail(inp, type(e).__name__, f"cannot write its output: {_reason(e)}", "failed")
                    self._count_write_error(inp, e)
                except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be drawn: one image, not the batch
                    self._fail(inp, type(e).__name__, f"cannot write its output: {e}", "failed")
                else:
                    self.write_errors = 0
            self.guard.check()  # a signal held while the last image was written and failed
        finally:
            close = getattr(results, "close", None)
            if close is not None:  # stop the analyzer's generator (and any read-ahead) now
                close()
            bar.close()

    def _fail(self, inp: _Input, error: str, message: str, verb: str) -> None:
        self.failed.append(Failure(inp.source, error, printable(message)))
        self.failed_keys.add(inp.key)
        self.log(f"ferx: {verb} {inp.source}: {printable(message)}")

    def _count_write_error(self, inp: _Input, e: OSError) -> None:
        self.write_errors += 1
        if e.errno in FATAL_WRITE_ERRNOS:
            raise _Abort(f"stopped at {inp.source}: {_reason(e)}")
        if self.write_errors >= MAX_CONSECUTIVE_WRITE_ERRORS:
            raise _Abort(f"{self.write_errors} images in a row could not be written; last: {_reason(e)}")

    def _write_outputs(self, inp: _Input, frame: Frame | None, item: FrameResult) -> None:
        """All outputs of one image, or none of them (what was written is undone on error)."""
        done = _Done(key=inp.key, source=inp.source, faces=len(item.faces))
        renamed: dict[str, str] = {}
        written: list[Path] = []
        csv_start: int | None = None
        try:
            if self.options.annotate:
                if frame is None:
                    raise ValueError("the analyzer returned no decoded image to annotate")
                fmt = KEEP_ANNOTATED_SUFFIXES.get(inp.rel.suffix.lower())
                folder = Path("annotated") / inp.rel.parent
                if fmt is None:  # face.bmp → face.bmp.png: the name stays unique next to face.png
                    rel = self._claim(inp, folder, inp.rel.name, ".png", renamed, "annotated")
                else:
                    rel = self._claim(inp, folder, inp.rel.stem, inp.rel.suffix, renamed, "annotated")
                target = self.out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                image = annotate(frame.image, item, landmarks=self.options.landmarks)
                atomic_save_image(target, image, format=fmt or "PNG", **({"quality": 92} if fmt == "JPEG" else {}))
                written.append(target)
                done.annotated_file = os.fsdecode(rel)
            if "json" in self.options.formats:
                rel = self._claim(inp, inp.rel.parent, inp.rel.name, ".json", renamed, "json")
                target = self.out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(target, item.to_json(indent=1))
                written.append(target)
                done.json_file = os.fsdecode(rel)
            if self.csv_fd is not None:
                self.layout.check(item.faces, inp.source)
                info = FrameInfo(content_sha256=_sha256_or_none(inp.path))
                lines = "".join(self.layout.csv_line(r) + _CRLF for r in self.layout.rows(item, info))
                csv_start = os.lseek(self.csv_fd, 0, os.SEEK_END)
                append_bytes(self.csv_fd, lines.encode("utf-8", "backslashreplace"))
            assert self.manifest_fd is not None
            done.renamed = renamed or None
            append_bytes(self.manifest_fd, done.to_line())
        except BaseException:
            if csv_start is not None:
                _truncate_quietly(self.csv_fd, csv_start)
            for path in written:
                try:
                    path.unlink()
                except OSError:
                    pass
            raise
        self.done[inp.key] = done

    def _claim(self, inp: _Input, folder: Path, stem: str, tail: str, renamed: dict[str, str], kind: str) -> Path:
        """The output path (relative to OUT) `folder/stem+tail`, shortened to fit NAME_MAX, and made
        unique with a hash of the source's path when another image already writes there; a path
        other than the usual one is recorded in `renamed[kind]`."""
        candidate = folder / _fit(stem, tail, self.name_max, None)
        if self.claimed.get(candidate, inp.key) != inp.key:
            candidate = folder / _fit(stem, tail, self.name_max, _tag(inp.key))
        self.claimed[candidate] = inp.key
        if candidate.name != stem + tail:
            renamed[kind] = printable(os.fsdecode(candidate))
        return candidate

    def _write_csv_header(self) -> None:
        """faces.csv starts with its header, the columns of what the analyzer produces."""
        assert self.csv_fd is not None
        with self.guard.hold():
            try:
                append_bytes(self.csv_fd, (",".join(self.layout.names) + _CRLF).encode())
                self.csv_header = self.layout.names
            except OSError as e:
                raise BatchError(f"cannot write {printable(str(self.csv_path))}: {_reason(e)}") from None

    # -- summary -----------------------------------------------------------------------------------
    def _summary(self, status: str, seconds: float, *, signame: str | None = None, reason: str | None = None,
                 resumed: int = 0) -> BatchSummary:
        keys = {i.key for i in self.inputs} | set(self.done)
        failed_keys = self.failed_keys - set(self.done)
        done = list(self.done.values())
        return BatchSummary(
            status=status,
            files=len(keys),
            analysed=len(done),
            faces=sum(d.faces for d in done),
            files_without_faces=sum(d.faces == 0 for d in done),
            failed=list(self.failed),
            seconds=seconds,
            formats=self.options.formats,
            pending=max(0, len(keys) - len(done) - len(failed_keys)),
            resumed=resumed,
            excluded=self.excluded,
            renamed={d.source: d.renamed for d in done if d.renamed},
            signal=signame,
            reason=reason,
        )

    def _write_summary(self, summary: BatchSummary) -> None:
        atomic_write_text(self.out / "summary.json", json.dumps(summary.to_dict(), indent=1))

    def _close_files(self) -> None:
        for fd in (self.csv_fd, self.manifest_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.csv_fd = self.manifest_fd = None


def _fit(stem: str, tail: str, name_max: int, tag: str | None) -> str:
    """`stem + tail`, or with a tag `stem~tag + tail`, the stem cut (between characters, never inside
    one) so that the name fits `name_max` bytes. A name that must be cut always gets a tag (the
    hash of the full name when none is given) so that cut names stay distinct."""
    extra = tail if tag is None else f"~{tag}{tail}"
    if len(os.fsencode(stem + extra)) <= name_max:
        return stem + extra
    if tag is None:
        return _fit(stem, tail, name_max, _tag(stem + tail))
    budget = name_max - len(os.fsencode(extra))
    kept: list[str] = []
    size = 0
    for ch in stem:
        n = len(os.fsencode(ch))
        if size + n > budget:
            break
        kept.append(ch)
        size += n
    return "".join(kept) + extra


def _tag(text: str) -> str:
    """8 hex digits of the hash of `text` (a path, possibly with surrogate-escaped bytes)."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _parse_csv(text: str) -> list[list[str]]:
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            rows.append(next(reader))
        except StopIteration:
            return rows
        except csv.Error:  # garbage (e.g. NUL bytes from a crash): what came before still counts
            return rows


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _sha256_or_none(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:  # gone since it was analysed: the row says so by an empty hash
        return None


def _reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def _truncate_quietly(fd: int | None, size: int) -> None:
    if fd is None:
        return
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass


__all__ = ["FORMATS", "BatchError", "BatchOptions", "BatchSummary", "demo_image", "printable", "run_batch"]
