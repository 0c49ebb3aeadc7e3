"""Draw results onto images: boxes, label and probability, the strongest AUs, optional landmarks."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ferx.numeric import percent
from ferx.facs import intensity_band
from ferx.types import FrameResult

#: One colour per expression label (colour-blind-friendly Okabe–Ito palette, plus grey).
LABEL_COLOURS: dict[str | None, tuple[int, int, int]] = {
    "neutral": (200, 200, 200),
    "happiness": (240, 228, 66),
    "surprise": (86, 180, 233),
    "sadness": (0, 114, 178),
    "anger": (213, 94, 0),
    "disgust": (0, 158, 115),
    "fear": (204, 121, 167),
    "contempt": (230, 159, 0),
    None: (255, 255, 255),
}


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def annotate(
    image: np.ndarray | Image.Image,
    result: FrameResult,
    *,
    landmarks: bool = False,
    top_aus: int = 3,
    numbered: bool = True,
) -> Image.Image:
    """Return a copy of `image` with every face of `result` drawn on it.

    Args:
        image: the analysed image, (H, W, 3) uint8 RGB or PIL.
        result: the analysis of that image.
        landmarks: also draw the 478 mesh points.
        top_aus: how many of the strongest active AUs to list under each box.
        numbered: start each face's label with its number ("#0 happiness 97%"), the `face` of the
            JSON, the table and the report, so that a box can be matched to its row (a video's frames
            carry track IDs instead).
    """
    canvas = (Image.fromarray(image) if isinstance(image, np.ndarray) else image).convert("RGB").copy()
    if canvas.size != (result.width, result.height):
        raise ValueError(f"image is {canvas.size[0]}x{canvas.size[1]}, result is for {result.width}x{result.height}")
    draw = ImageDraw.Draw(canvas)
    faces = result.faces
    line = max(2, round(min(canvas.size) / 300))
    for i in range(len(faces)):
        x1, y1, x2, y2 = faces.boxes[i].tolist()
        # the label the explanation concludes, as the report and the JSON's explanation say it (the
        # classifier's top class where there is none): a tryout found "sadness 46%" on the picture
        # inside a report section concluding "neutral 41 % (uncertain)"
        label, probability, uncertain = faces.final_label(i)
        colour = LABEL_COLOURS.get(label, LABEL_COLOURS[None])
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        if landmarks and faces.landmarks is not None and faces.has_landmarks[i]:
            r = max(1.0, (x2 - x1) / 150)
            for x, y, _ in faces.landmarks[i]:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=(0, 255, 0))
        font = _font(max(10, min(28, round((x2 - x1) / 7))))
        title = "face" if label is None else f"{label} {percent(probability)}%" + (" (uncertain)" if uncertain else "")
        title = f"#{i} {title}" if numbered else title
        _label(draw, (x1, y1), title, colour, font, above=True)
        if faces.aus is not None and top_aus > 0:
            # AUs graded unreliable are not shown: the picture must not claim what the text won't
            shown = np.array([faces.grading.is_measured(code) for code in faces.au_codes])
            values = np.where(shown, np.nan_to_num(faces.aus[i], nan=-1), -1)
            order = [j for j in np.argsort(-values)[:top_aus] if shown[j]]
            parts = []
            for j in order:
                band = intensity_band(float(faces.aus[i, j]))
                if band is not None:
                    # "?": graded weak or not validated against FACS codes, as the report marks its bars
                    doubt = "?" if faces.grading.grade(faces.au_codes[j]) in ("weak", "ungraded") else ""
                    parts.append(f"{faces.au_codes[j]}{band}{doubt}")
            if parts:
                _label(draw, (x1, y2), " ".join(parts), colour, font, above=False)
    return canvas


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour: tuple[int, int, int],
           font: ImageFont.ImageFont | ImageFont.FreeTypeFont, *, above: bool) -> None:
    """A filled label at `xy`, above or below that point, kept inside the image: a face touching an
    edge (most close-ups reach the bottom) gets its label inside its box rather than off the picture."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 6, bottom - top + 4
    width, height = draw.im.size
    x, y = xy
    y = y - h if above and y - h >= 0 else y
    x, y = max(0.0, min(x, width - w)), max(0.0, min(y, height - h))
    draw.rectangle((x, y, x + w, y + h), fill=colour)
    draw.text((x + 3 - left, y + 2 - top), text, fill=(0, 0, 0), font=font)
