"""Durations and Kubernetes quantities."""

import pytest

from orch.core.units import format_duration, parse_duration, parse_quantity, quantity_value


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("10m", 600), ("1h30m", 5400), ("2h", 7200), ("1d", 86400), ("250ms", 0.25),
    (90, 90), (1.5, 1.5), ("45", 45), ("1h0m5s", 3605),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["2 hours", "1x", "h", "", "-5s", -1, True, None, "1h 30m", "30S"])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("seconds, text", [(5400, "1h30m"), (30, "30s"), (0.25, "250ms"), (0, "0s"), (90061, "1d1h1m1s")])
def test_format_duration_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("given, text, value", [
    ("100m", "100m", "0.1"), (4, "4", "4"), ("0.5", "0.5", "0.5"), ("16Gi", "16Gi", str(16 * 2**30)),
    ("1G", "1G", "1000000000"), ("1e3", "1e3", "1000"), (2.5, "2.5", "2.5"),
])
def test_quantities(given, text, value):
    assert parse_quantity(given) == text
    assert quantity_value(text) == __import__("decimal").Decimal(value)


@pytest.mark.parametrize("bad", ["lots", "1.2.3", "16GB", "-1", True, None, "Gi"])
def test_bad_quantities(bad):
    with pytest.raises(ValueError):
        parse_quantity(bad)
