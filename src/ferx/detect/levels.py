"""What the whole-image detectors share: the finest level's pixel cap, its note, and the last step
of their boxes."""

from __future__ import annotations

import numpy as np

#: The start of the note a frame gets when the cap limits the finest level (`ferx.stages`: notes).
CAPPED_NOTE = "image is very large: the finest detection level was capped"


def capped_note(smallest: float) -> str:
    """The note of a capped photo, with the smallest face side it was searched for (a tryout found
    "tiny faces may be missed" gave no size and no way out)."""
    return (f"{CAPPED_NOTE}: faces smaller than about {smallest:.0f} px were not looked for (detector options "
            "max_level_pixels and large_photo_pixels lift the cap, at its cost; docs/architecture.md)")


def level_cap(width: int, height: int, max_level_pixels: int, large_photo_pixels: int, large_level_pixels: int) -> float:
    """The finest level's pixel cap for a photo of this size: `max_level_pixels` up to
    `large_photo_pixels` (0: always), beyond it falling as 1 / the photo's pixels down to
    `large_level_pixels`, so that the smallest face sought on a very large photo is a fixed share
    of its side."""
    pixels = width * height
    if large_photo_pixels <= 0 or pixels <= large_photo_pixels:
        return float(max_level_pixels)
    return max(float(large_level_pixels), max_level_pixels * large_photo_pixels / pixels)


def inside_image(boxes: np.ndarray, width: int, height: int, min_side: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(M, 4) boxes clipped to the image (in place) and (M,) True for those still at least `min_side`
    px on both sides."""
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    return boxes, (boxes[:, 2] - boxes[:, 0] >= min_side) & (boxes[:, 3] - boxes[:, 1] >= min_side)
