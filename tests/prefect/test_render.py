"""Rendered Prefect flow modules: valid Python that imports, needs nothing of orch, and says
what the spec says -- for every example, every conformance case and generated specs."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from orch.backends.prefect.render import module_source, names_of
from orch.core import load_spec, parse_spec

from ..conformance.test_cases import CASES, load_case
from ..test_generated_specs import valid_specs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "specs").glob("*.yaml"))


def import_module(source: str, folder: Path):
    """Import rendered source as a plain module, with orch made unimportable while it loads."""
    name = f"flow_module_{folder.name}"
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    blocked = {key: sys.modules.pop(key) for key in list(sys.modules) if key == "orch" or key.startswith("orch.")}
    sys.modules["orch"] = None  # any `import orch...` in the module now fails
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # Prefect finds a deployment's entrypoint through it
        spec.loader.exec_module(module)
    finally:
        del sys.modules["orch"]
        sys.modules.update(blocked)
    return module


def parse_dict(spec: dict):
    return parse_spec(yaml.safe_dump(spec, allow_unicode=True))


def imported_names(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", EXAMPLES + CASES, ids=lambda p: p.stem)
def test_every_spec_renders_a_module_that_imports_without_orch(path, tmp_path):
    graph = load_spec(path) if path in EXAMPLES else parse_dict(load_case(path)["spec"])
    source = module_source(graph)
    assert not any(name.split(".")[0] == "orch" for name in imported_names(source))
    module = import_module(source, tmp_path)
    flows = [value for value in vars(module).values() if type(value).__name__ == "Flow"]
    assert [f.name for f in flows] == [graph.pipeline.name]
    tasks = {value.name for value in vars(module).values() if type(value).__name__ == "Task"}
    for name, step in graph.pipeline.all_steps.items():  # finally steps and steps inside groups too
        assert name in tasks and (step.foreach is None or f"{name}[item]" in tasks)
    for group in graph.pipeline.groups:  # a group's task, and the function submitting its steps
        assert group in tasks and callable(getattr(module, f"{names_of(graph.pipeline).of(group, 'steps')}"))


def test_finally_steps_are_a_section_of_the_flow_after_every_steps_end(tmp_path, spec_file):
    """The steps' submits, then a wait for every step (spec order: run.failed_steps's), then the finally steps in their
    own order, each waiting on its finally upstream only; their tasks raise no fail_fast flag, and run.status and
    run.failed_steps come from core's run_outcome, carried in the module."""
    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: closing
        fail_fast: true
        steps:
          report-in: {python: "m:f", after: [load]}
          load: {python: "m:f", outputs: {rows: integer}}
        finally:
          notify: {command: [notify, "${{ run.status }}"], after: [cleanup], trigger: all_done}
          cleanup: {python: "m:f", args: {rows: "${{ steps.load.outputs.rows }}", failed: "${{ run.failed_steps }}"}, retries: 1}
    """))
    source = module_source(graph)
    flow_def = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "closing_flow")
    assert [ast.unparse(statement) for statement in flow_def.body[1:]] == [
        "_load_future = _run.submit(_load_task, 'load')",
        "_report_in_future = _run.submit(_report_in_task, 'report-in', after=['load'])",
        "_run.wait_for_steps('report-in', 'load')",
        "_cleanup_future = _run.submit_finally(_cleanup_task, 'cleanup', _load_outputs=_load_future)",
        "_notify_future = _run.submit_finally(_notify_task, 'notify', after=['cleanup'], trigger='all_done')",
        "return _run.outcome()"]
    assert "\n\n    # finally: once every step above has ended, whatever its state\n    _run.wait_for_steps(" in source
    assert "_gate.run_failed_steps()" in source and "_gate.run_status()" in source and "\ndef run_outcome(" in source
    module = import_module(source, tmp_path)
    assert [len(module._load_task.on_failure_hooks), len(module._cleanup_task.on_failure_hooks)] == [1, 0]
    assert module._cleanup_task.retries == 1 and module._notify_task.name == "notify"


def test_the_flow_has_typed_parameters_with_their_defaults(tmp_path, spec_file):
    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: typed
        params:
          rows: 10
          rate: {type: number, default: 1}
          label: {type: string}
          on: {type: boolean, default: true}
          grid: {type: json, default: [1, 2]}
        steps:
          a: {python: "m:f", args: {x: "${{ params.rows }}"}}
    """))
    module = import_module(module_source(graph), tmp_path)
    signature = inspect.signature(module.typed_flow.fn)
    assert {name: (p.annotation, p.default) for name, p in signature.parameters.items()} == {
        "label": ("str", inspect.Parameter.empty), "rows": ("int", 10), "rate": ("float", 1.0),
        "on": ("bool", True), "grid": ("Any", [1, 2]),
    }


