"""Photos into an output folder (`ferx analyze` on images): robust to bad items, interrupts and full
disks, and resumable. One configuration of the run driver (`ferx.runs.driver`): the analyzer runs in
this process (`PhotoEngine`), `PhotoSink` writes the folder (`ferx.runs.layout.PHOTOS`):

    OUT/summary.json              status "running" while the run goes on, then "complete",
                                  "interrupted" (SIGINT/SIGTERM), "aborted" (the output kept
                                  failing: a full disk at once, other errors 5 images in a row) or
                                  "error" (an exception that is not about one image, re-raised)
    OUT/config.yaml               the analyzer configuration used
    OUT/<rel>.json                one per analysed image (format json); <rel> is the image's path
                                  relative to the common folder of all inputs
    OUT/faces.csv                 format csv: ferx's one table (`ferx.table`), one row per face and one
                                  per image without a face; always has its header
    OUT/faces.parquet             format parquet: the same rows (complete under this name only)
    OUT/annotated/<rel>           with annotate; a source that is not JPEG/PNG gets ".png" appended
                                  (face.bmp → face.bmp.png), so face.bmp and face.png never collide
    OUT/.ferx-batch/run.json      what defines the run (config + output options) and its hash
    OUT/.ferx-batch/done.jsonl    one line per finished image, appended once all its outputs exist,
                                  with the size and sha256 of the photo analysed (`--resume` redoes a
                                  photo whose content changed since)

Rules that keep the folder consistent whatever happens:

- Every file is written atomically (`ferx.fsutil`): no reader ever sees half a JSON or image.
- An image's outputs are written together — annotated image, JSON, its rows, its ledger line — while
  SIGINT/SIGTERM wait; if one write fails, the others of that image are undone. So the rows always
  hold exactly the faces of the JSON files written, and the ledger lists only images whose outputs
  are complete.
- Undecodable bytes in file names (surrogate-escaped by Python) are written as `\\xNN` in every
  text output (JSON `source`, rows, summary.json): see `printable`.
- An output name longer than the file system allows (NAME_MAX) is shortened to a truncated stem,
  "~" and 8 hex digits of the source's hash; two sources that would write the same output file get
  the same treatment. Both are listed under `renamed` in summary.json.
- Files under OUT itself are never analysed (an OUT inside a recursively scanned folder would
  otherwise re-ingest its own annotated images).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferx import __version__
from ferx.annotate import annotate
from ferx.config import AnalyzerConfig
from ferx.errors import ConfigError, NoImagesError
from ferx.fsutil import FolderLock, atomic_save_image, atomic_write_text, file_fingerprint, printable, short_hash
from ferx.io import input_notes
from ferx.pipeline import Analyzer, Failure
from ferx.runs.driver import Aborted, SetupError, drive
from ferx.runs.guard import InterruptGuard
from ferx.runs.layout import ANNOTATED, PHOTOS
from ferx.runs.ledger import JsonLog, RunSpec, SettingsMismatch
from ferx.runs.progress import Progress
from ferx.runs.rows import CRLF, CsvRowWriter, ParquetRowWriter
from ferx.runs.space import Reserve, is_fatal_write
from ferx.runs.space import reason as _reason
from ferx.runs.status import RunStatus
from ferx.stages import PipelineInfo
from ferx.table import FrameInfo, TableLayout
from ferx.types import Frame, FrameResult

FORMATS = ("json", "csv", "parquet")
#: Write errors in a row after which the run stops: the output is broken, not one image.
MAX_CONSECUTIVE_WRITE_ERRORS = 5
#: Annotated images keep the source's name only for these formats; others become PNG.
KEEP_ANNOTATED_SUFFIXES = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}
#: Version of the rows' columns (`ferx.table`); a run written with another cannot be resumed.
ROW_FORMAT = 2
_ROWS = {"csv": "faces.csv", "parquet": "faces.parquet"}
#: Files of the run itself, never used as an image's output.
RESERVED_NAMES = ("summary.json", "config.yaml", *_ROWS.values())


class BatchError(SetupError):
    """The run cannot start: the output folder is unusable, or --resume does not match it."""


@dataclass(frozen=True)
class BatchOptions:
    """What a photo run writes, besides the analysis itself. Part of what a resume must match."""

    formats: tuple[str, ...] = ("json",)
    annotate: bool = False
    landmarks: bool = False  # draw landmarks on annotated images

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise ConfigError(f"unknown format {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")


@dataclass
class BatchSummary(RunStatus):
    """What summary.json says about a photo run. Counts cover the whole output folder, images done
    by an earlier run that this one resumed included; `failed` and `seconds` are this run's."""

    files: int = 0
    analysed: int = 0
    faces: int = 0
    files_without_faces: int = 0
    failed: list[Failure] = field(default_factory=list)
    formats: tuple[str, ...] = ()
    pending: int = 0  # neither analysed nor failed (the run stopped early)
    resumed: int = 0  # done by an earlier run and not redone
    excluded: int = 0  # inputs inside the output folder, not analysed
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)  # source → {"json"/"annotated": path}
    # AU column → its estimate's reliability grade: what a reader of faces.csv / faces.parquet needs to
    # weigh the AU columns (the per-image JSON carries them per face; the table cannot)
    au_grades: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return len(self.failed)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ferx_version": __version__, "status": self.status, "files": self.files, "analysed": self.analysed,
            "faces": self.faces, "files_without_faces": self.files_without_faces,
            "failed": [f.to_dict() for f in self.failed], "pending": self.pending, "resumed": self.resumed,
            "excluded": self.excluded, "renamed": self.renamed, "seconds": round(self.seconds, 3),
            "formats": list(self.formats),
        }
        if self.au_grades:
            d["au_grades"] = dict(self.au_grades)
        if self.signal is not None:
            d["signal"] = self.signal
        if self.reason is not None:
            d["reason"] = self.reason
        return d


