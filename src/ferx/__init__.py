"""ferx — explainable facial expression recognition.

The public API is flat: `from ferx import Analyzer, Faces, load_image`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ferx.config import AnalyzerConfig, StageConfig
from ferx.errors import (
    ConfigError,
    FerxError,
    ImageReadError,
    ImageSizeError,
    ImageTooLarge,
    ImageTooSmall,
    ModelFileError,
    NoImagesError,
    UnsupportedFormatError,
)
from ferx.facs import AU_CODES, AU_TABLE, EXPRESSIONS
from ferx.io import find_images, load_image
from ferx.pipeline import Analyzer, Failure
from ferx.types import Explanation, Faces, Frame, FrameResult

__all__ = [
    "AU_CODES",
    "AU_TABLE",
    "EXPRESSIONS",
    "Analyzer",
    "AnalyzerConfig",
    "ConfigError",
    "Explanation",
    "Faces",
    "Failure",
    "FerxError",
    "Frame",
    "FrameResult",
    "ImageReadError",
    "ImageSizeError",
    "ImageTooLarge",
    "ImageTooSmall",
    "ModelFileError",
    "NoImagesError",
    "StageConfig",
    "UnsupportedFormatError",
    "__version__",
    "find_images",
    "load_image",
]