def test_retries_timeouts_and_resources_become_task_options(tmp_path, spec_file):
    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: options
        steps:
          train:
            python: "m:f"
            retries: {limit: 4, delay: 10s, factor: 3, max_delay: 1m}
            timeout: 90s
            resources: {cpu: 2, memory: 4Gi, gpu: 1}
            image: trainer:1
    """))
    task = import_module(module_source(graph), tmp_path)._train_task
    assert task.retries == 4
    assert task.retry_delay_seconds == [10.0, 30.0, 60.0, 60.0]  # min(10 * 3**k, 60): exact, no jitter
    assert task.retry_jitter_factor is None
    assert task.timeout_seconds == 90.0
    assert set(task.tags) == {"cpu", "cpu:2", "memory", "memory:4Gi", "gpu", "gpu:1", "image:trainer:1"}
    assert task.persist_result is True and task.result_serializer.type == "json"
    assert task.result_serializer.object_decoder is None  # plain JSON: a user's {"__class__": ...} stays data


def test_a_schedule_yields_a_deployment_prefect_accepts(tmp_path, spec_file):
    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: nightly
        schedule: {cron: "30 2 * * 1-5", timezone: Europe/Paris, concurrency: 2}
        steps:
          a: {python: "m:f"}
    """))
    deployment = import_module(module_source(graph), tmp_path).deployment()
    assert deployment.name == "nightly"
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 2 * * 1-5", "Europe/Paris")
    assert deployment.concurrency_limit == 2


def test_catchup_is_refused_with_its_place_in_the_spec(orch, spec_file):
    path = spec_file("""
        apiVersion: orch/v1
        name: nightly
        schedule: {cron: "0 2 * * *", catchup: true}
        steps:
          a: {python: "m:f"}
    """)
    code, out, err = orch("render", path, "--backend", "prefect")
    assert code == 2 and out == ""
    assert "pipeline.yaml:3" in err and "catchup" in err


