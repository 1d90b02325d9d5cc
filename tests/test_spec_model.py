"""The spec model: defaults, shorthands, and equality between YAML and Python."""

import pytest

from orch.core import Pipeline, load_spec, parse_spec
from orch.core.spec import Retries, Step, StepDefaults, with_defaults

from .conftest import SPECS


def spec(steps: str, extra: str = "") -> Pipeline:
    return parse_spec(f"apiVersion: orch/v1\nname: p\n{extra}steps:\n{steps}").pipeline


def test_defaults_fill_what_a_step_leaves_unset():
    p = spec(
        "  a: {python: m:f, env: {B: '2'}, resources: {memory: 2Gi}}\n  b: {python: m:g, retries: 0, image: own}\n",
        "defaults:\n  image: img\n  env: {A: '1', B: '1'}\n  resources: {cpu: 1, memory: 1Gi}\n  retries: {limit: 2, delay: 30s}\n",
    )
    a, b = p.steps["a"], p.steps["b"]
    assert a.image == "img" and b.image == "own"
    assert a.env == {"A": "1", "B": "2"}  # mappings merge key by key, the step winning
    assert (a.resources.cpu, a.resources.memory) == ("1", "2Gi")
    assert a.retries == Retries(limit=2, delay=30) and b.retries == Retries(limit=0)  # retries replace whole


def test_merging_defaults_is_idempotent():
    defaults = StepDefaults(env={"A": "1"}, timeout=5)
    step = with_defaults(Step(python="m:f", env={"B": "2"}), defaults)
    assert with_defaults(step, defaults) == step


def test_shorthands():
    p = spec("  a: {python: m:f, after: b, retries: 3}\n  b: {command: [sleep, 5]}\n",
             "params:\n  n: 3\n  ratio: {default: 0.5}\n  grid: [1, 2]\nschedule: '@daily'\n")
    assert p.params["n"].type == "integer" and p.params["ratio"].type == "number" and p.params["grid"].type == "json"
    assert p.steps["a"].after == ["b"] and p.steps["a"].retries.limit == 3
    assert p.steps["b"].command == ["sleep", "5"]
    assert p.schedule.cron == "@daily" and p.schedule.timezone == "UTC" and p.schedule.concurrency == 1


def test_env_values_are_text():
    p = spec("  a: {python: m:f, env: {DEBUG: true, N: 3}}\n")
    assert p.steps["a"].env == {"DEBUG": "true", "N": "3"}


def test_python_builder_equals_its_yaml_twin(monkeypatch):
    monkeypatch.syspath_prepend(str(SPECS))
    from ml_pipeline.pipeline import pipeline

    assert pipeline == load_spec(SPECS / "ml-training.yaml").pipeline


def test_builder_conditions_and_references():
    from orch.core.builder import ITEM, PipelineBuilder

    pipe = PipelineBuilder("p")
    mode = pipe.param("mode", default="full")
    grid = pipe.param("grid", "json", [1, 2])
    a = pipe.command("a", ["echo", f"--mode={mode}"], outputs={"n": "integer"})

    @pipe.step(foreach=grid, args={"x": ITEM, "n": a.outputs.n}, when=(a.outputs.n > 1) & ~(mode == "dry"))
    def b(x, n):
        return x * n

    p = pipe.build()
    assert p.steps["a"].command == ["echo", "--mode=${{ params.mode }}"]
    assert p.steps["b"].when == "(steps.a.outputs.n > 1) and (not (params.mode == 'dry'))"
    assert p.steps["b"].python == f"{__name__}:b" and b(2, 3) == 6
    assert p.steps["b"].foreach == "${{ params.grid }}"


def test_builder_reports_like_yaml():
    from orch.core import SpecError
    from orch.core.builder import PipelineBuilder

    pipe = PipelineBuilder("p")
    pipe.command("a", ["echo"], after=["nope"])
    with pytest.raises(SpecError, match=r"test_spec_model.py:\d+:5: error\[E401\] steps.a.after\[0\]: unknown step 'nope'"):
        pipe.build()


def test_a_yaml_boolean_condition_is_that_condition():
    p = spec("  a: {python: m:f, when: true}\n  b: {python: m:f, when: false}\n")
    assert (p.steps["a"].when, p.steps["b"].when) == ("true", "false")


def test_builder_params_without_a_default_are_required_and_bad_values_are_spec_errors():
    from orch.core.builder import PipelineBuilder
    from orch.core.errors import SpecError

    pipe = PipelineBuilder("built")
    pipe.param("nothing", type="json", default=None)
    pipe.param("needed")
    pipe.command("a", ["echo"])
    params = pipe.build().params
    assert not params["nothing"].required and params["needed"].required
    pipe.command("b", ["echo"], timeout=float("inf"))
    with pytest.raises(SpecError) as refused:
        pipe.graph()
    assert [d.code for d in refused.value.diagnostics] == ["E109"]
