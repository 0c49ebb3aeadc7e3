"""Name registries for pipeline stages and model architectures.

A backend (or a model architecture) registers its class under a name; configs refer to that name.
Creating one with an option its constructor does not take raises `ConfigError` naming the valid
options, so a typo in a YAML file never silently falls back to a default. `check_options` is that
check, shared with the dataset readers.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from ferx.errors import ConfigError

T = TypeVar("T")


def check_options(what: str, given: Iterable[str], valid: Sequence[str], error: type[Exception] = ConfigError,
                  *, noun: str = "option") -> None:
    """Raise `error` naming every option in `given` that is not in `valid`, and the valid ones.

    The one unknown-option check of ferx: backend and model registries, dataset readers and config
    files (`noun="config key"`) all use it, so a misspelt name never falls back to a default.

    Args:
        what: the thing that takes the options, as the message should name it ("detector backend
            'blazeface'", "ferplus reader", "config section 'detector'").
    """
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise error(f"{what}: unknown {noun}(s) {', '.join(map(repr, unknown))}; "
                    f"valid {noun}s: {', '.join(valid) or 'none'}")


class Registry(Generic[T]):
    """Maps names to backend classes of one stage (e.g. all detectors), or to model architectures.

    One class may be registered under several names with different preset options (named model
    sizes: `register("onepass-nano-vss", width=0.25)`); options given to `create` win over presets.
    """

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._entries: dict[str, type[T]] = {}
        self._presets: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **preset: Any) -> Callable[[type[T]], type[T]]:
        def deco(cls: type[T]) -> type[T]:
            if name in self._entries:
                raise ValueError(f"{self.stage} backend {name!r} is already registered")
            check_options(f"{self.stage} {name!r} preset", preset, _init_options(cls), error=ValueError)
            self._entries[name] = cls
            self._presets[name] = dict(preset)
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
        return _init_options(self.get(name))

    def create(self, name: str, **options: Any) -> T:
        cls = self.get(name)
        check_options(f"{self.stage} backend {name!r}", options, self.options(name))
        check_option_types(f"{self.stage} backend {name!r}", options, cls)
        try:
            return cls(**{**self._presets[name], **options})
        except ConfigError:
            raise
        except (ValueError, TypeError) as e:  # a bad option value is a configuration error
            raise ConfigError(f"{self.stage} backend {name!r}: {e}") from None


_SCALARS: dict[type, str] = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _scalar_types(annotation: Any) -> tuple[tuple[type, ...], bool] | None:
    """(the scalar types an annotation allows, whether None is allowed); None for anything else
    (sequences, mappings, unions with other types), which the backend checks itself."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    scalars = tuple(a for a in args if a in _SCALARS)
    if len(scalars) + (type(None) in args) != len(args) or not scalars:
        return None
    return scalars, type(None) in args


def check_option_types(where: str, options: dict[str, Any], cls: type) -> None:
    """Refuse an option value whose type its backend's annotation rules out (a YAML `min_face: forty`
    or `flip_average: yes_please`), naming the key, before the backend compares or casts it."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # annotations naming types only imported for type checking: the backend checks
        return
    for key, value in options.items():
        allowed = _scalar_types(hints.get(key))
        if allowed is None or (value is None and allowed[1]):
            continue
        ok = any(isinstance(value, t) and not (t is not bool and isinstance(value, bool)) for t in allowed[0]) \
            or (float in allowed[0] and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            expected = " or ".join(_SCALARS[t] for t in allowed[0]) + (" or null" if allowed[1] else "")
            raise ConfigError(f"{where}: option {key!r} expects {expected}, got {value!r}")


def _init_options(cls: type) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