def run_spec(config: AnalyzerConfig, options: BatchOptions) -> RunSpec:
    """What defines a photo run (what `--resume` must match)."""
    spec: dict[str, Any] = {
        "config": config.to_dict(),
        "formats": sorted(options.formats),
        "annotate": options.annotate,
        "landmarks": options.annotate and options.landmarks,
    }
    if set(_ROWS) & set(options.formats):  # rows of an older ferx have other columns: not resumable
        spec["row_format"] = ROW_FORMAT
    return RunSpec(spec)


def previous_run(out: Path, spec: RunSpec) -> dict[str, Any] | None:
    """The earlier photo run in `out` that `--resume` continues (None: none); BatchError where it was
    made with other settings. Nothing in `out` changes: `ferx analyze` asks before its videos too (a
    review found a refused resume after all the videos had been redone)."""
    try:
        previous = RunSpec.read(PHOTOS.run_json(out))
    except SettingsMismatch as e:
        raise BatchError(f"cannot resume: {e}") from None
    if previous is not None and spec.differences(previous):
        raise BatchError(
            f"cannot resume: {printable(str(out))} was written with different settings "
            f"({', '.join(spec.differences(previous))}); use the same options and config, or drop --resume "
            "to start over")
    return previous


def take_run_lock(lock: FolderLock, out: Path) -> None:
    """Take OUT's run lock, or raise the BatchError that says why not: another run holds it, or the
    folder cannot be written (read-only, another user's)."""
    try:
        taken = lock.acquire()
    except OSError as e:
        raise BatchError(f"cannot write to the output folder {printable(str(out))}: {_reason(e)}") from None
    if not taken:  # two runs into one folder kept only the second one's rows
        raise BatchError(f"{printable(str(out))} is being written by another `ferx analyze` run; wait for it "
                         "or choose another --out")


