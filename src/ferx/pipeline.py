"""The Analyzer: composes the configured stages and turns images into FrameResults."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import ferx.backends  # noqa: F401  (registers the built-in backends)
from ferx.assets import demo_image
from ferx.boxes import inside_larger
from ferx.config import WHOLE_IMAGE_MAX_SIDE, AnalyzerConfig, StageConfig
from ferx.errors import ClosedError, ConfigError, ImageReadError, ModelFileError
from ferx.facecrop import frame_crops
from ferx.io import ImageInput, file_object_name, load_image, one_or_many
from ferx.stages import SLOTS, PipelineInfo, Stage, StageInfo
from ferx.types import Faces, Frame, FrameResult


@dataclass(frozen=True)
class Failure:
    """An input a batch could not analyse; the batch goes on without it."""

    source: str
    error: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "error": self.error, "message": self.message}


#: Errors that are about the analyzer, not one input: a batch stops on them.
_SETUP_ERRORS = (ModelFileError, ConfigError, ClosedError)


def _source_name(item: object, i: int) -> str:
    if isinstance(item, Frame):
        return item.source
    if isinstance(item, (str, Path)):
        return str(item)
    return file_object_name(item) or f"<input {i}>"


def _failure(name: str, error: BaseException) -> Failure:
    message = str(error) or type(error).__name__
    if not isinstance(error, ImageReadError):
        message = f"{name}: {message}" if name not in message else message
    return Failure(name, type(error).__name__, message)


def check_chain(stages: list[tuple[str, Stage]]) -> None:
    """Refuse a stage list in which a stage needs a field that no earlier stage provides.

    Raises:
        ConfigError naming the stage, what it needs and which stage could provide it.
    """
    provided: set[str] = set()
    for slot, stage in stages:
        missing = sorted(set(stage.needs) - provided)
        if missing:
            name = type(stage).__name__
            raise ConfigError(
                f"the {slot} stage ({name}) needs {', '.join(missing)}, which no stage before it provides"
                f"{_hint(missing)}; stages in this pipeline: {', '.join(s for s, _ in stages)}"
            )
        provided |= set(stage.provides)
    if not stages or stages[0][1].needs:
        raise ConfigError("a pipeline must start with a detector stage")


def _hint(missing: list[str]) -> str:
    """Which registered backends provide the missing fields (read from the registries)."""
    offers = [
        f"{slot.registry.stage} {name!r}"
        for slot in SLOTS
        for name in slot.registry.names()
        if set(missing) & (set(slot.registry.get(name).provides) - set(slot.registry.get(name).needs))
    ]
    return f" (provided by: {', '.join(offers)}; or switch this stage off)" if offers else ""


#: Keypoints of a face filling its image, as fractions of the image (eyes, nose tip, mouth corners):
#: FER+'s 48-px crops, where the eyes lie on a horizontal line at 39 % of the height
#: (`facecrop.TEMPLATE`). Only the eye line's angle and the box are used: the landmarker replaces them.
_WHOLE_IMAGE_KEYPOINTS = np.array([[0.32, 0.39], [0.68, 0.39], [0.5, 0.58], [0.36, 0.76], [0.64, 0.76]], np.float32)


def whole_image_face(image: np.ndarray, score: float, share: float = 1.0) -> Faces:
    """One face whose box is the whole image (a face crop), or its central `share` of each side;
    `score` is the detection score it gets."""
    h, w = image.shape[:2]
    m = (1.0 - share) / 2
    x0, y0, bw, bh = m * w, m * h, share * w, share * h
    return Faces(np.array([[x0, y0, x0 + bw, y0 + bh]], np.float32), np.array([score], np.float32),
                 (_WHOLE_IMAGE_KEYPOINTS * np.array([bw, bh], np.float32) + np.array([x0, y0], np.float32))[None])


#: The boxes a tight face crop is read with when nothing in it was confirmed: the whole image, then its
#: central 80 % and 65 % (the mesh reads a 1.5× box, so a tighter box makes the face fill more of its
#: input; lfw film stills cut at the brow or chin, docs/runs/crop-retry-2026-12-07).
CROP_RETRY_SHARES: tuple[float, ...] = (1.0, 0.8, 0.65)


def _face_crop(image: np.ndarray, faces: Faces) -> Faces:
    """`AnalyzerConfig.whole_image_face == "auto"`: the detector's faces, or, where it finds none in a
    small image (a crop too tight for it), one whole-image face with score 0, so that the landmarker
    keeps it only if it is sure there is a face."""
    h, w = image.shape[:2]
    if not len(faces) and max(h, w) <= WHOLE_IMAGE_MAX_SIDE:
        return whole_image_face(image, 0.0)
    return faces


#: Why a confirming stage's unconfirmed faces were dropped, by slot (the note a frame gets).
_NO_FACE = {"landmarks": "the landmark model found no face in them", "verify": "the face verifier found no face in them"}
#: A face whose box lies more than this share inside a larger confirmed face's box is part of it.
NESTED_SHARE = 0.6


class Analyzer:
    """Finds faces, measures landmarks, head pose, AUs and expression, and explains each face.

    Args:
        config: an AnalyzerConfig, a YAML path, or None for the defaults.
        **overrides: top-level config fields, e.g. `detector={"name": "blazeface", "options":
            {"min_face": 40}}` or `expression=None`, or `pipeline="onepass"` (the one-pass
            detector alone; add e.g. `landmarker="mediapipe", aus="blendshapes"` to measure AUs
            on its boxes). Unknown keys raise ConfigError.

    Example:
        >>> with Analyzer() as analyzer:
        ...     result = analyzer.analyze("photo.jpg")
        ...     print(result.faces.labels, result.faces.aus.shape)
    """

    def __init__(self, config: AnalyzerConfig | str | Path | dict[str, Any] | None = None, **overrides: Any) -> None:
        config = AnalyzerConfig.of(config)
        if overrides:
            config = config.with_overrides(overrides)
        self.config: AnalyzerConfig = config
        self._stages: list[tuple[str, Stage]] = []
        self._closed = False
        infos: list[StageInfo] = []
        try:
            for slot in SLOTS:
                stage_cfg: StageConfig | None = getattr(config, slot.config_field)
                if stage_cfg is not None:
                    stage = slot.registry.create(stage_cfg.name, **stage_cfg.options)
                    self._stages.append((slot.name, stage))
                    infos.append(StageInfo(slot.name, stage_cfg.name, dict(stage_cfg.options), frozenset(stage.needs),
                                           frozenset(stage.provides)))
            check_chain(self._stages)
        except BaseException:
            self.close()
            raise
        self._info = _describe(infos, [stage for _, stage in self._stages])

    # -- what it is --------------------------------------------------------------------------------
    def describe(self) -> PipelineInfo:
        """What this analyzer produces, before any input: stages (backend, options, contract), the
        `Faces` fields filled, AU codes, expression labels and the AU estimator's grades."""
        return self._info

    @property
    def provides(self) -> frozenset[str]:
        """The `Faces` fields the stages fill ("boxes", "landmarks", "aus", "expression", …)."""
        return self._info.provides

    def with_threads(self, threads: int) -> Analyzer:
        """A new Analyzer with this one's config and `threads` CPU threads on every stage that
        declares a CPU-threads option the config does not set (see `with_threads`)."""
        return Analyzer(with_threads(self.config, threads))

    # -- single frame ----------------------------------------------------------------------------
    def analyze(
        self,
        image: ImageInput | Frame,
        *,
        source: str | None = None,
        index: int = 0,
        timestamp: float | None = None,
        channels: str = "rgb",
    ) -> FrameResult:
        """Analyse one image.

        Args:
            image: a path, encoded bytes, a PIL image, a numpy array or a Frame.
            source: name recorded in the result (default: the path, or "<ndarray>" etc.).
            index, timestamp: frame position when the image comes from a video.
            channels: "rgb" or "bgr" for 3/4-channel numpy arrays.
        Raises:
            ImageReadError (and subclasses) for inputs that cannot be decoded.
        """
        self._check_open()
        t0 = time.perf_counter()
        if isinstance(image, Frame):
            frame = image
        else:
            name = source or (str(image) if isinstance(image, (str, Path))
                              else file_object_name(image) or f"<{type(image).__name__}>")
            frame = self.decode(image, source=name, index=index, timestamp=timestamp, channels=channels)
        result = self._analyze_frame(frame, decode_ms=(time.perf_counter() - t0) * 1e3)
        return result if source is None else replace(result, source=source)

    def decode(
        self, image: ImageInput, *, source: str, index: int = 0, timestamp: float | None = None, channels: str = "rgb"
    ) -> Frame:
        """Decode an input into a Frame with this analyzer's size limits. Errors about encoded bytes
        name them `source` (a path names itself)."""
        rgb = load_image(
            image,
            channels=channels,  # type: ignore[arg-type]
            min_side=self.config.min_image_side,
            max_pixels=self.config.max_image_pixels,
            name=source if isinstance(image, (bytes, bytearray, memoryview)) else None,
        )
        return Frame(rgb, source=source, index=index, timestamp=timestamp)

    def _analyze_frame(self, frame: Frame, decode_ms: float = 0.0) -> FrameResult:
        t0 = time.perf_counter()
        timings = {"decode": decode_ms}
        faces, notes, _ = self._run_stages(frame.image, timings)
        timings["total"] = decode_ms + (time.perf_counter() - t0) * 1e3
        return FrameResult(
            source=frame.source,
            width=frame.width,
            height=frame.height,
            faces=faces,
            index=frame.index,
            timestamp=frame.timestamp,
            timings_ms=timings,
            notes=tuple(notes),
        )

    def _run_stages(
        self,
        image: np.ndarray,
        timings: dict[str, float],
        given: Faces | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> tuple[Faces, list[str], np.ndarray]:
        """Run the stages; with `given` faces, only the non-sources. Also returns, for each face
        kept, its row in the source's output (or in `given`). No face: `describe().empty_faces()`,
        so that a frame without faces has the fields (and table columns) of one with faces."""
        faces = Faces.empty() if given is None else given
        kept = np.arange(len(faces))
        notes: list[str] = []
        with frame_crops(image):  # one aligned crop per face for every stage that reads one
            faces, kept, whole = self._stage_loop(image, faces, kept, notes, timings, given is not None, skip)
            if not len(faces) and given is None and self._small_crop(image):
                # a tight face crop: the detector's boxes (cut faces) were not confirmed; read whole, then
                # tighter, the mesh may find its face (issue 25), and the verifier still checks it. "auto"
                # has read it whole already where the detector found nothing.
                shares = CROP_RETRY_SHARES if self.config.tight_crop_boxes else CROP_RETRY_SHARES[:1]
                for share in shares[1:] if whole else shares:
                    retry, kept, _ = self._stage_loop(image, faces, kept, [], timings, False, skip, crop_share=share)
                    if len(retry):
                        faces = retry
                        notes.append("read as one face crop (the whole image), the detections in it unconfirmed"
                                     if share == 1.0 else f"read as one face crop (its central {share:.0%}), "
                                     "nothing else in it confirmed")
                        break
        if not len(faces):
            notes.append("no face found")
            faces = self._info.empty_faces()
        return faces, notes, kept

    def _small_crop(self, image: np.ndarray) -> bool:
        """Whether "auto" may read `image` as one face crop: small enough to be one."""
        return self.config.whole_image_face == "auto" and max(image.shape[:2]) <= WHOLE_IMAGE_MAX_SIDE

    def _stage_loop(self, image: np.ndarray, faces: Faces, kept: np.ndarray, notes: list[str],
                    timings: dict[str, float], refining: bool, skip: frozenset[str],
                    crop_share: float | None = None) -> tuple[Faces, np.ndarray, bool]:
        """The stages in order, with the policies after each; also whether the face is the whole image
        (a face crop, not a detection). `crop_share`: read the image as one face crop from the start,
        its central share as the box, with score 0 (a retry: the landmarker keeps it only if it is sure)."""
        whole = crop_share is not None
        for slot, stage in self._stages:
            if (refining and not stage.needs) or stage.provides & skip:
                continue
            t = time.perf_counter()
            if not stage.needs and crop_share is not None:
                faces = whole_image_face(image, score=0.0, share=crop_share)
            elif not stage.needs and self.config.whole_image_face == "always":
                faces, whole = whole_image_face(image, score=1.0), True  # the user says so: the detector is not asked
            elif len(faces) or not stage.needs:  # sources (detectors) run on every frame
                faces = stage.process(image, faces, notes)
                if not stage.needs and self.config.whole_image_face == "auto":
                    found = len(faces)
                    faces = _face_crop(image, faces)
                    whole = not found and len(faces) > 0
            if not stage.needs:
                kept = np.arange(len(faces))
            timings[slot] = timings.get(slot, 0.0) + (time.perf_counter() - t) * 1e3  # a retry adds to it
            if "boxes" in stage.provides and self.config.max_faces is not None and len(faces) > self.config.max_faces:
                # said, as docs/service.md promises: a client must be able to tell that faces were dropped
                notes.append(f"{len(faces)} detections before the landmark check; the {self.config.max_faces} largest kept "
                             "(max_faces)")  # a tryout read "5 face detections" on a 4-face photo as 5 faces
                keep = faces.largest_rows(self.config.max_faces)
                faces, kept = faces[keep], kept[keep]
            if "landmarks" in stage.provides and faces.landmarks is not None:
                keep = self._confirmed(slot, faces, whole, notes)
                faces, kept = faces[keep], kept[keep]
        return faces, kept, whole

    def _confirmed(self, slot: str, faces: Faces, whole: bool, notes: list[str]) -> np.ndarray:
        """(N,) the faces kept after a stage that confirms faces (it provides landmarks; a face it
        finds none in has NaN ones): unconfirmed faces go unless `keep_unverified`, and a face lying
        inside a larger confirmed one (an eye a fine pyramid level took for a face) always goes."""
        keep = np.ones(len(faces), bool)
        verified = faces.has_landmarks
        if (whole or not self.config.keep_unverified) and not verified.all():
            if not whole:  # a whole image the mesh finds no face in is no dropped detection, just no face
                notes.append(f"{int((~verified).sum())} detection(s) dropped: {_NO_FACE[slot]}")
            keep = verified
        nested = keep & inside_larger(faces.boxes, verified, NESTED_SHARE)
        if nested.any():
            notes.append(f"{int(nested.sum())} detection(s) dropped: inside a larger face")
        return keep & ~nested

    def detect(self, frame: Frame, notes: list[str] | None = None) -> Faces:
        """Run the sources (the detector) alone: the faces they find, before any other stage or
        policy. A video tracker calls it only on the frames where it looks for new faces."""
        self._check_open()
        faces = Faces.empty()
        for _, stage in self._stages:
            if not stage.needs:
                faces = stage.process(frame.image, faces, notes if notes is not None else [])
        return faces

    def refine(self, frame: Frame, faces: Faces, *, skip: Iterable[str] = ()) -> tuple[FrameResult, np.ndarray]:
        """Run every stage except the sources (detectors) on faces the caller already has.

        A video tracker uses it to follow faces without the detector: faces that carry landmarks
        from the previous frame let the landmarker crop from that mesh. The same generic policies
        as `analyze` apply (unconfirmed faces dropped unless `keep_unverified`, notes).

        Args:
            frame: the image the faces are in.
            faces: boxes, scores and keypoints (and optionally landmarks from an earlier frame).
            skip: `Faces` field names; stages that provide any of them are not run (a video
                explains segments of a track, not every frame: `skip={"explanations"}`).
        Returns:
            the FrameResult, and for each of its faces the row of `faces` it came from.
        """
        self._check_open()
        t0 = time.perf_counter()
        timings: dict[str, float] = {"decode": 0.0}
        out, notes, kept = self._run_stages(frame.image, timings, given=faces, skip=frozenset(skip))
        timings["total"] = (time.perf_counter() - t0) * 1e3
        result = FrameResult(
            source=frame.source, width=frame.width, height=frame.height, faces=out, index=frame.index,
            timestamp=frame.timestamp, timings_ms=timings, notes=tuple(notes),
        )
        return result, kept

    def example(self) -> FrameResult:
        """This analyzer's result on the bundled example photo (one face): a warm-up (models loaded,
        interpreters allocated) and a sample of what it produces (`describe()` says it without
        analysing anything)."""
        return self.analyze(demo_image())

    @property
    def closed(self) -> bool:
        """True after `close()`: every further call raises ClosedError."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this Analyzer was closed (close() or the end of its `with` block); create a new one")

    # -- many frames -----------------------------------------------------------------------------
    def analyze_many(self, inputs: Iterable[ImageInput | Frame]) -> Iterator[FrameResult | Failure]:
        """Analyse inputs one after another, yielding a FrameResult or a Failure for each.

        A bad input never stops the batch: its Failure says which input and why. Errors that are
        not about the input (a broken model file, a bug) still raise. A single input (one path,
        bytes, an array) is a batch of one, not an iterable of characters or rows.
        """
        for _, item in self.iter_frames(inputs):
            yield item

    def iter_frames(self, inputs: Iterable[ImageInput | Frame]) -> Iterator[tuple[Frame | None, FrameResult | Failure]]:
        """Like `analyze_many`, also yielding the decoded Frame (None for a failed input), so that a
        caller that draws on the image does not decode it twice."""
        self._check_open()
        for i, item in enumerate(one_or_many(inputs)):
            self._check_open()
            t0 = time.perf_counter()
            name = _source_name(item, i)
            try:
                frame = item if isinstance(item, Frame) else self.decode(item, source=name)
            except _SETUP_ERRORS:
                raise
            except Exception as e:  # anything wrong with this one input: report it and go on
                yield None, _failure(name, e)
                continue
            try:
                result = self._analyze_frame(frame, decode_ms=(time.perf_counter() - t0) * 1e3)
            except _SETUP_ERRORS:
                raise
            except Exception as e:
                yield frame, _failure(name, e)
                continue
            yield frame, result

    # -- resources -------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the models. Calls made afterwards raise ClosedError; closing twice is harmless."""
        self._closed = True
        for _, stage in self._stages:
            stage.close()
        self._stages = []

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(infos: list[StageInfo], stages: list[Stage]) -> PipelineInfo:
    """What the stages produce: the column names and AU grades of the last stage filling each field."""
    au_codes, labels, profile = None, None, None
    for stage in stages:
        if "aus" in stage.provides:
            au_codes, profile = tuple(stage.au_codes), stage.profile
        if "expression" in stage.provides:
            labels = tuple(stage.labels)
    return PipelineInfo(tuple(infos), au_codes, labels, profile)


def with_threads(config: AnalyzerConfig, threads: int) -> AnalyzerConfig:
    """A copy of `config` in which every stage that declares a CPU-threads option
    (`StageBase.threads_option`: the LiteRT detector and landmarker, the one-pass detector) and was
    not given one gets `threads`. LiteRT stages default to 2 threads: right for one process on 2
    cores, but N worker processes × 2 threads oversubscribe the cores. Results are bitwise the same
    for any thread count (checked on 30 real photos)."""
    changes: dict[str, Any] = {}
    for slot in SLOTS:
        stage: StageConfig | None = getattr(config, slot.config_field)
        option = None if stage is None else slot.registry.get(stage.name).threads_option
        if stage is not None and option is not None and option not in stage.options:
            changes[slot.config_field] = StageConfig(stage.name, {**stage.options, option: int(threads)})
    return replace(config, **changes)


__all__ = ["Analyzer", "Failure", "check_chain", "with_threads"]
