"""`retries.on` on every backend (docs/semantics.md#retries): an attempt that ERRORS -- here its input artifact
cannot be fetched, the object gone from the store -- is retried under `on: error` and `any`, not `on: failure`;
an attempt that FAILS (a non-zero exit) the other way round. A real store, real engines, nothing mocked."""

from __future__ import annotations

LIMIT = 2  # so a retried step makes 3 attempts, one that is not retried 1


def _spec(store) -> dict:
    reads = {"command": ["cat", "${{ steps.made.outputs.f }}"], "after": ["gone"]}
    exits = {"command": ["sh", "-c", "exit 3"]}
    steps = {
        "made": {"command": ["sh", "-c", 'printf x > "$ORCH_OUTPUTS/f"'], "outputs": {"f": "artifact"}},
        # the object its readers fetch, removed from the store before they start
        "gone": {"command": ["rm", "-rf", f"{store}/retry-on/${{{{ run.id }}}}/made"], "after": ["made"]},
    }
    for on in ("failure", "error", "any"):
        retries = {"limit": LIMIT} if on == "any" else {"limit": LIMIT, "on": on}
        steps[f"reads-{on}"] = {**reads, "retries": retries}
        steps[f"exits-{on}"] = {**exits, "retries": retries}
    return {"apiVersion": "orch/v1", "name": "retry-on", "steps": steps}


EXPECTED = {"reads-failure": 1, "reads-error": 3, "reads-any": 3, "exits-failure": 3, "exits-error": 1, "exits-any": 3}


def test_errors_and_failures_are_retried_as_retries_on_says(run_spec, backend, tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    code, result = run_spec(_spec(store), flags=["--artifacts", f"file://{store}"])
    assert code == 1 and result["status"] == "failed"
    assert result["steps"]["made"]["status"] == result["steps"]["gone"]["status"] == "succeeded"
    attempts = {name: result["steps"][name]["attempts"] for name in EXPECTED}
    assert attempts == EXPECTED, result["steps"]
    for name in EXPECTED:
        assert result["steps"][name]["status"] == "failed"
    assert "exited with status 3" in result["steps"]["exits-error"]["error"]
    assert "retry-on" in result["steps"]["reads-failure"]["error"]  # the fetch's own words: the key it missed

