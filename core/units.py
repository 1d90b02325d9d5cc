"""Durations (`30s`, `1h30m`) and Kubernetes quantities (`100m`, `16Gi`), parsed strictly."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from .errors import Refusal, shorten
from .limits import MAX_DELAY_SECONDS, MAX_QUANTITY, MAX_TIMEOUT_SECONDS

# ASCII digits only: `\d` would also take '٣' (Arabic-Indic three).
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DURATION = re.compile(r"(?:([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d))")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SHAPE = "a duration is a number of seconds or text such as '30s', '10m', '1h30m'"


def parse_duration(value) -> float:
    """Seconds from `90`, `1.5`, `30s`, `10m`, `1h30m`, `2d`, `250ms`: finite and >= 0; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(_SHAPE)
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float
            seconds = math.inf
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if _SECONDS.fullmatch(text):
            seconds = float(text)
        else:
            parts = _DURATION.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"invalid duration {shorten(repr(value), 80)}: use a number of seconds or units ms, s, m, h, d, as in '1h30m'")
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ValueError(_SHAPE)
    if not math.isfinite(seconds):
        raise Refusal("E109", f"duration {shorten(repr(value), 80)} is not a finite number of seconds",
                      "write a duration such as '30s' or '2h'; omit a timeout for none")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value!r}")
    return seconds


def parse_timeout(value) -> float:
    """A timeout: a duration more than 0 and at most MAX_TIMEOUT_SECONDS (366 days)."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise Refusal("E216", "a timeout must be more than 0", "omit 'timeout' for none")
    if seconds > MAX_TIMEOUT_SECONDS:
        raise Refusal("E217", f"timeout {format_duration(seconds)} is longer than {format_duration(MAX_TIMEOUT_SECONDS)} (366 days)",
                      "omit 'timeout' for none")
    return seconds


def parse_delay(value) -> float:
    """A retry delay: a duration of at most MAX_DELAY_SECONDS (366 days)."""
    seconds = parse_duration(value)
    if seconds > MAX_DELAY_SECONDS:
        raise Refusal("E217", f"delay {format_duration(seconds)} is longer than {format_duration(MAX_DELAY_SECONDS)} (366 days)")
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


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]+|E[0-9]+)?\Z")
_SUFFIX = {
    None: Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(value) -> str:
    """A Kubernetes quantity as canonical text (`4`, `100m`, `16Gi`), at most MAX_QUANTITY; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("a quantity is a number or text such as '100m', '512Mi', '16Gi'")
    if isinstance(value, float) and not math.isfinite(value):
        raise Refusal("E109", f"quantity {value!r} is not a finite number")
    text = format(value, "g") if isinstance(value, float) else str(value).strip()
    if not _QUANTITY.match(text):
        raise ValueError(f"invalid Kubernetes quantity {shorten(repr(value), 80)}: use forms such as '500m', '2', '512Mi', '16Gi'")
    if quantity_value(text) > MAX_QUANTITY:
        raise Refusal("E218", f"quantity {shorten(text, 80)} is more than Kubernetes holds (2^63-1 in base units)",
                      "a quantity such as '16Gi' or '4' is what a step can ask for")
    return text


def quantity_value(text: str) -> Decimal:
    """The number a quantity stands for: '100m' -> 0.1, '1Ki' -> 1024."""
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"invalid Kubernetes quantity {text!r}")
    number, suffix = match.groups()
    try:
        if suffix not in _SUFFIX:  # a decimal exponent: e3, E6 (but not Ei, the binary suffix)
            exponent = suffix[1:].lstrip("0") or "0"
            if len(exponent) > 3:  # 10**1000 and beyond: far past any bound, and not worth computing
                return Decimal("Infinity") if Decimal(number) else Decimal(0)
            return Decimal(number).scaleb(int(exponent))
        return Decimal(number) * _SUFFIX[suffix]
    except InvalidOperation as err:  # pragma: no cover - the regex admits only numbers
        raise ValueError(str(err)) from None


def parse_bytes(value) -> int:
    """A size in bytes: an integer, or a number with a unit ('100MB', '100M', '1KB', '1Gi'); ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    problem = f"invalid size {shorten(repr(value), 80)}: a number of bytes, or text such as '100MB', '1GB', '512Mi'"
    if not isinstance(value, str):
        raise ValueError(problem)
    text = value.strip()
    if text[-1:] == "B":  # '100MB' as '100M', '2GiB' as '2Gi': bytes are what is counted
        text = text[:-1]
    if text[-1:] == "K":  # '1KB': kilo, as Kubernetes writes it ('k')
        text = text[:-1] + "k"
    try:
        amount = quantity_value(parse_quantity(text))
    except ValueError:
        raise ValueError(problem) from None
    if amount != int(amount) or amount < 0:
        raise ValueError(problem)
    return int(amount)
