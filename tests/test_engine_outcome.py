"""A run an engine records as failed is failed, whatever its steps' records say: a flow that raised
before its steps ended (or a DAG run that failed outside them) never reads as succeeded."""

from __future__ import annotations

import asyncio

from orch.backends.airflow.status import result_from_records
from orch.core.load import parse_spec
from orch.core.result import StepResult, pipeline_status

SPEC = """
apiVersion: orch/v1
name: outcome
steps:
  a: {command: ["true"]}
"""


def test_a_failed_engine_record_or_an_unfinished_step_fails_the_pipeline():
    done = {"a": StepResult(status="succeeded")}
    assert pipeline_status(done) == "succeeded"
    assert pipeline_status(done, engine_ok=False) == "failed"
    assert pipeline_status({"a": StepResult(status="pending")}) == "failed"
    assert pipeline_status({"a": StepResult(status="skipped")}) == "succeeded"


def test_an_airflow_dag_run_that_failed_outside_its_steps_is_failed():
    graph = parse_spec(SPEC)
    records = {"run_id": "r1", "state": "failed", "start": None, "end": None,
               "tasks": [{"task_id": "a", "map_index": -1, "state": "success", "try_number": 1, "start": None,
                          "end": None}], "xcoms": []}
    result = result_from_records(graph, records, {})
    assert result.status == "failed" and "r1 ended failed" in result.error
    records["state"] = "success"
    assert result_from_records(graph, records, {}).status == "succeeded"


def test_a_prefect_flow_that_raised_is_failed(prefect_api):
    """A flow whose body raised (no task ever ran) read back from Prefect's API: failed, with its error."""
    from prefect import flow, get_client

    from orch.backends.prefect.status import read_result

    @flow(name="raises")
    def raises():
        raise RuntimeError("the flow itself broke")

    state = raises(return_state=True)

    async def read():
        async with get_client() as client:
            return await read_result(client, parse_spec(SPEC), state.state_details.flow_run_id, {})

    result = asyncio.run(read())
    assert result.status == "failed"
    assert result.steps["a"].status == "pending"
    assert "the flow itself broke" in result.error
