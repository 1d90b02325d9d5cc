"""Rendered Airflow DAG files: they load in Airflow's DagBag with no import errors, need nothing of
orch, and say what the spec says -- for every example and conformance case, both targets."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orch.backends.airflow.render import dag_source
from orch.backends.airflow.run import airflow_env, airflow_home
from orch.backends.capabilities import check
from orch.core import load_spec, parse_spec
from orch.core.errors import SpecError

from ..conformance.test_cases import CASES as ALL_CASES
from ..conformance.test_cases import load_case

pytestmark = pytest.mark.xdist_group("airflow-render")  # its module fixture renders and loads every example: once

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "specs").glob("*.yaml"))
JINJA = re.compile(r"\{[{%#]")
PODS = EXAMPLES  # every example renders for --target kubernetes too, its artifacts as plain paths (E815 otherwise)


def graph_of(path: Path):
    return load_spec(path) if path in EXAMPLES else parse_spec(yaml.safe_dump(load_case(path)["spec"], allow_unicode=True))


CASES = [path for path in ALL_CASES if not check(graph_of(path), "airflow").refused]  # what orch renders for Airflow


def pod_graph(path: Path):
    """The example as a pod pipeline can run it today: its artifacts passed as paths (strings)."""
    return parse_spec(re.sub(r"\bartifact\b", "string", path.read_text(encoding="utf-8")), str(path))


def load_folder(folder: Path) -> dict:
    """What Airflow's DagBag makes of the DAG files in `folder` (in a child process, with orch unimportable)."""
    script = f"import sys; sys.modules['orch'] = None; sys.argv = ['load', {str(folder)!r}]; " \
             f"exec(open({str(Path(__file__).with_name('load_dags.py'))!r}).read())"
    done = subprocess.run([sys.executable, "-c", script], env=airflow_env(airflow_home(), ROOT), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


FINALLY = """
apiVersion: orch/v1
name: finally-shape
timeout: 1h
steps:
  a: {command: ["true"]}
  grid: {command: ["true"], foreach: [1, 2], after: [a]}
  side: {command: ["true"]}
finally:
  tidy: {command: ["true"], trigger: any_failed}
  each: {command: ["true"], foreach: [1, 2]}
  both: {command: ["true"], after: [tidy, each]}
  alert: {command: ["true"], after: [tidy], trigger: any_failed}
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Every example and case rendered for both targets, loaded once; and FINALLY."""
    folder = tmp_path_factory.mktemp("dags")
    (folder / "finally_shape.py").write_text(dag_source(parse_spec(FINALLY)), encoding="utf-8")
    for path in EXAMPLES + CASES:
        graph = graph_of(path)
        (folder / f"{path.stem.replace('-', '_')}_python.py").write_text(dag_source(graph), encoding="utf-8")
    for path in PODS:
        graph = pod_graph(path)
        source = dag_source(graph, "kubernetes").replace(f"dag_id={graph.pipeline.name!r}",
                                                         f"dag_id={graph.pipeline.name + '-pods'!r}")
        (folder / f"{path.stem.replace('-', '_')}_pods.py").write_text(source, encoding="utf-8")
    return folder, load_folder(folder)


def test_every_rendered_file_loads_without_import_errors(loaded):
    folder, found = loaded
    assert found["errors"] == {}
    expected = {graph_of(p).pipeline.name for p in EXAMPLES + CASES} | {load_spec(p).pipeline.name + "-pods" for p in PODS} \
        | {"finally-shape"}
    assert set(found["dags"]) == expected
    for path in folder.glob("*.py"):
        imports = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not any((getattr(n, "module", None) or n.names[0].name).startswith("orch") for n in imports), path


def test_tasks_carry_triggers_retries_and_timeouts(loaded):
    _, found = loaded
    tasks = found["dags"]["ml-training-pipeline"]["tasks"]
    assert tasks["train"]["retries"] == 2 and tasks["train"]["retry_policy"] == [30.0, 60.0]  # exact: min(30 * 2**k, 600)
    assert tasks["train"]["execution_timeout"] == 7200.0
    assert "Orch__verdict" not in tasks  # every step runs on all_success: a failure reaches each leaf
    handling = found["dags"]["failure-handling"]["tasks"]  # its cleanup and alert run after a failure
    assert sorted(handling["Orch__verdict"]["upstream"]) == sorted(set(handling) - {"Orch__verdict"})
    assert handling["Orch__verdict"]["trigger_rule"] == "all_done"
    single = found["dags"]["triggers-single-upstream"]["tasks"]
    assert {single[f"{prefix}-bad"]["trigger_rule"] for prefix in ("as", "nf", "ad", "af")} == {
        "all_success", "none_failed", "all_done", "one_failed"}
    joins = found["dags"]["triggers-joins"]["tasks"]  # over several upstream steps: judged in the task, once all ended
    assert {task["trigger_rule"] for name, task in joins.items() if len(task["upstream"]) > 1} <= {"all_done", "none_failed"}


def test_finally_steps_follow_every_step_and_the_verdict_follows_them_all(loaded):
    """A finally step with no finally upstream waits for every step's task, whatever happened (all_done); the
    others wait for their finally upstream alone, on Airflow's own rules (several: judged in the task). The
    verdict is the DAG's one leaf, so the run's state is the steps': a finally step never decides it."""
    _, found = loaded
    dag = found["dags"]["finally-shape"]
    tasks = dag["tasks"]
    steps = ["a", "grid", "side"]  # a fan-out's task is its collector, which ends after its items
    for root in ("tidy", "each__Items"):
        assert tasks[root]["upstream"] == steps and tasks[root]["trigger_rule"] == "all_done", root
    assert tasks["each__Item"]["upstream"] == ["each__Items"] and tasks["each"]["upstream"] == ["each__Item"]
    assert tasks["both"]["upstream"] == ["each", "tidy"] and tasks["both"]["trigger_rule"] == "all_done"  # judged
    assert tasks["alert"]["upstream"] == ["tidy"] and tasks["alert"]["trigger_rule"] == "one_failed"
    assert tasks["Orch__verdict"]["upstream"] == sorted(set(tasks) - {"Orch__verdict", "each__Items", "each__Item",
                                                                       "grid__Items", "grid__Item"})
    assert tasks["Orch__verdict"]["trigger_rule"] == "all_done"
    upstream_of_some = {up for task in tasks.values() for up in task["upstream"]}
    assert set(tasks) - upstream_of_some == {"Orch__verdict"}
    assert dag["dagrun_timeout"] is None  # a scheduler timing the run out would skip the finally steps
    assert found["dags"]["pipeline-timeout"]["dagrun_timeout"] == 3.0  # without finally steps, it has one
    source = dag_source(parse_spec(FINALLY))
    assert source.count("Step('each', **PIPELINE, final=True)") == 2  # its items and each item
    assert "Step('both', **PIPELINE, final=True, all_succeeded=['tidy', 'each'])" in source
    assert "STEPS = ['a', 'grid', 'side']" in source and "verdict(STEPS)" in source  # never the finally steps


def test_params_keep_their_types_and_the_schedule_its_timezone(loaded):
    _, found = loaded
    dag = found["dags"]["ml-training-pipeline"]
    assert dag["params"]["threshold"] == {"type": "number"} and dag["params"]["bucket"]["type"] == "string"
    assert "expression='0 2 * * *', timezone='UTC'" in dag["schedule"]
    assert dag["catchup"] is False and dag["max_active_runs"] == 1


def test_a_fan_out_maps_an_item_task_between_its_list_and_its_collector(loaded):
    _, found = loaded
    tasks = found["dags"]["hyperparameter-sweep"]["tasks"]
    assert tasks["train__Item"]["upstream"] == ["train__Items"]
    assert tasks["train"]["upstream"] == ["train__Item"] and tasks["train"]["trigger_rule"] == "all_done"


def test_groups_render_as_task_groups_and_a_fan_out_group_as_a_mapped_one(loaded):
    """A group is a TaskGroup (its tasks `group.step`, as orch names them) between its gate and its end, which sit
    beside it; a fan-out group is a mapped task group over its gate's item indexes, each step's task bounded by the
    group's parallelism; the dependents wait for the group's end, and the steps' triggers count their siblings."""
    _, found = loaded
    tasks = found["dags"]["group-fan-out"]["tasks"]
    assert {"body.pair", "body.label", "body__Gate", "body__Group"} <= set(tasks)
    for step in ("body.pair", "body.label"):
        assert tasks[step]["group"] == tasks[step]["mapped_group"] == "body"
        assert tasks[step]["max_active_tis_per_dagrun"] == 2
    assert tasks["body__Gate"]["group"] is None and tasks["body__Gate"]["upstream"] == ["base"]
    assert tasks["body.pair"]["upstream"] == ["body__Gate"]
    assert tasks["body.label"]["upstream"] == ["body.pair", "body__Gate"]
    assert tasks["body__Group"]["upstream"] == ["body.label", "body.pair"]
    assert tasks["body__Group"]["trigger_rule"] == "all_done" and tasks["body__Group"]["mapped_group"] is None
    assert tasks["total"]["upstream"] == ["body__Group"]
    skipped = found["dags"]["group-skipped"]["tasks"]
    assert skipped["skipped-group.a"]["group"] == "skipped-group" and skipped["skipped-group.a"]["mapped_group"] is None
    assert skipped["skipped-group.b"]["trigger_rule"] == "all_done"  # its trigger counts `a`; the gate is checked inside
    assert skipped["cleanup-group__Gate"]["trigger_rule"] == "all_done" and skipped["cleanup-group__Gate"]["upstream"] == ["breaks"]
    assert skipped["normal-group.never"]["upstream"] == ["normal-group__Gate"]
    assert skipped["joins"]["upstream"] == ["skipped-group__Group"]


def test_a_groups_dotted_names_and_a_users_underscored_ones_render_apart(tmp_path):
    """`a.b` (step b in group a) is Airflow's own task id of b in TaskGroup a; a user's `a_b`, or a step named like
    the group's helper tasks, stays another task."""
    spec = """
apiVersion: orch/v1
name: names
steps:
  a:
    foreach: [1, 2]
    steps:
      b: {command: ["true"]}
      b_0: {command: ["true"]}
  a_b: {command: ["true"]}
  a__gate: {command: ["true"]}
  a__group: {command: ["true"], after: [a]}
"""
    (tmp_path / "names_dag.py").write_text(dag_source(parse_spec(spec)), encoding="utf-8")
    tasks = load_folder(tmp_path)["dags"]["names"]["tasks"]
    assert set(tasks) == {"a.b", "a.b_0", "a_b", "a__gate", "a__group", "a__Gate", "a__Group"}
    assert tasks["a__group"]["upstream"] == ["a__Group"]


def test_what_a_mapped_task_group_cannot_hold_is_refused_where_it_is_written():
    """Airflow 3 maps no task group inside a mapped one; a fan-out step or a plain group inside one, and a group
    with pod tasks, are not rendered yet: each refused (E832) at its own line."""
    nested = parse_spec(yaml.safe_dump(load_case(ROOT / "tests/conformance/cases/group-nested-fan-out.yaml")["spec"]))
    refused = check(nested, "airflow").refused
    assert [(d.code, d.path[-1]) for d in refused] == [("E832", "foreach"), ("E832", "inner")]
    assert "Nested Mapped TaskGroups are not yet supported" in refused[1].message
    pods = parse_spec("apiVersion: orch/v1\nname: p\nsteps:\n  g:\n    steps:\n      s: {command: ['true'], image: alpine}\n")
    with pytest.raises(SpecError) as raised:
        dag_source(pods, "kubernetes")
    assert "E832" in str(raised.value) and "--target kubernetes" in str(raised.value)


def test_the_kubernetes_target_makes_pods_with_gpu_limits_and_no_jinja_in_user_text(loaded):
    _, found = loaded
    tasks = found["dags"]["ml-training-pipeline-pods"]["tasks"]
    assert tasks["train"]["type"] == "KubernetesPodOperator"
    assert "'nvidia.com/gpu': '1'" in tasks["train"]["resources"] and "'memory': '16Gi'" in tasks["train"]["resources"]
    for task in tasks.values():
        if task["type"] == "KubernetesPodOperator":
            assert not JINJA.search(task["env"]["ORCH_PAYLOAD"])  # user text: never a Jinja tag
            assert all(value.startswith("{{") for key, value in task["env"].items() if key.startswith("ORCH_R"))


def test_user_text_stays_data(tmp_path):
    tricky = "'''\"\"\" {{ ds }} {% if x %} {# c #} \\n \\"
    graph = parse_spec(yaml.safe_dump({
        "apiVersion": "orch/v1", "name": "quoting", "description": f"ends with {tricky}",
        "params": {"text": {"type": "string", "default": tricky}},
        "steps": {"a": {"command": ["printf", "%s", "${{ params.text }} " + tricky], "image": "x:1"}},
    }))
    for target in ("python", "kubernetes"):
        tree = ast.parse(dag_source(graph, target))
        assert ast.get_docstring(tree).count(tricky) == 1
        assert tricky in {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}


def test_steps_named_like_orchs_own_tasks_render_apart(orch, spec_file, tmp_path):
    """orch's own task ids hold a capital letter, which no step's name can: any valid name renders."""
    path = spec_file("""
        apiVersion: orch/v1
        name: p
        steps:
          orch__verdict: {command: ["true"]}
          b: {command: ["true"], foreach: [1]}
          b__items: {command: ["true"]}
          b__item: {command: ["true"]}
          cleanup: {command: ["true"], after: [b], trigger: all_done}
    """)
    code, out, err = orch("render", path, "--backend", "airflow", "-o", tmp_path / "out")
    assert code == 0, err
    tree = ast.parse((tmp_path / "out" / "p_dag.py").read_text())
    ids = {k.value.value for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "task_id"}
    assert {"orch__verdict", "Orch__verdict", "b__items", "b__Items", "b__item", "b__Item", "b"} <= ids


HOSTILE = ["{{ ds }}", "{{workflow.name}}", "{{", "a{", "{% raw %}", "{% endraw %}", "{# c #}", "it's \"quoted\" \\",
           "line\nbreak\n", "cr\r\nlf", "naïve ☃", "x}}", ""]
RENDER = """
import json, sys
from types import SimpleNamespace
from airflow.dag_processing.dagbag import DagBag
task = DagBag(dag_folder=sys.argv[1]).dags["hostile"].get_task("pod")
xcom = {"up": json.dumps({"text": "v{{ ds }}'", "n": 3, "data": {"k": [1]}}), "gone": None}
ti = SimpleNamespace(xcom_pull=lambda task_ids: xcom[task_ids])
run = SimpleNamespace(logical_date=None, run_after=__import__("datetime").datetime(2026, 5, 4, 23, tzinfo=__import__("datetime").timezone.utc))
task.render_template_fields({"params": {"s": "{{ p }}", "n": 2, "j": {"a": "<&>"}}, "ti": ti, "run_id": "r{{1}}", "dag_run": run})
print(json.dumps({"argv": task.cmds + task.arguments, "env": {e.name: e.value for e in task.env_vars}}))
"""


def test_a_command_pod_runs_its_argv_byte_for_byte_through_airflows_jinja(tmp_path):
    """A plain container: cmds/arguments are the argv as Airflow renders them, no bootstrap, literal text
    untouched by Jinja, each reference as the text a command gets everywhere (null: empty)."""
    refs = "${{ params.s }}|${{ params.n }}|${{ params.j }}|${{ steps.up.outputs.text }}|${{ steps.up.outputs.n }}|" \
           "${{ steps.up.outputs.data }}|${{ steps.gone.outputs.text }}|${{ run.id }}|${{ run.date }}"
    graph = parse_spec(yaml.safe_dump({
        "apiVersion": "orch/v1", "name": "hostile",
        "params": {"s": {"type": "string", "default": "x"}, "n": {"type": "number", "default": 1}, "j": {"type": "json", "default": {}}},
        "steps": {
            "up": {"python": "m:f", "outputs": {"text": "string", "n": "integer", "data": "json"}},
            "gone": {"python": "m:f", "outputs": {"text": "string"}},
            "pod": {"image": "busybox:1", "command": HOSTILE + [refs, "{" + refs + "{"] + [f"<{h}${{{{ params.s }}}}{h}>" for h in HOSTILE],
                    "env": {"A": "{{ ds }}${{ params.s }}{% endraw %}", "B": "{%"}, "trigger": "all_done"},
        }}, allow_unicode=True))
    source = dag_source(graph, "kubernetes")
    assert "BOOTSTRAP" not in source.split("def _pod_may_start")[1].split("@task")[0]
    (tmp_path / "hostile_dag.py").write_text(source, encoding="utf-8")
    script = f"import sys; sys.modules['orch'] = None; sys.argv = ['x', {str(tmp_path)!r}]; exec({RENDER!r})"
    done = subprocess.run([sys.executable, "-c", script], env=airflow_env(airflow_home(), ROOT), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    values = '{{ p }}|2.0|{"a": "<&>"}|' + "v{{ ds }}'|3|" + '{"k": [1]}||r{{1}}|2026-05-04'
    assert got["argv"] == HOSTILE + [values, "{" + values + "{"] + [f"<{h}{{{{ p }}}}{h}>" for h in HOSTILE]
    assert got["env"] == {"A": "{{ ds }}{{ p }}{% endraw %}", "B": "{%"}


def test_command_pods_with_outputs_render_as_command_pods(loaded):
    """Their outputs come back through the XCom sidecar (tests/airflow/test_kubernetes_outputs.py)."""
    _, found = loaded
    tasks = found["dags"]["shell-pipeline-pods"]["tasks"]
    for name in ("split", "count", "top-word"):
        assert tasks[name]["type"] == "CommandPod" and tasks[name]["env"]["ORCH_OUTPUTS"] == "/airflow/xcom"
    assert tasks["report"]["type"] == "KubernetesPodOperator" and "ORCH_OUTPUTS" not in tasks["report"]["env"]


def test_the_dag_comes_first_and_is_made_last():
    source = dag_source(load_spec(ROOT / "specs" / "ml-training.yaml"))
    assert source.index("def ml_training_pipeline_dag():") < source.index("# ---- written by orch: how a step runs") \
        < source.index("\nclass Step:") < source.index("\nml_training_pipeline_dag()")
    assert "def fan_out" not in source and "def collect" not in source and '"""' not in source.split("\nclass Step:")[1]


def test_a_python_pod_reads_the_run_date_as_every_task_does():
    """The logical date (else when the run was made), in UTC: the macro the command pods and tasks use."""
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "dated", "steps": {
        "a": {"python": "pkg.m:f", "args": {"day": "${{ run.date }}"}, "image": "x:1"}}}))
    source = dag_source(graph, "kubernetes")
    assert "{{ orch_date(dag_run) }}" in source and "run_after.strftime" not in source
    assert "user_defined_macros=MACROS" in source and "def date_text(" in source


