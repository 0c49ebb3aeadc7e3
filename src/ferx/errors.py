"""Exceptions raised by ferx. Every error a user can cause has its own class and a specific message."""

from __future__ import annotations


class FerxError(Exception):
    """Base class of all ferx errors."""


class ImageReadError(FerxError):
    """The input could not be decoded as an image (corrupt, truncated, empty, or not an image)."""


class UnsupportedFormatError(ImageReadError):
    """The input is a file format ferx does not read (e.g. a PDF or a video given as an image)."""


class ImageSizeError(ImageReadError):
    """The image is too small to hold a face or too large to process safely."""


class ImageTooSmall(ImageSizeError):
    """A side of the image is below the smallest size that can hold a face (or that a stage takes)."""


class ImageTooLarge(ImageSizeError):
    """The image has more pixels than the configured limit (checked from the header, before decoding)."""


class InputRangeWarning(UserWarning):
    """An image's value scale was inferred or its values were clipped (see `ferx.load_image`)."""


class ConfigError(FerxError, ValueError):
    """A configuration key or value is wrong (unknown key, unknown backend, bad type)."""


class ModelFileError(FerxError):
    """A model file is missing or does not match its expected checksum."""


class NoImagesError(FerxError):
    """A path given to a batch command holds no image files."""


class ClosedError(FerxError, RuntimeError):
    """An Analyzer or stage was used after `close()` (or after its `with` block)."""
