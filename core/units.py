"""Durations (`30s`, `1h30m`) and Kubernetes quantities (`100m`, `16Gi`), parsed strictly."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value) -> float:
    """Seconds from `90`, `1.5`, `30s`, `10m`, `1h30m`, `2d`, `250ms`; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as '30s', '10m', '1h30m'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"invalid duration {value!r}: use a number of seconds or units ms, s, m, h, d, as in '1h30m'") from None
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ValueError("a duration is a number of seconds or text such as '30s', '10m', '1h30m'")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest unit text for `seconds`: 5400 -> '1h30m', 0.25 -> '250ms'."""
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"
    rest, text = int(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n:
            text += f"{n}{unit}"
    return text or "0s"


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]+|E[0-9]+)?$")
_SUFFIX = {
    None: Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(value) -> str:
    """A Kubernetes quantity as canonical text (`4`, `100m`, `16Gi`); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("a quantity is a number or text such as '100m', '512Mi', '16Gi'")
    text = format(value, "g") if isinstance(value, float) else str(value).strip()
    if not _QUANTITY.match(text):
        raise ValueError(f"invalid Kubernetes quantity {value!r}: use forms such as '500m', '2', '512Mi', '16Gi'")
    return text


def quantity_value(text: str) -> Decimal:
    """The number a quantity stands for: '100m' -> 0.1, '1Ki' -> 1024."""
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"invalid Kubernetes quantity {text!r}")
    number, suffix = match.groups()
    try:
        if suffix and suffix[0] in "eE" and len(suffix) > 1:
            return Decimal(number) * Decimal(10) ** int(suffix[1:])
        return Decimal(number) * _SUFFIX[suffix]
    except InvalidOperation as err:  # pragma: no cover - the regex admits only numbers
        raise ValueError(str(err)) from None