def run_photos(
    files: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    config: AnalyzerConfig | str | os.PathLike[str] | dict[str, Any] | None = None,
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
        config: analyzer configuration, in any form `Analyzer` takes (`AnalyzerConfig.of`).
        options: formats, annotated images.
        resume: continue the run recorded in `out`, skipping the images it finished; the config
            and options must be those of that run. Without a run in `out`, starts a new one.
            Without `resume`, an earlier run's summary, ledger and rows are replaced (its other
            files are overwritten as images are redone, never deleted).
        quiet: no progress bar and no per-file messages on stderr.
        on_result: called with each result and a function that prints without breaking the bar.

    Returns the summary also written to `out/summary.json`. SIGINT and SIGTERM (when called from
    the main thread) end the run cleanly with status "interrupted" instead of raising.

    Raises:
        BatchError: `out` is not a writable folder, or `resume` does not match it (before any work).
        NoImagesError: every file is inside `out`.
    """
    config = AnalyzerConfig.of(config)  # the forms `Analyzer` takes (None gave an AttributeError traceback)
    sink = PhotoSink(files, Path(out), config, options, resume=resume, quiet=quiet, on_result=on_result)
    return drive(sink, PhotoEngine(config))


# -- inputs and outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoInput:
    path: str  # as given (what the analyzer records as the source)
    key: str  # absolute path, printable: identifies the image across runs
    source: str  # printable `path`: JSON "source", rows "source"
    rel: Path  # path relative to the inputs' common folder


@dataclass(frozen=True)
class PhotoOutcome:
    """One analysed input: its decoded frame (None when it failed) and its result or failure."""

    input: PhotoInput
    frame: Frame | None
    result: FrameResult | Failure
    input_notes: tuple[str, ...] = ()  # what decoding the input warned about (also in the result's notes)


def iter_frames_noted(
    analyzer: Analyzer, inputs: Iterable[Any]
) -> Iterator[tuple[Frame | None, FrameResult | Failure, tuple[str, ...]]]:
    """`Analyzer.iter_frames`, plus what decoding each input warned about (a 16-bit file that reads
    nearly black, clipped values: `ferx.io.input_notes`), also put in front of the result's notes, so
    that JSON, rows and messages say it and not only a Python warning."""
    frames = analyzer.iter_frames(inputs)
    while True:
        with input_notes() as notes:  # the generator decodes inside next(), in this context
            try:
                frame, item = next(frames)
            except StopIteration:
                return
        if isinstance(item, FrameResult):
            item = item.with_notes(notes)
        yield frame, item, tuple(notes)


class PhotoEngine:
    """Analyses the photos in this process, one after another (the analyzer's own threads aside)."""

    def __init__(self, config: AnalyzerConfig) -> None:
        self.config = config
        self.analyzer: Analyzer | None = None

    def start(self) -> PipelineInfo:
        self.analyzer = Analyzer(self.config)
        return self.analyzer.describe()

    def run(self, work: Sequence[PhotoInput]) -> Iterator[PhotoOutcome]:
        assert self.analyzer is not None, "start() first"
        for inp, (frame, item, notes) in zip(work, iter_frames_noted(self.analyzer, [i.path for i in work])):
            yield PhotoOutcome(inp, frame, item, notes)

    def close(self) -> None:
        if self.analyzer is not None:
            self.analyzer.close()


@dataclass
class _Done:
    """A ledger line: an image whose outputs are all written."""

    key: str
    source: str
    faces: int
    json_file: str | None = None  # relative to OUT
    annotated_file: str | None = None
    renamed: dict[str, str] | None = None  # {"json"/"annotated": name} where the usual name was not used
    # What was analysed: a resume redoes the image when its file now holds other bytes (`_same_photo`).
    # None in lines of a ferx before this field (and where the file could not be read back).
    content_sha256: str | None = None
    size: int | None = None


# -- the output folder -----------------------------------------------------------------------------


class PhotoSink:
    """The photo layout being written: set up (and checked for resume) by `open`, one image's outputs
    at a time by `write`, summary.json by `finish`."""

    def __init__(self, files: Sequence[str | os.PathLike[str]], out: Path, config: AnalyzerConfig,
                 options: BatchOptions, *, resume: bool, quiet: bool,
                 on_result: Callable[[FrameResult, Callable[[str], None]], None] | None) -> None:
        self.out, self.config, self.options = out, config, options
        self.resume, self.quiet, self.on_result = resume, quiet, on_result
        self.au_grades: dict[str, str] = {}  # set by `start` from the analyzer
        self.state = out / PHOTOS.state
        self.reserve = Reserve(self.state / "reserve")  # room for the last summary on a full disk (runs.space)
        self.lock = FolderLock(self.state / "lock", reentrant=True)  # `ferx analyze` holds it over its videos too
        self.inputs, self.excluded = _inputs(files, out)
        self.ledger = JsonLog(out / PHOTOS.ledger)  # type: ignore[operator]
        self.done: dict[str, _Done] = {}
        self.failed: list[Failure] = []
        self.failed_keys: set[str] = set()
        self.claimed: dict[Path, str] = {}  # output path (relative to out) → key of the image writing it
        self.writers: dict[str, CsvRowWriter | ParquetRowWriter] = {}
        self.layout = TableLayout()  # the analyzer's (`start`)
        self.resuming = False
        self.name_max = 255
        self.write_errors = 0  # consecutive
        self.resumed = 0
        self.progress: Progress | None = None

    def log(self, message: str) -> None:
        if not self.quiet:
            (self.progress.write if self.progress is not None else _stderr)(message)

    # -- setup -------------------------------------------------------------------------------------
    def open(self) -> None:
        """Check and set up the output folder before any analysis: problems here raise BatchError."""
        if self.out.exists() and not self.out.is_dir():
            raise BatchError(f"output folder {printable(str(self.out))} exists and is not a folder")
        spec = run_spec(self.config, self.options)
        previous = previous_run(self.out, spec) if self.resume else None
        if self.resume and previous is None:
            # (a run stopped during its videos had not started its photos: nothing of them to resume)
            self.log(f"ferx: --resume: no photos of an earlier run in {printable(str(self.out))}; analysing them all")
        try:
            self.state.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BatchError(f"cannot write to the output folder {printable(str(self.out))}: {_reason(e)}") from None
        take_run_lock(self.lock, self.out)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self.name_max = _name_max(self.out)
            # First write: a stale summary must never look current, and it proves OUT is writable.
            self._write_summary(self._summary(RunStatus("running")))
            self.state.mkdir(exist_ok=True)
            self.reserve.make()
            if previous is not None:
                self._load_ledger()
            else:
                self.ledger.rewrite([])
                spec.write(PHOTOS.run_json(self.out))
            atomic_write_text(self.out / PHOTOS.config, self.config.to_yaml())  # type: ignore[operator]
            self.ledger.open()
        except OSError as e:
            raise BatchError(f"cannot write to the output folder {printable(str(self.out))}: {_reason(e)}") from None
        for name in RESERVED_NAMES:  # an input named "summary" must not write OUT/summary.json
            self.claimed[Path(name)] = ""
        for d in self.done.values():
            for output in (d.json_file, d.annotated_file):
                if output is not None:
                    self.claimed[Path(output)] = d.key
        self.resuming = previous is not None

    def start(self, info: PipelineInfo) -> list[PhotoInput]:
        """The rows files, whose columns are those of what the analyzer produces."""
        self.layout = TableLayout.of_pipeline(info)
        self.au_grades = {code: str(info.au_profile.grade(code)) for code in info.au_codes or ()
                          if info.au_profile is not None and info.au_profile.grade(code) is not None}
        try:
            self._open_rows(resume=self.resuming)
        except OSError as e:
            raise BatchError(f"cannot write to the output folder {printable(str(self.out))}: {_reason(e)}") from None
        todo = [i for i in self.inputs if i.key not in self.done]
        self.resumed = len(self.inputs) - len(todo)
        if self.resumed:
            self.log(f"ferx: resuming: {self.resumed} file(s) already done, {len(todo)} to go")
        self.progress = Progress(len(todo), "img", quiet=self.quiet, min_total=2)
        return todo

    def _load_ledger(self) -> None:
        """Read the ledger, keep entries whose outputs still exist and whose photo is still the one
        analysed, and rewrite it cleanly so that appends start on a fresh line."""
        for line in self.ledger.read():
            try:
                d = _Done(**line)
            except TypeError:
                continue  # a foreign line: that image is simply redone
            outputs = [name for name in (d.json_file, d.annotated_file) if name is not None]
            if all((self.out / name).is_file() for name in outputs):
                self.done[d.key] = d
        paths = {i.key: i.path for i in self.inputs}  # only this run's inputs can be redone
        for d in [d for d in self.done.values() if d.key in paths]:
            if d.content_sha256 is None or d.size is None:
                # A line of a ferx before the fingerprint: trusted as unchanged, as that ferx did
                # (redoing it would re-analyse a whole folder after an upgrade), and given the current
                # fingerprint, so that a later replacement is noticed.
                d.size, d.content_sha256 = _fingerprint(paths[d.key]) or (None, None)
            elif not _same_photo(d, paths[d.key]):
                self._forget_replaced(d)
        self.ledger.rewrite(dataclasses.asdict(d) for d in self.done.values())

    def _forget_replaced(self, d: _Done) -> None:
        """A finished photo whose file now holds another photo: it is analysed again. Its rows go
        with its ledger line (`_open_rows` keeps the rows of finished images only); its JSON and
        annotated image are removed too, as they describe a photo that is gone and a redo that fails
        must not leave them standing as if they were its result."""
        self.log(f"ferx: {d.source} changed since the earlier run; analysing it again")
        del self.done[d.key]
        for name in (d.json_file, d.annotated_file):
            if name is not None:
                try:
                    (self.out / name).unlink()
                except FileNotFoundError:
                    pass

    def _open_rows(self, *, resume: bool) -> None:
        """The rows files: on resume, exactly the rows of finished images are kept (one per face,
        one for an image without a face); an image whose rows are not all there is redone."""
        formats = [f for f in _ROWS if f in self.options.formats]
        kept: dict[str, Any] = {}
        if resume:
            wanted = {}
            for d in self.done.values():
                wanted[d.source] = wanted.get(d.source, 0) + max(d.faces, 1)
            found = {f: _read_rows(self.out / _ROWS[f], f, self.layout) for f in formats}
            # A killed run never closes its Parquet file; the CSV has the same rows (rounded as CSV is)
            rebuild = "parquet" in found and found["parquet"] is None and "csv" in found and bool(wanted)
            checked = {f: rows for f, rows in found.items() if not (rebuild and f == "parquet")}
            bad = {s for rows in checked.values() for s, n in wanted.items() if _count(rows, s) != n}
            if "parquet" in found and found["parquet"] is None and wanted:
                self.log(f"ferx: {_ROWS['parquet']} was not finished by the earlier run (it was killed before closing "
                         "it): " + (f"its rows are rebuilt from {_ROWS['csv']}" if rebuild else
                                    f"its {len(wanted)} image(s) are analysed again"))
            if bad:
                self.done = {k: d for k, d in self.done.items() if d.source not in bad}
                self.ledger.rewrite(dataclasses.asdict(d) for d in self.done.values())
            good = {d.source for d in self.done.values()}
            kept = {f: _keep(rows, good) for f, rows in checked.items()}
            if rebuild:
                kept["parquet"] = self.layout.arrow_table([self.layout.parse_csv_row(r) for r in kept["csv"] or []])
        for f in formats:
            if f == "csv":
                lines = kept.get("csv") or []
                buf = io.StringIO(newline="")
                csv.writer(buf, lineterminator=CRLF).writerows(lines)
                atomic_write_text(self.out / _ROWS[f], (",".join(self.layout.names) + CRLF if lines else "")
                                  + buf.getvalue())
                self.writers[f] = CsvRowWriter(self.out / _ROWS[f], self.layout, append=True)
            else:
                self.writers[f] = writer = ParquetRowWriter(self.out / _ROWS[f], self.layout)
                if kept.get(f) is not None:
                    writer.write_table(kept[f])

    # -- one image ---------------------------------------------------------------------------------
    def write(self, outcome: PhotoOutcome, guard: InterruptGuard) -> None:
        inp, item = outcome.input, outcome.result
        assert self.progress is not None
        self.progress.update(1)
        if isinstance(item, Failure):
            self._fail(inp, item.error, item.message, "skipped")
            return
        if item.source != inp.source:
            item = dataclasses.replace(item, source=inp.source)
        if self.on_result is not None:
            self.on_result(item, self.progress.print)  # what on_result prints is asked for, even when quiet
        try:
            with guard.hold():
                self._write_outputs(inp, outcome.frame, item)
        except OSError as e:
            self._fail(inp, type(e).__name__, f"cannot write its output: {_reason(e)}", "failed")
            self._count_write_error(inp, e)
        except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be drawn: one image, not the run
            self._fail(inp, type(e).__name__, f"cannot write its output: {e}", "failed")
        else:
            self.write_errors = 0
            for note in outcome.input_notes:
                self.log(f"ferx: {inp.source}: {note}")

    def _fail(self, inp: PhotoInput, error: str, message: str, verb: str) -> None:
        self.failed.append(Failure(inp.source, error, printable(message)))
        self.failed_keys.add(inp.key)
        self.log(f"ferx: {verb} {said_with_source(inp.source, printable(message))}")

    def _count_write_error(self, inp: PhotoInput, e: OSError) -> None:
        self.write_errors += 1
        if is_fatal_write(e):
            raise Aborted(f"stopped at {inp.source}: {_reason(e)}")
        if self.write_errors >= MAX_CONSECUTIVE_WRITE_ERRORS:
            raise Aborted(f"{self.write_errors} images in a row could not be written; last: {_reason(e)}")

    def _write_outputs(self, inp: PhotoInput, frame: Frame | None, item: FrameResult) -> None:
        """All outputs of one image, or none of them (what was written is undone on error)."""
        size, sha256 = _fingerprint(inp.path) or (None, None)
        done = _Done(key=inp.key, source=inp.source, faces=len(item.faces), content_sha256=sha256, size=size)
        renamed: dict[str, str] = {}
        written: list[Path] = []
        marks: dict[str, int] = {}
        try:
            if self.options.annotate:
                rel = self._write_annotated(inp, frame, item, renamed)
                written.append(self.out / rel)
                done.annotated_file = os.fsdecode(rel)
            if "json" in self.options.formats:
                rel = self._claim(inp, inp.rel.parent, inp.rel.name, ".json", renamed, "json")
                target = self.out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(target, item.to_json(indent=1))
                written.append(target)
                done.json_file = os.fsdecode(rel)
            if self.writers:
                self.layout.check(item.faces, inp.source)
                rows = self.layout.rows(item, FrameInfo(content_sha256=done.content_sha256))
                for name, writer in self.writers.items():
                    marks[name] = writer.begin()
                    writer.write(rows)
            done.renamed = renamed or None
            self.ledger.append(dataclasses.asdict(done))
        except BaseException:
            for name, mark in marks.items():
                self.writers[name].rollback(mark)
            for path in written:
                try:
                    path.unlink()
                except OSError:
                    pass
            raise
        self.done[inp.key] = done

    def _write_annotated(self, inp: PhotoInput, frame: Frame | None, item: FrameResult,
                         renamed: dict[str, str]) -> Path:
        if frame is None:
            raise ValueError("the analyzer returned no decoded image to annotate")
        fmt = KEEP_ANNOTATED_SUFFIXES.get(inp.rel.suffix.lower())
        folder = Path(ANNOTATED) / inp.rel.parent
        if fmt is None:  # face.bmp → face.bmp.png: the name stays unique next to face.png
            rel = self._claim(inp, folder, inp.rel.name, ".png", renamed, "annotated")
        else:
            rel = self._claim(inp, folder, inp.rel.stem, inp.rel.suffix, renamed, "annotated")
        target = self.out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        image = annotate(frame.image, item, landmarks=self.options.landmarks)
        atomic_save_image(target, image, format=fmt or "PNG", **({"quality": 92} if fmt == "JPEG" else {}))
        return rel

    def _claim(self, inp: PhotoInput, folder: Path, stem: str, tail: str, renamed: dict[str, str], kind: str) -> Path:
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

    # -- summary -----------------------------------------------------------------------------------
    def finish(self, status: RunStatus) -> BatchSummary:
        self._close_files()
        summary = self._summary(status)
        try:
            self._write_summary(summary)
            self.reserve.release()
        except OSError as e:
            print(f"ferx: error: could not write {printable(str(self.out / 'summary.json'))}: {_reason(e)}",
                  file=sys.stderr)
            if summary.status == "complete":
                summary.status, summary.reason = "aborted", f"summary.json not written: {_reason(e)}"
        return summary

    def fail(self, status: RunStatus) -> None:
        self._close_files()
        try:
            self._write_summary(self._summary(status))
        except OSError:
            pass

    def _summary(self, status: RunStatus) -> BatchSummary:
        keys = {i.key for i in self.inputs} | set(self.done)
        failed_keys = self.failed_keys - set(self.done)
        done = list(self.done.values())
        return BatchSummary(
            status=status.status, seconds=status.seconds, signal=status.signal, reason=status.reason,
            files=len(keys), analysed=len(done), faces=sum(d.faces for d in done),
            files_without_faces=sum(d.faces == 0 for d in done), failed=list(self.failed),
            formats=self.options.formats, pending=max(0, len(keys) - len(done) - len(failed_keys)),
            resumed=self.resumed, excluded=self.excluded,
            renamed={d.source: d.renamed for d in done if d.renamed}, au_grades=self.au_grades,
        )

    def _write_summary(self, summary: BatchSummary) -> None:
        text = json.dumps(summary.to_dict(), indent=1)
        self.reserve.write(lambda: atomic_write_text(self.out / PHOTOS.summary, text))

    def _close_files(self) -> None:
        writers, self.writers = list(self.writers.values()), {}
        for w in writers:
            try:
                w.close()
            except OSError as e:
                self.log(f"ferx: cannot finish {w.path}: {_reason(e)}")
        self.ledger.close()

    def close(self) -> None:
        self._close_files()
        if self.progress is not None:
            self.progress.close()
        self.lock.release()


# -- helpers ---------------------------------------------------------------------------------------


def _inputs(files: Sequence[str | os.PathLike[str]], out: Path) -> tuple[list[PhotoInput], int]:
    # abspath, not resolve(): a symlink keeps its own name (two links to one photo are two
    # outputs), and a self-looping link is reported by the reader instead of crashing here.
    out_real = os.path.realpath(out)
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
                            f"{printable(str(out))}" if excluded else "nothing to analyse: no input files")
    return [PhotoInput(path=p, key=printable(a), source=printable(p), rel=rel) for (p, a), rel in zip(kept, _mirror(kept))], excluded


