"""Method specs of an evaluation: `name[:key=value;key=value]` -> `MethodSpec` (pure).

    "bicubic,hpf,dsdit,dsdit:guidance=1"           four methods
    "dsdit:guidance=1.2;steps=8"                    one method, two overrides (label
                                                    "dsdit(w=1.2,steps=8)")
    "dsdit:guidance=1.2,steps=8,hpf"                the same: in a list, an item holding '='
                                                    but no ':' continues the previous method

Override keys map onto `UpscaleOptions` fields (`OVERRIDES`); values are parsed with the
field's type. Errors are one-line `OptionError`s.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import OptionError
from dsdit_geo.upscalers import METHODS

DEFAULT_METHODS = "bicubic,hpf,dsdit,dsdit:guidance=1"
"""The default comparison: the two classical baselines, DS-DiT with and without autoguidance."""


@dataclass(frozen=True)
class Override:
    """One overridable UpscaleOptions field: its value parser and its short name in labels."""

    parse: Callable[[str], object]
    short: str


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


OVERRIDES: dict[str, Override] = {
    "steps": Override(_positive_int, "steps"),
    "guidance": Override(_float, "w"),
    "ref_scale_weak": Override(_float, "weak"),
    "detail": Override(_float, "detail"),
    "ref_detail": Override(_float, "ref_detail"),
    "weights": Override(os.path.expanduser, "weights"),
    "guide": Override(os.path.expanduser, "guide"),  # a folder, or "self" (left as it is)
    "seed": Override(int, "seed"),
    "tile_px": Override(_positive_int, "tile"),
    "overlap_px": Override(_positive_int, "overlap"),
}
"""key -> how to parse it; every key is a field of UpscaleOptions."""


@dataclass(frozen=True)
class MethodSpec:
    """A method and its option overrides, e.g. name "dsdit", overrides {"guidance": 1.0}.

    label: unique readable name in tables and JSON ("dsdit(w=1)"); the bare method name when
    there are no overrides.
    """

    name: str
    overrides: Mapping[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.overrides:
            return self.name
        parts = [f"{OVERRIDES[k].short}={_show(v, k)}" for k, v in self.overrides.items()]
        return f"{self.name}({','.join(parts)})"

    def options(self, base: UpscaleOptions) -> UpscaleOptions:
        """`base` with this method and its overrides applied (a new object)."""
        return dataclasses.replace(base, method=self.name, **dict(self.overrides))

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "method": self.name, "overrides": dict(self.overrides)}


def _show(value: object, key: str) -> str:
    if key in ("weights", "guide"):
        return os.path.basename(str(value).rstrip("/")) or str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_method(text: str) -> MethodSpec:
    """'dsdit:guidance=1.2;steps=8' -> MethodSpec('dsdit', {'guidance': 1.2, 'steps': 8})."""
    text = text.strip()
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    if name not in METHODS:
        raise OptionError(f"unknown method {name or text!r} in --methods: choose among {', '.join(METHODS)}")
    overrides: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in rest.replace(",", ";").split(";"))):
        key, sep, value = (s.strip() for s in item.partition("="))
        key = key.lower().replace("-", "_")
        if not sep or not value:
            raise OptionError(f"method override {item!r} in {text!r} must read key=value")
        if key not in OVERRIDES:
            raise OptionError(
                f"unknown method override {key!r} in {text!r}: use {', '.join(OVERRIDES)}"
            )
        if key in overrides:
            raise OptionError(f"method override {key!r} given twice in {text!r}")
        try:
            overrides[key] = OVERRIDES[key].parse(value)
        except ValueError:
            raise OptionError(f"bad value {value!r} for {key} in {text!r}") from None
    if rest.strip() and not overrides:
        raise OptionError(f"method {text!r}: expected key=value overrides after ':'")
    return MethodSpec(name, overrides)


def split_method_list(text: str) -> list[str]:
    """Split a comma-separated method list; items with '=' but no ':' continue the previous
    method's overrides ("dsdit:guidance=1,steps=8,hpf" -> ["dsdit:guidance=1;steps=8", "hpf"])."""
    items: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" in part and ":" not in part and items:
            items[-1] += ";" + part
        else:
            items.append(part)
    return items


def parse_methods(methods: str | Iterable[str | MethodSpec]) -> list[MethodSpec]:
    """A method list ("bicubic,dsdit:guidance=1" or a sequence of items / specs) -> specs with
    unique labels. OptionError when empty, malformed or repeated."""
    if isinstance(methods, str):
        items: list[str | MethodSpec] = list(split_method_list(methods))
    else:
        items = [m for item in methods for m in ([item] if isinstance(item, MethodSpec) else split_method_list(item))]
    specs = [item if isinstance(item, MethodSpec) else parse_method(item) for item in items]
    if not specs:
        raise OptionError("--methods is empty: name at least one method, e.g. bicubic,hpf")
    labels = [spec.label for spec in specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise OptionError(f"method {repeated[0]!r} is listed twice in --methods")
    return specs


def parse_scales(scales: str | Iterable[int | float]) -> list[int]:
    """'4,8' (or [4, 8]) -> [4, 8]: whole scale factors >= 2, in the given order, no repeats."""
    items = [s for s in scales.replace(" ", ",").split(",") if s] if isinstance(scales, str) else list(scales)
    out: list[int] = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            value = float("nan")
        if not (value >= 2 and value == int(value)):
            raise OptionError(f"--scales must list whole factors >= 2 like 4,8, got {item!r}")
        if int(value) in out:
            raise OptionError(f"scale {int(value)} is listed twice in --scales")
        out.append(int(value))
    if not out:
        raise OptionError("--scales is empty: name at least one factor, e.g. 4,8")
    return out
