"""Airflow's retry settings as orch's `retries`, compared number by number.

Airflow (models/taskinstance.py, `next_retry_datetime`): with `retry_exponential_backoff` m not 0 and not 1,
retry k (1-based, after try k failed) waits `b + hash % b` seconds, b = max(1, ceil(D * m**(k-1))) -- a jitter
between b and 2b-1 fixed per task instance -- then at most `[core] max_task_retry_delay` (24 h) and at most
`max_retry_delay`. With m 0 or 1 (True is 1) it waits exactly D, and `max_retry_delay` is not applied.
orch waits exactly min(D * F**(k-1), M). So a constant delay maps exactly; a backoff is approximated, its
numbers said.
"""

from __future__ import annotations

import math

MAX_TASK_RETRY_DELAY = 24 * 60 * 60  # [core] max_task_retry_delay's default
SHOWN = 3  # retries whose delays the note lists


def airflow_delays(delay: float, multiplier: float, cap: float | None, retries: int) -> list[tuple[float, float]]:
    """(least, most) seconds before each retry, as Airflow computes them."""
    found = []
    for k in range(1, retries + 1):
        if multiplier in (0, 1) or multiplier <= 0:
            found.append((delay, delay))
            continue
        try:
            least = max(1, math.ceil(delay * multiplier ** (k - 1)))
        except OverflowError:
            least = MAX_TASK_RETRY_DELAY
        most = least * 2 - 1
        bound = min(MAX_TASK_RETRY_DELAY, cap) if cap else MAX_TASK_RETRY_DELAY
        found.append((min(least, bound), min(most, bound)))
    return found


def orch_delays(delay: float, factor: float, cap: float | None, retries: int) -> list[float]:
    return [min(delay * factor ** (k - 1), cap) if cap is not None else delay * factor ** (k - 1)
            for k in range(1, retries + 1)]


def retries_of(limit: int, delay: float, multiplier: float, cap: float | None) -> tuple[dict, str | None]:
    """orch's `retries` for these settings, and what differs (None: the same delays)."""
    multiplier = float(multiplier or 0)
    spec = {"limit": limit, "delay": duration(delay)}
    if limit == 0:
        return {"limit": 0}, None
    if multiplier in (0.0, 1.0) or multiplier < 0:
        return spec, None
    factor = max(multiplier, 1.0)
    bound = min(MAX_TASK_RETRY_DELAY, cap) if cap else MAX_TASK_RETRY_DELAY
    spec.update(factor=factor if factor != int(factor) else int(factor), max_delay=duration(bound))
    theirs = airflow_delays(delay, multiplier, cap, limit)
    ours = orch_delays(delay, factor, bound, limit)
    shown = "; ".join(f"retry {k + 1}: Airflow {_span(theirs[k])}, orch {_num(ours[k])} s"
                      for k in range(min(SHOWN, limit)))
    why = "Airflow jitters each delay between b and 2b-1 s (b = ceil(delay * m**(k-1)))"
    if multiplier < 1:
        why += f"; its multiplier {multiplier} shrinks the delays, orch's factor is at least 1"
    return spec, f"{why}: {shown}"


def _span(pair: tuple[float, float]) -> str:
    return f"{_num(pair[0])} s" if pair[0] == pair[1] else f"{_num(pair[0])}-{_num(pair[1])} s"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def duration(value: float) -> str | int | float:
    """A duration as orch writes it: whole seconds as `30s`, `5m`, `2h` where exact."""
    if not float(value).is_integer():
        return value
    value = int(value)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}s"