def _mirror(kept: list[tuple[str, str]]) -> list[Path]:
    """Where each input's outputs go below OUT: its path below the folder all inputs share. The
    bundled example (`--demo`) is written at the top under its own name, and inputs that share no
    folder but the filesystem root by their names (a collision gets a suffix, listed under
    `renamed`): a tryout's `--demo photo.jpg` wrote OUT/work/…/assets/astronaut.jpg.json."""
    from ferx.assets import demo_image

    demo = os.path.abspath(demo_image())
    others = [a for _, a in kept if a != demo]
    root = os.path.commonpath([os.path.dirname(a) for a in others]) if others else ""
    flat = not others or os.path.dirname(root) == root  # nothing shared below "/" (or a drive)
    return [Path(os.path.basename(a)) if a == demo or flat else Path(os.path.relpath(a, root)) for _, a in kept]


def _read_rows(path: Path, fmt: str, layout: TableLayout) -> Any:
    """The rows a file holds: CSV as lists of strings (a torn last row dropped), Parquet as a table
    (None when the file is missing, unreadable or of other columns)."""
    if fmt == "csv":
        try:
            text = path.read_bytes().decode("utf-8", "backslashreplace")
        except FileNotFoundError:
            return []
        rows = _parse_csv(text)
        if rows and not text.endswith(CRLF):
            rows.pop()
        if not rows or rows[0] != layout.names:
            return []
        return [r for r in rows[1:] if len(r) == len(layout.names)]
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError):
        return None
    return table if table.column_names == layout.names else None


