"""ferx over HTTP: a FastAPI app (`create_app`), `ferx serve` (`ferx.serve.cli`) and the web page
(`static/`). Needs `pip install 'ferx[serve]'`. See docs/service.md."""

from __future__ import annotations

from typing import Any

from ferx.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # create_app imports FastAPI; importing ferx.serve alone (for its settings) does not.
    if name == "create_app":
        from ferx.serve.app import create_app

        return create_app
    raise AttributeError(name)
