"""The artifact cases (artifact_cases/) on every backend, each with the default store (a folder under
ORCH_HOME) and with a real S3-compatible server: the same outputs, the same keys.

An artifact's URI is `<store>/<pipeline>/<run id>/<step>/<output>[/<item>][.tar]`; the case writes it
as `artifact:<step>/<output>...`, and this checks the rest of it is this run's store, pipeline and run.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from .test_cases import check_case, load_case, with_gaps

CASES = sorted((Path(__file__).parent / "artifact_cases").glob("*.yaml"))


@pytest.fixture(params=["default", "s3"])
def store(request, workdir):
    """The store's URL, and the flag that picks it (none: the default, a folder under ORCH_HOME)."""
    if request.param == "default":
        return f"file://{(workdir / '.orch' / 'artifacts').resolve()}", []
    url = f"{request.getfixturevalue('s3_server')}/{uuid.uuid4().hex[:8]}"
    return url, ["--artifacts", url]


@pytest.mark.slow
@pytest.mark.parametrize("path", [with_gaps(p) for p in CASES])
def test_artifact_case(run_spec, store, path):
    url, flags = store
    case = load_case(path)
    code, result = run_spec(case["spec"], case.get("params"), flags)
    prefix = f"{url}/{result['pipeline']}/{result['run_id']}/"
    for step in result["steps"].values():  # (`scratch`, a producer's own folder, differs every run)
        step["outputs"] = {name: _short(value, prefix) for name, value in step["outputs"].items() if name != "scratch"}
    check_case(case, code, result)


def _short(value, prefix):
    if isinstance(value, list):
        return [_short(v, prefix) for v in value]
    if isinstance(value, str) and value.startswith(prefix):
        return "artifact:" + value[len(prefix):]
    return value