FINAL_PODS = """
import json, sys
from types import SimpleNamespace
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags["final-pods"]
states = {"r": {"a": "failed", "b": "failed", "c": "success"}}
stopped = {("b", "orch_status"): "upstream_failed"}  # stopped before running: upstream_failed, not failed
ti = SimpleNamespace(dag_id="final-pods", run_id="r", get_task_states=lambda **_: states,
                     xcom_pull=lambda task_ids, key=None: stopped.get((task_ids, key)))
got = {}
for name in ("say", "py"):
    task = dag.get_task(name)
    task.render_template_fields({"ti": ti, "run_id": "r", "params": {}})
    got[name] = {"argv": task.cmds[:1] + task.arguments, "env": {e.name: e.value for e in task.env_vars or []},
                 "trigger_rule": task.trigger_rule}
print(json.dumps(got))
"""


def test_a_finally_pod_reads_the_runs_status_and_failed_steps_through_airflows_jinja(tmp_path):
    """On --target kubernetes a finally step with an image is a pod like any step's: run.status and
    run.failed_steps are macros reading the steps' states as its task would (a stopped step is not failed)."""
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "final-pods", "steps": {
        "a": {"command": ["false"], "image": "busybox:1"}, "b": {"command": ["true"], "after": ["a"]},
        "c": {"python": "m:f"}}, "finally": {
        "say": {"command": ["echo", "${{ run.status }}", "${{ run.failed_steps }}"], "image": "busybox:1"},
        "py": {"python": "m:g", "args": {"failed": "${{ run.failed_steps }}", "status": "${{ run.status }}"},
               "image": "x:1", "after": ["say"]}}}))
    source = dag_source(graph, "kubernetes")
    (tmp_path / "final_pods_dag.py").write_text(source, encoding="utf-8")
    script = f"import sys; sys.modules['orch'] = None; sys.argv = ['x', {str(tmp_path)!r}]; exec({FINAL_PODS!r})"
    done = subprocess.run([sys.executable, "-c", script], env=airflow_env(airflow_home(), ROOT), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["say"]["argv"] == ["echo", "failed", '["a"]'] and got["say"]["trigger_rule"] == "all_done"
    env = got["py"]["env"]
    assert [env["ORCH_R0"], env["ORCH_R1"]] == ['["a"]', "failed"]
    refs = json.loads(env["ORCH_PAYLOAD"])["refs"]
    assert refs == [{"kind": "output"}, {"kind": "run"}]  # failed_steps arrives as JSON text: a list for the function
    assert "Step('say', **PIPELINE, final=True)" in source and "Step('py', **PIPELINE, final=True)" in source
