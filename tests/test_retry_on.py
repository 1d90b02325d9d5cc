"""`retries.on` (docs/semantics.md#retries): the spec field, which exceptions are errors, the play, and what each
renderer writes for it. The runs themselves are in tests/conformance/test_retry_on.py."""

from __future__ import annotations

import pytest
import yaml

from orch.backends.airflow.render import render as airflow_render
from orch.backends.argo.render import render as argo_render
from orch.backends.prefect.render import render as prefect_render
from orch.backends.steprun import AttemptError, StepError, is_error, retried
from orch.backends.transfer import ArtifactError, MissingArtifact
from orch.cli.main import main
from orch.core.load import parse_spec
from orch.core.play import Draw, play

SPEC = """\
apiVersion: orch/v1
name: policies
steps:
  fails: {command: [sh, -c, "exit 1"], retries: {limit: 2, on: failure}}
  errs: {command: [sh, -c, "exit 1"], retries: {limit: 2, on: error}}
  both: {command: [sh, -c, "exit 1"], retries: {limit: 2}}
"""


def _graph(text=SPEC):
    return parse_spec(text, "policies.yaml")


def test_on_defaults_to_any_and_is_read_as_written():
    steps = _graph().pipeline.steps
    assert [steps[n].retries.on for n in ("fails", "errs", "both")] == ["failure", "error", "any"]
    assert steps["fails"].retries.retries(error=False) and not steps["fails"].retries.retries(error=True)
    assert steps["errs"].retries.retries(error=True) and not steps["errs"].retries.retries(error=False)
    assert steps["both"].retries.retries(error=True) and steps["both"].retries.retries(error=False)


def test_a_bad_value_is_a_located_error_with_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("on: error", "on: Always"))
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert "bad.yaml:5:" in err and "E201" in err and "steps.errs.retries.on: must be one of 'any', 'failure', 'error'" in err
    assert "(Argo's Always)" in err  # the hint names the Argo policy each value is


def test_the_schema_lists_the_values(capsys):
    with pytest.raises(SystemExit):
        main(["schema"])
    schema = yaml.safe_load(capsys.readouterr().out)
    retries = schema["$defs"]["Retries"]["anyOf"][0]
    assert retries["properties"]["on"]["enum"] == ["any", "failure", "error"]


def test_errors_are_artifacts_not_moved_and_lost_pods_and_nothing_the_step_did():
    class PodLaunchTimeoutException(Exception):  # the Kubernetes provider's, by name
        pass

    assert is_error(AttemptError("the store refused it")) and is_error(ArtifactError("cannot fetch"))
    assert is_error(PodLaunchTimeoutException("pod never started"))
    assert not is_error(MissingArtifact("output 'f': /x does not exist"))  # the step left none: its failure
    for failure in (StepError("exited with status 3"), TimeoutError("timed out after 1s"), ValueError("raised")):
        assert not is_error(failure)
        assert retried("failure", failure) and retried("any", failure) and not retried("error", failure)
    assert retried("error", ArtifactError("x")) and not retried("failure", ArtifactError("x"))


def test_the_play_retries_by_on():
    ends = play(_graph(), {name: Draw(fails=1, error=True) for name in ("fails", "errs", "both")}).ends
    assert [(ends[n].state, ends[n].attempts) for n in ("fails", "errs", "both")] == \
        [("failed", 1), ("succeeded", 2), ("succeeded", 2)]
    ends = play(_graph(), {name: Draw(fails=1) for name in ("fails", "errs", "both")}).ends
    assert [(ends[n].state, ends[n].attempts) for n in ("fails", "errs", "both")] == \
        [("succeeded", 2), ("failed", 1), ("succeeded", 2)]


def _text(artifacts) -> str:
    return "\n".join(a.text for a in artifacts)


def test_each_renderer_writes_its_engines_own_form():
    pipeline = _graph()
    argo = yaml.safe_load(next(a.text for a in argo_render(pipeline) if a.path.endswith(".workflow.yaml")))
    policies = {t["name"]: t["retryStrategy"]["retryPolicy"] for t in argo["spec"]["templates"] if "retryStrategy" in t}
    assert sorted(policies.values()) == ["Always", "OnError", "OnFailure"]
    prefect = _text(prefect_render(pipeline))
    assert "retry_condition_fn=retrying_on('failure')" in prefect and "retry_condition_fn=retrying_on('error')" in prefect
    assert "retry_condition_fn=worth_retrying," in prefect or "retry_condition_fn=worth_retrying\n" in prefect
    airflow = _text(airflow_render(pipeline))
    assert "ExactDelays([0.0, 0.0], on='failure')" in airflow and "ExactDelays([0.0, 0.0], on='error')" in airflow
    assert "ExactDelays([0.0, 0.0])" in airflow


def test_without_on_the_rendered_files_are_as_before():
    pipeline = _graph(SPEC.replace(", on: failure", "").replace(", on: error", ""))
    assert "retrying_on" not in _text(prefect_render(pipeline))
    assert "], on=" not in _text(airflow_render(pipeline))
    assert "OnFailure" not in _text(argo_render(pipeline)) and "OnError" not in _text(argo_render(pipeline))


def test_a_store_that_refuses_an_artifact_is_an_error_one_never_written_a_failure(tmp_path):
    from orch.backends.steprun import stored
    from orch.backends.transfer import Destination

    made = tmp_path / "model.bin"
    made.write_bytes(b"weights")
    blocked = tmp_path / "store-is-a-file"
    blocked.write_text("not a folder")  # a folder store whose folder cannot be made: every upload refused
    refusing = Destination(f"file://{blocked}", "p", "run-1", "train").publish
    with pytest.raises(AttemptError) as refused:
        stored(refusing, "model", str(made), False)
    assert is_error(refused.value) and "output 'model'" in str(refused.value)
    working = Destination(f"file://{tmp_path / 'store'}", "p", "run-1", "train").publish
    with pytest.raises(StepError) as missing:
        stored(working, "model", str(tmp_path / "never-written"), False)
    assert not is_error(missing.value) and "does not exist" in str(missing.value)
    assert stored(working, "model", str(made), False).endswith("/p/run-1/train/model")
