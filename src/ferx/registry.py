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

    def defaults(self, name: str) -> dict[str, Any]:
        """The named backend's options and their defaults (its presets applied), for a user to read."""
        params = inspect.signature(self.get(name).__init__).parameters
        out = {p: v.default for p, v in params.items() if p != "self" and v.default is not inspect.Parameter.empty}
        return {**out, **self._presets[name]}

    def create(self, name: str, **options: Any) -> T:
        cls = self.get(name)
        check_options(f"{self.stage} backend {name!r}", options, self.options(name))
        check_option_types(f"{self.stage} backend {name!r}", options, cls)
        threads = options.get("threads")
        if isinstance(threads, int) and threads < 1:  # every backend's CPU threads: LiteRT said "num_threads should >= 1"
            raise ConfigError(f"{self.stage} backend {name!r}: option 'threads' must be at least 1, got {threads}")
        try:
            return cls(**{**self._presets[name], **options})
        except ConfigError:
            raise
        except (ValueError, TypeError) as e:  # a bad option value is a configuration error
            raise ConfigError(f"{self.stage} backend {name!r}: {e}") from None


def check_scalar(tp: Any, value: Any, where: str) -> Any:
    """`value` checked against a bool, int, float or str annotation `tp` (a float may be given as an
    int, and is returned as a float); ConfigError naming `where` if it does not fit. Other annotations
    pass the value through. Shared by config files (`config.from_dict`) and backend options."""
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def check_option_types(where: str, options: dict[str, Any], cls: type) -> None:
    """Refuse an option value whose type its backend's annotation rules out (a YAML `min_face: forty`
    or `flip_average: yes_please`), naming the key, before the backend compares or casts it. An
    optional annotation (`X | None`) takes None; unions of several types are left to the backend."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # annotations naming types only imported for type checking: the backend checks
        return
    for key, value in options.items():
        tp = hints.get(key)
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            inner = [a for a in typing.get_args(tp) if a is not type(None)]
            if (value is None and len(inner) < len(typing.get_args(tp))) or len(inner) != 1:
                continue
            tp = inner[0]
        check_scalar(tp, value, f"{where}: option {key!r}")


def _init_options(cls: type) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
