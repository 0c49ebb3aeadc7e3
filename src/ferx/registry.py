"""Name registries for pipeline stages.

A backend registers its class under a name; configs refer to that name. Creating a backend with an
option its constructor does not take raises `ConfigError` naming the valid options, so a typo in a
YAML file never silently falls back to a default.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ferx.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to backend classes of one stage (e.g. all detectors)."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def deco(cls: type[T]) -> type[T]:
            if name in self._entries:
                raise ValueError(f"{self.stage} backend {name!r} is already registered")
            self._entries[name] = cls
            return cls

        return deco

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> type[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.stage} backend {name!r}; available: {', '.join(self.names()) or 'none'}"
            ) from None

    def options(self, name: str) -> list[str]:
        """The keyword options the named backend accepts."""
        sig = inspect.signature(self.get(name).__init__)
        return [p for p in sig.parameters if p != "self"]

    def create(self, name: str, **options: Any) -> T:
        cls = self.get(name)
        valid = self.options(name)
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ConfigError(
                f"{self.stage} backend {name!r} has no option(s) {', '.join(map(repr, unknown))}; "
                f"valid options: {', '.join(valid) or 'none'}"
            )
        try:
            return cls(**options)
        except ConfigError:
            raise
        except (ValueError, TypeError) as e:  # a bad option value is a configuration error
            raise ConfigError(f"{self.stage} backend {name!r}: {e}") from None
