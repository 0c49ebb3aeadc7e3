"""The JSON the service returns, as pydantic models generated from ferx's own types.

The service sends `FrameResult.to_dict()` itself — byte for byte what the library writes — and these
models only describe it for OpenAPI (and let tests check responses against it). They are built from
the same definitions the result types use: the keypoint and head-pose names from `ferx.types`, the
band letters from `ferx.facs`, and the chain of thought from the `Explanation` dataclass itself (pydantic
reads its fields and docstring), so a change there changes the schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ferx.facs import BANDS
from ferx.types import HEAD_POSE_NAMES, KEYPOINT_NAMES, Explanation

Num = float | None  # JSON null stands for NaN (a value that could not be measured)

Keypoints = create_model(  # type: ignore[call-overload]
    "Keypoints",
    __doc__="The 5 keypoints, image pixels [x, y] (image-left/right as seen in the picture).",
    **{name: (list[Num], Field(min_length=2, max_length=2)) for name in KEYPOINT_NAMES},
)
HeadPose = create_model(  # type: ignore[call-overload]
    "HeadPose", __doc__="Head pose in degrees.", **{name: (Num, ...) for name in HEAD_POSE_NAMES}
)


class ExpressionOut(BaseModel):
    """The expression classifier's output for one face."""

    label: str | None = Field(description="top label; null when no expression was scored")
    probabilities: dict[str, Num] = Field(description="probability per label (keys: expression_labels)")


class AUValue(BaseModel):
    """One AU estimate on the FACS 0–5 scale."""

    intensity: Num
    band: Literal[BANDS] | None = Field(description="FACS band A–E, null below band A (absent)")  # type: ignore[valid-type]


class FaceOut(BaseModel):
    """One face, as `Faces.to_records` writes it."""

    model_config = ConfigDict(extra="forbid")

    box: list[Num] = Field(min_length=4, max_length=4, description="x1, y1, x2, y2 in image pixels")
    score: Num = Field(description="detection confidence 0–1")
    keypoints: Keypoints  # type: ignore[valid-type]
    expression: ExpressionOut | None = None
    aus: dict[str, AUValue] | None = Field(None, description="AU code → estimate (keys: au_codes)")
    head_pose: HeadPose | None = None  # type: ignore[valid-type]
    blendshapes: dict[str, Num] | None = Field(None, description="MediaPipe's 52 blendshape scores 0–1")
    landmarks: list[list[Num]] | None = Field(None, description="478 × [x, y, z] (only with landmarks=true)")
    expression_map: list[list[Num]] | None = Field(
        None, description="the classifier's activation map of its label, in the aligned-crop frame (maps=true)")
    explanation: Explanation | None = Field(None, description="the chain of thought (null: not explained)")


class FaceView(BaseModel):
    """Pictures of one face for people (views=true): PNG data URLs in the classifier's crop frame."""

    face: int
    label: str | None
    crop: str
    activation: str | None = Field(description="the classifier's activation map over the crop")
    au_regions: str | None = Field(description="the AU regions of the label over the crop")


class AUProfileOut(BaseModel):
    """How the AU estimator grades its AUs (`facs.AUProfile`): measured validity per AU, and the
    AU-evidence scoring of the explanations."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the AU estimator it describes")
    validity: dict[str, float] = Field(description="AU code → measured AUC (AUs not listed are ungraded)")
    neutral_evidence: float
    temperature: float
    caps: dict[str, str] = Field(default_factory=dict, description="AU code → best grade allowed (e.g. two "
                                 "heads that read the same thing: neither one's absence may be stated)")
    grades: dict[str, str] = Field(default_factory=dict, description="AU code → reliability grade of its estimate "
                                   "(good, fair, weak, unreliable, ungraded), derived from validity and caps")
    absence_checks: dict[str, list[int]] = Field(
        default_factory=dict, description="AU code → [missed, clear]: of the photos coded by eye with the AU clearly "
        "present, how many it read as confidently absent (too many: its absence is never stated)")


class AnalyzeResponse(BaseModel):
    """One image's analysis: `FrameResult.to_dict()`, plus `views` when asked for."""

    model_config = ConfigDict(extra="forbid")

    ferx_version: str
    source: str
    index: int
    timestamp: float | None
    width: int
    height: int
    timings_ms: dict[str, float]
    notes: list[str]
    expression_labels: list[str]
    au_codes: list[str]
    au_profile: AUProfileOut | None = Field(None, description="grades of the AU estimator (null: no AUs)")
    fields: list[str] = Field([], description="the per-face fields the faces carry (also when there is no face)")
    faces: list[FaceOut]
    views: list[FaceView] | None = None


class AnalyzeOptions(BaseModel):
    """What to include in the answer (query parameters, or a JSON `options` field of a multipart
    upload; the JSON wins)."""

    model_config = ConfigDict(extra="forbid")

    landmarks: bool = Field(False, description="include the 478 mesh landmarks per face")
    maps: bool = Field(True, description="include the classifier's activation map per face")
    views: bool = Field(False, description="include face crops with both heatmaps as PNG data URLs")


class ErrorResponse(BaseModel):
    """Every error answer (4xx and 5xx) has this body."""

    error: str = Field(description="machine-readable code, e.g. unreadable_image, payload_too_large")
    message: str = Field(description="what was wrong, for a person")
    request_id: str


class AUInfoOut(BaseModel):
    code: str
    name: str
    region: str
    reliability: str | None = Field(description="grade of the estimate (good, fair, weak, unreliable, ungraded)")
    measured: bool = Field(description="false: the estimator cannot tell whether this AU is there")


class StageOut(BaseModel):
    slot: str
    backend: str
    options: dict[str, Any]
    provides: list[str]


class ModelsResponse(BaseModel):
    ferx_version: str
    stages: list[StageOut]
    expression_labels: list[str]
    aus: list[AUInfoOut]
    limits: dict[str, int]
    auth: bool = Field(description="the /v1 endpoints need an API key")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    ferx_version: str


__all__ = ["AnalyzeOptions", "AnalyzeResponse", "ErrorResponse", "FaceOut", "FaceView", "HealthResponse",
           "ModelsResponse"]
