"""The Analyzer: composes the configured stages and turns images into FrameResults."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import ferx.backends  # noqa: F401  (registers the built-in backends)
from ferx.config import AnalyzerConfig
from ferx.errors import ImageReadError
from ferx.io import ImageInput, load_image
from ferx.stages import AU_ESTIMATORS, DETECTORS, EXPLAINERS, EXPRESSION_CLASSIFIERS, LANDMARKERS, Stage
from ferx.types import Faces, Frame, FrameResult


@dataclass(frozen=True)
class Failure:
    """An input a batch could not analyse; the batch goes on without it."""

    source: str
    error: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "error": self.error, "message": self.message}


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

    def __init__(self, config: AnalyzerConfig | str | Path | None = None, **overrides: Any) -> None:
        if config is None:
            config = AnalyzerConfig()
        elif isinstance(config, (str, Path)):
            config = AnalyzerConfig.from_yaml(config)
        if overrides:
            config = config.with_overrides(overrides)
        self.config: AnalyzerConfig = config
        self.stages: list[tuple[str, Stage]] = []
        try:
            for stage_name, registry, stage_cfg in (
                ("detect", DETECTORS, config.detector),
                ("landmarks", LANDMARKERS, config.landmarker),
                ("aus", AU_ESTIMATORS, config.aus),
                ("expression", EXPRESSION_CLASSIFIERS, config.expression),
                ("explain", EXPLAINERS, config.explain),
            ):
                if stage_cfg is not None:
                    self.stages.append((stage_name, registry.create(stage_cfg.name, **stage_cfg.options)))
        except BaseException:
            self.close()
            raise

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
        t0 = time.perf_counter()
        if isinstance(image, Frame):
            frame = image
        else:
            name = source or (str(image) if isinstance(image, (str, Path)) else f"<{type(image).__name__}>")
            frame = self.decode(image, source=name, index=index, timestamp=timestamp, channels=channels)
        result = self._analyze_frame(frame, decode_ms=(time.perf_counter() - t0) * 1e3)
        return result if source is None else replace(result, source=source)

    def decode(
        self, image: ImageInput, *, source: str, index: int = 0, timestamp: float | None = None, channels: str = "rgb"
    ) -> Frame:
        """Decode an input into a Frame with this analyzer's size limits."""
        rgb = load_image(
            image,
            channels=channels,  # type: ignore[arg-type]
            min_side=self.config.min_image_side,
            max_pixels=self.config.max_image_pixels,
        )
        return Frame(rgb, source=source, index=index, timestamp=timestamp)

    def _analyze_frame(self, frame: Frame, decode_ms: float = 0.0) -> FrameResult:
        t0 = time.perf_counter()
        timings = {"decode": decode_ms}
        faces, notes = self._run_stages(frame.image, timings)
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

    def _run_stages(self, image: np.ndarray, timings: dict[str, float]) -> tuple[Faces, list[str]]:
        faces = Faces.empty()
        notes: list[str] = []
        for name, stage in self.stages:
            t = time.perf_counter()
            if len(faces) or name == "detect":
                faces = stage.process(image, faces)
            timings[name] = (time.perf_counter() - t) * 1e3
            if name == "detect" and self.config.max_faces is not None and len(faces) > self.config.max_faces:
                area = (faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1])
                faces = faces[np.sort(np.argsort(-area)[: self.config.max_faces])]
            if faces.landmarks is not None and not self.config.keep_unverified:
                verified = faces.has_landmarks
                if not verified.all():
                    dropped = int((~verified).sum())
                    notes.append(f"{dropped} detection(s) dropped: the landmark model found no face in them")
                    faces = faces[verified]
        if getattr(self._stage("detect"), "last_capped", False):
            notes.append("image is very large: the finest detection level was capped, tiny faces may be missed")
        if not len(faces):
            notes.append("no face found")
        return faces, notes

    def _stage(self, name: str) -> Stage | None:
        return next((s for n, s in self.stages if n == name), None)

    # -- many frames -----------------------------------------------------------------------------
    def analyze_many(self, inputs: Iterable[ImageInput | Frame]) -> Iterator[FrameResult | Failure]:
        """Analyse inputs one after another, yielding a FrameResult or a Failure for each.

        A bad input never stops the batch: its Failure says which input and why. Errors that are
        not about the input (a broken model file, a bug) still raise.
        """
        for _, item in self.iter_frames(inputs):
            yield item

    def iter_frames(self, inputs: Iterable[ImageInput | Frame]) -> Iterator[tuple[Frame | None, FrameResult | Failure]]:
        """Like `analyze_many`, also yielding the decoded Frame (None for a failed input), so that a
        caller that draws on the image does not decode it twice."""
        for i, item in enumerate(inputs):
            t0 = time.perf_counter()
            if isinstance(item, Frame):
                frame = item
            else:
                name = str(item) if isinstance(item, (str, Path)) else f"<input {i}>"
                try:
                    frame = self.decode(item, source=name)
                except ImageReadError as e:
                    yield None, Failure(name, type(e).__name__, str(e))
                    continue
            yield frame, self._analyze_frame(frame, decode_ms=(time.perf_counter() - t0) * 1e3)

    # -- resources -------------------------------------------------------------------------------
    def close(self) -> None:
        for _, stage in self.stages:
            stage.close()
        self.stages = []

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Analyzer", "Failure"]
