"""Explanation templates, one data module per language (`en.py` → language code "en").

A language module defines `TEMPLATES`, a dict with the keys of `en.TEMPLATES`: section headings,
sentence templates (lists of interchangeable variants, `str.format` fields), the words for
emotions and intensity bands, and the instruction-data prompts. Adding a language means adding one
such module; `load_templates` checks that it has every key English has.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any


@functools.cache
def _languages() -> tuple[str, ...]:
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


def languages() -> list[str]:
    """Codes of the languages that have a template module."""
    return list(_languages())


@functools.cache
def load_templates(language: str = "en") -> dict[str, Any]:
    """The template data of `language` (cached; treat it as read-only).

    Raises:
        ValueError: no module for that language, or it lacks keys that English has.
    """
    if language not in languages():
        raise ValueError(f"no explanation templates for language {language!r}; available: {', '.join(languages())}")
    data: dict[str, Any] = importlib.import_module(f"{__name__}.{language}").TEMPLATES
    if language != "en":
        missing = sorted(set(load_templates("en")) - set(data))
        if missing:
            raise ValueError(f"templates for {language!r} lack key(s): {', '.join(missing)}")
    return data