def test_names_that_clash_with_python_or_the_runtime_still_make_a_module(tmp_path, spec_file):
    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: str
        params: {run: 1, items: [1], gate: x}
        steps:
          class: {python: "m:f", args: {a: "${{ params.run }}", b: "${{ params.gate }}"}, outputs: {v: integer}}
          run_python: {python: "m:f", foreach: "${{ params.items }}", args: {v: "${{ steps.class.outputs.v }}"}}
          flow: {command: [echo, "${{ params.items }}"], after: [run_python]}
    """))
    module = import_module(module_source(graph), tmp_path)
    assert list(inspect.signature(module.str_flow.fn).parameters) == ["run", "items", "gate"]  # the user's own names
    assert list(inspect.signature(module._class__task.fn).parameters) == ["_gate"]


def test_user_text_stays_data(tmp_path):
    """Quotes, backslashes, triple quotes and braces in names, descriptions and values never become code."""
    tricky = "\'\'\'\"\"\" {{ ds }} \\n \\"
    graph = parse_dict({
        "apiVersion": "orch/v1", "name": "quoting", "description": f"ends with {tricky}",
        "params": {"text": {"type": "string", "default": tricky}},
        "steps": {"a": {"command": ["printf", "%s", "${{ params.text }} and {x} " + tricky], "env": {"V": "{{workflow.name}}"}}},
    })
    module = import_module(module_source(graph), tmp_path)
    assert inspect.signature(module.quoting_flow.fn).parameters["text"].default == tricky
    assert module.__doc__.count(tricky) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_specs())
def test_generated_specs_render_modules_that_parse(generated):
    spec, _ = generated
    ast.parse(module_source(parse_dict(spec)))


def test_the_pipeline_comes_first_and_carries_only_the_helpers_it_calls():
    """After the imports (and what the decorators read), the tasks and the flow; then orch's helpers,
    bare (no docstrings), and only those the pipeline reaches: no fan-out code without a fan-out."""
    plain = module_source(load_spec(ROOT / "specs" / "ml-training.yaml"))
    tree = ast.parse(plain)
    order = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert order.index("_ingest_task") < order.index("ml_training_pipeline_flow") < order.index("Run") < order.index("Gate")
    assert plain.index("# ---- the pipeline ----") < plain.index("@task(") < plain.index("# ---- written by orch: how a step runs")
    helpers = tree.body[[getattr(n, "name", None) for n in tree.body].index("Run"):]
    assert not [n for h in helpers for n in ast.walk(h) if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(n)]
    assert "def fan_out" not in plain and "MAX_FOREACH_ITEMS" not in plain and "def call_command" not in plain
    sweep = module_source(load_spec(ROOT / "specs" / "hyperparameter-sweep.yaml"))
    assert "def fan_out" in sweep and "MAX_FOREACH_ITEMS" in sweep


def test_a_stdout_output_is_passed_to_the_command_runner():
    from orch.backends.airflow.render import dag_source

    graph = parse_dict({"apiVersion": "orch/v1", "name": "out", "steps": {
        "a": {"command": ["echo", "hi"], "outputs": {"said": {"type": "string", "from": "stdout"}, "n": "integer"}}}})
    for source in (module_source(graph), dag_source(graph)):
        calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "command"]
        assert [{k.arg: ast.literal_eval(k.value) for k in c.keywords if k.arg == "stdout"} for c in calls] == [{"stdout": "said"}]


def test_a_group_is_a_task_running_a_function_that_submits_its_steps(tmp_path, spec_file):
    """The group's task decides once, then `_gate.each` calls `_sweep_steps` per item, at most `parallelism` at a time:
    each step waits only for its own item's upstream steps, and a value from outside the group is handed in. Names
    inside a group (`_sweep_Train_task`) stay apart from a user's `sweep_train`, and the flow submits the group as a
    step."""
    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: shape
        params: {grid: {type: json, default: [1, 2]}}
        steps:
          prepare: {python: "m:f", outputs: {data: string}}
          sweep_train: {python: "m:f", outputs: {v: integer}}
          sweep:
            foreach: ${{ params.grid }}
            parallelism: 2
            steps:
              evaluate: {python: "m:f", args: {model: "${{ steps.train.outputs.model }}"}, when: item > 1, outputs: {score: number}}
              train: {python: "m:f", args: {lr: "${{ item }}", data: "${{ steps.prepare.outputs.data }}"}, outputs: {model: string}}
            outputs: {score: "${{ steps.evaluate.outputs.score }}"}
          pick: {python: "m:f", args: {scores: "${{ steps.sweep.outputs.score }}", v: "${{ steps.sweep_train.outputs.v }}"}}
    """))
    source = module_source(graph)
    functions = {n.name: n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}
    assert [ast.unparse(s) for s in functions["shape_flow"].body[1:-1]] == [
        "_prepare_future = _run.submit(_prepare_task, 'prepare')",
        "_sweep_train_future = _run.submit(_sweep_train_task, 'sweep_train')",
        "_sweep_future = _run.submit(_sweep_task, 'sweep', after=['prepare'], _prepare_outputs=_prepare_future)",
        "_pick_future = _run.submit(_pick_task, 'pick', after=['sweep_train', 'sweep'], _sweep_outputs=_sweep_future, "
        "_sweep_train_outputs=_sweep_train_future)"]
    assert ast.unparse(functions["_sweep_task"].body[-1]) == (
        "return _gate.each(_sweep_steps, _gate.param('grid'), outputs={'score': ('sweep.evaluate', 'score')}, "
        "parallelism=2, values={'_prepare_outputs': _prepare_outputs})")
    steps = functions["_sweep_steps"]
    assert [a.arg for a in steps.args.args] == ["_run", "_item", "_prepare_outputs"]
    assert [ast.unparse(s) for s in steps.body[1:]] == [  # train first: evaluate waits for it
        "_sweep_Train_future = _run.submit(_sweep_Train_task, 'sweep.train', _item=_item, _prepare_outputs=_prepare_outputs)",
        "_sweep_Evaluate_future = _run.submit(_sweep_Evaluate_task, 'sweep.evaluate', after=['sweep.train'], _item=_item, "
        "_sweep_Train_outputs=_sweep_Train_future)",
        "return _run.ended('sweep.evaluate', 'sweep.train')"]  # spec order: the first failure a group reports
    assert "_gate.compare(_item, '>', 1)" in ast.unparse(functions["_sweep_Evaluate_task"])
    module = import_module(source, tmp_path)
    assert (module._sweep_Train_task.name, module._sweep_train_task.name, module._sweep_task.name) == \
        ("sweep.train", "sweep_train", "sweep")
