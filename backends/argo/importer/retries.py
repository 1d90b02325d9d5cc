"""`retryStrategy` as orch `retries`, delay by delay (workflow/controller/operator.go, processNodeRetries).

Argo waits `duration * factor**(n-1)` before retry n, capped at `cap`: orch's `min(delay * factor**(k-1),
max_delay)` exactly. `maxDuration` is different: a deadline on all attempts from the first one's start, after
which no retry starts -- orch has no such bound, so it is approximated with its number. Argo retries by
policy: OnFailure (its default without `expression`) retries failed containers, not errors (a pod that could
not run); OnError only errors; Always both: orch's `retries.on` failure, error and any, exactly. OnTransientError
retries only the errors Argo deems transient (by their message): approximated by `on: error`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orch.core.limits import MAX_RETRIES

from .tags import Unsupported

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def seconds(value) -> float:
    """Argo's duration (ParseStringToDuration): a number of seconds, or Go's `1m30s`."""
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return float(text)
    if not text or _GO_DURATION.sub("", text) != "":
        raise Unsupported(f"{value!r} is not a duration")
    return sum(float(n) * _UNITS[u] for n, u in _GO_DURATION.findall(text))


def number(value: float):
    return int(value) if float(value).is_integer() else value


@dataclass
class Retrying:
    """What the behaviour check needs of a template's retries: how many, and whether errors are retried alike."""

    limit: int = 0
    policy: str = "OnFailure"

    @property
    def exact_policy(self) -> bool:
        return self.policy in ON or self.limit == 0


def retries(strategy, path: tuple, ledger) -> tuple[dict | None, Retrying]:
    """The orch `retries` of a template's retryStrategy, each field in the ledger."""
    if not isinstance(strategy, dict):
        ledger.unsupported(path, "retryStrategy is not a mapping")
        return None, Retrying()
    result: dict = {}
    limit = strategy.get("limit")
    if limit is None:
        ledger.approximated(path, f"no limit: Argo retries without end, orch at most {MAX_RETRIES} times",
                            "retries.limit")
        result["limit"] = MAX_RETRIES
    elif re.fullmatch(r"\d+", str(limit)) and int(limit) <= MAX_RETRIES:
        result["limit"] = int(limit)
        ledger.mapped((*path, "limit"), "retries.limit")
    else:
        ledger.unsupported((*path, "limit"), f"limit {limit!r} is not a count orch can retry (0..{MAX_RETRIES})")
        return None, Retrying()
    expression = "expression" in strategy
    policy = strategy.get("retryPolicy") or ("Always" if expression else "OnFailure")
    on = "any"
    if "retryPolicy" in strategy or result["limit"]:
        where = (*path, "retryPolicy") if "retryPolicy" in strategy else path
        default = " (Argo default)" if "retryPolicy" not in strategy else ""
        if policy in ON:
            on = ON[policy]
            ledger.mapped(where, "retries.on", f"{policy}{default}: Argo retries {_WHAT[policy]}, as orch's "
                                               f"retries.on: {ON[policy]}")
        elif policy == "OnTransientError":
            on = "error"
            ledger.approximated(where, f"retryPolicy {policy}: Argo retries {_WHAT[policy]}; orch's retries.on: error "
                                       "retries every error", "retries.on")
        else:
            ledger.unsupported(where, f"retryPolicy {policy!r} is not Argo's")
    if expression:
        ledger.unsupported((*path, "expression"), "a retry expression decides per attempt on its outcome; "
                                                  "orch retries every failure up to the limit")
    if "affinity" in strategy:
        ledger.approximated((*path, "affinity"), "retries are not steered away from the nodes that failed")
    backoff = strategy.get("backoff")
    if isinstance(backoff, dict):
        _backoff(backoff, (*path, "backoff"), ledger, result)
    elif backoff is not None:
        ledger.unsupported((*path, "backoff"), "backoff is not a mapping")
    if on != "any":
        result["on"] = on
    return result, Retrying(result["limit"], policy)


ON = {"Always": "any", "OnFailure": "failure", "OnError": "error"}  # retryPolicy -> retries.on, exactly
_WHAT = {"Always": "failed containers and errors alike",
         "OnFailure": "failed containers, not errors (a pod that could not run)",
         "OnError": "errors (a pod that could not run), not failed containers",
         "OnTransientError": "only errors it deems transient"}


def _backoff(backoff: dict, path: tuple, ledger, result: dict) -> None:
    try:
        if "duration" in backoff:
            result["delay"] = number(seconds(backoff["duration"]))
            ledger.mapped((*path, "duration"), "retries.delay", "retry n waits duration * factor**(n-1)")
        if "factor" in backoff:
            factor = backoff["factor"]
            if not re.fullmatch(r"\d+", str(factor)) or int(factor) < 1:
                raise Unsupported(f"factor {factor!r}: Argo takes a whole factor; orch's is at least 1")
            result["factor"] = int(factor)
            ledger.mapped((*path, "factor"), "retries.factor")
        if "cap" in backoff:
            result["max_delay"] = number(seconds(backoff["cap"]))
            ledger.mapped((*path, "cap"), "retries.max_delay", "no wait longer than cap, as orch's max_delay")
        if "maxDuration" in backoff:
            total = seconds(backoff["maxDuration"])
            waits = delays(result, result.get("limit", 0))
            ledger.approximated((*path, "maxDuration"),
                                f"maxDuration {number(total)}s is a deadline on all attempts from the first one's "
                                f"start (Argo starts no retry past it); orch has no such bound: its waits are "
                                f"{', '.join(f'{number(w)}s' for w in waits[:6]) or 'none'}"
                                f"{'…' if len(waits) > 6 else ''}, each attempt bounded only by its timeout",
                                "retries")
    except Unsupported as err:
        ledger.unsupported(path, str(err))
    for key in backoff:
        if key not in ("duration", "factor", "cap", "maxDuration"):
            ledger.unsupported((*path, key), f"backoff.{key} is not Argo's")


def delays(retries: dict, count: int) -> list[float]:
    """The waits before retries 1..count: min(D * F**(k-1), M), as both engines compute them."""
    d, f, m = retries.get("delay", 0), retries.get("factor", 1), retries.get("max_delay")
    found = []
    for k in range(1, count + 1):
        wait = d * f ** (k - 1)
        found.append(min(wait, m) if m is not None else wait)
    return found


def argo_delays(backoff: dict, count: int) -> list[float]:
    """Argo's own waits (processNodeRetries): duration * factor**(attempts-1), then cap."""
    base = seconds(backoff.get("duration", 0))
    factor = int(backoff.get("factor") or 0)
    cap = seconds(backoff["cap"]) if "cap" in backoff else None
    found = []
    for attempts in range(1, count + 1):
        wait = base * factor ** (attempts - 1) if factor > 0 else base
        found.append(min(wait, cap) if cap is not None else wait)
    return found
