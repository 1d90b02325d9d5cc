"""A session's server stops once the last test of its xdist group has run, not at the session's end.

The tests that use a server (the `prefect-server` and `airflow-server` groups) run one after another on the
worker that owns it (`--dist loadgroup`); idle, a scheduler, a dag-processor and a Prefect server still take
much of two cores from every test after them. Each server fixture registers its stop under its group's name;
the stop is idempotent, so the fixture's own teardown at the session's end still runs.
"""

from __future__ import annotations

STOPS: dict = {}  # xdist group name -> the stop of the server its tests share


def _group(item):
    if item is None:
        return None
    mark = item.get_closest_marker("xdist_group")
    return mark.args[0] if mark and mark.args else None


def pytest_runtest_teardown(item, nextitem):
    group = _group(item)
    if group in STOPS and _group(nextitem) != group:
        STOPS.pop(group)()