def _count(rows: Any, source: str) -> int:
    if rows is None:
        return 0
    if isinstance(rows, list):
        return sum(r[0] == source for r in rows)
    import pyarrow.compute as pc

    return int(pc.sum(pc.equal(rows.column("source"), source)).as_py() or 0)


def _keep(rows: Any, sources: set[str]) -> Any:
    if rows is None:
        return None
    if isinstance(rows, list):
        return [r for r in rows if r[0] in sources]
    import pyarrow as pa
    import pyarrow.compute as pc

    return rows.filter(pc.is_in(rows.column("source"), value_set=pa.array(sorted(sources), pa.string())))


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


_tag = short_hash


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _fingerprint(path: str) -> tuple[int, str] | None:
    """(size, sha256) of a photo (`fsutil.file_fingerprint`); None when it cannot be read (gone since
    it was analysed: rows and ledger say so by an empty hash). Taken when the image's outputs are
    written, right after its analysis."""
    try:
        return file_fingerprint(path)
    except OSError:
        return None


def _same_photo(done: _Done, path: str) -> bool:
    """Whether `path` still holds the photo `done` records (a resume skips it only then).

    A size that differs settles it with a stat. Otherwise the content decides: size and mtime stay
    the same after `cp -p`, `rsync -a` or unpacking an archive, and mtimes are coarse on FAT and some
    network shares, so they cannot tell one photo from another; reading a photo back costs a few
    milliseconds next to the tenth of a second or more of analysing it. A file that cannot be read
    now keeps its earlier result, as before (its analysis would only fail).
    """
    try:
        if os.stat(path).st_size != done.size:
            return False
    except OSError:
        return True
    content = _fingerprint(path)
    return content is None or content == (done.size, done.content_sha256)


def said_with_source(source: str, message: str) -> str:
    """`source: message`, the source said once: error messages often start with it ("x.png: not an image")."""
    return message if message.startswith(f"{source}:") else f"{source}: {message}"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


__all__ = ["FORMATS", "BatchError", "BatchOptions", "BatchSummary", "PhotoEngine", "PhotoSink", "iter_frames_noted", "printable",
           "run_photos", "said_with_source"]
