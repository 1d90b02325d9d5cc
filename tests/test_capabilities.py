"""The capability table: `orch render` reports every gap at once, located, before writing anything;
the support matrix (`orch backends --matrix`, docs/backends.md) is the same table."""

import re

import pytest

from orch.backends import capabilities
from orch.backends.capabilities import FEATURES, check
from orch.core.graph import PipelineGraph
from orch.core.load import load_spec
from orch.core.spec import Pipeline

from .conftest import ROOT

GAPS = """
    apiVersion: orch/v1
    name: gaps
    params:
      tmpl: {type: string, default: "a {{ b }}"}
    schedule: {cron: "0 2 * * *", catchup: true, concurrency: 2}
    defaults:
      retries: {limit: 2, delay: 1s, factor: 1.5}
    labels: {team: ml}
    steps:
      fan:
        command: [sh, -c, 'echo 1 > $ORCH_OUTPUTS/n']
        foreach: [1, 2]
        outputs: {n: number}
      num:
        command: [sh, -c, 'echo 1.50 > $ORCH_OUTPUTS/v']
        outputs: {v: number}
        timeout: 0.5s
      use:
        command: [echo, "${{ steps.fan.outputs.n }}", "${{ steps.num.outputs.v }}"]
        resources: {cpu: 1}
        image: alpine:3
"""


def test_argo_render_reports_every_refusal_at_once_located_and_writes_nothing(orch, spec_file, tmp_path):
    path = spec_file(GAPS)
    code, out, err = orch("render", path, "--backend", "argo", "--out", tmp_path / "out")
    assert code == 2 and out == ""
    assert not (tmp_path / "out").exists()
    errors = re.findall(r"^(\S+):(\d+):(\d+): error\[(E\d+)\] (\S+):", err, re.M)
    assert {(line, col, code, field) for _, line, col, code, field in errors} == {
        ("4", "33", "E807", "params.tmpl.default"),
        ("5", "40", "E809", "schedule.catchup"),
        ("7", "42", "E801", "defaults.retries.factor"),  # inherited by three steps, said once where it is written
        ("17", "14", "E802", "steps.num.timeout"),
        ("19", "22", "E823", "steps.use.command[1]"),  # at the reference itself
    }
    assert {file for file, *_ in errors} == {str(path)}
    assert "5 errors found" in err
    assert re.search(r":5:59: warning\[W858\] schedule.concurrency: approximated on argo", err)  # Allow, unbounded
    assert re.search(r":19:52: warning\[W835\] steps.use.command\[2\]: approximated on argo", err)  # said too


def test_a_run_is_refused_for_the_same_gaps_before_anything_is_submitted(orch, spec_file, monkeypatch):
    monkeypatch.setenv("ARGO_SERVER", "127.0.0.1:9")  # nothing listens: a run that got past the check would say so
    code, out, err = orch("run", spec_file(GAPS), "--backend", "argo")
    assert code == 2 and out == ""
    assert sorted(re.findall(r"error\[(E\d+)\]", err)) == ["E801", "E802", "E807", "E809", "E823"]
    assert "warning[W835]" in err and "127.0.0.1:9" not in err


def test_approximations_are_located_warnings_and_the_render_still_writes(orch, spec_file, tmp_path):
    path = spec_file(GAPS.replace("catchup: true", "catchup: false"))
    code, out, err = orch("render", path, "--backend", "prefect", "--out", tmp_path / "out")
    assert code == 0, err
    assert out == f"wrote {tmp_path / 'out' / 'gaps_flow.py'}\n"
    warnings = re.findall(r"^\S+:(\d+):\d+: warning\[(W\d+)\] (\S+): approximated on prefect", err, re.M)
    assert warnings == [("8", "W859", "labels"), ("20", "W843", "steps.use.resources"), ("21", "W844", "steps.use.image")]
    assert "error" not in err
    code, out, err2 = orch("render", path, "--backend", "prefect")  # the files on stdout: no warning among them
    assert code == 0 and err2 == err and "warning" not in out and out.startswith('"""gaps: a Prefect 3 flow')


def test_airflow_kubernetes_target_judges_pods_and_python_tasks_apart(spec_file):
    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: p
        steps:
          pod: {command: ["true"], image: "alpine:3", resources: {cpu: 1}, foreach: [1, 2]}
          task: {command: ["true"], resources: {cpu: 1}}
    """))
    report = check(graph, "airflow", "kubernetes")
    assert [(d.code, d.field) for d in report.refused] == [("E812", "steps.pod.foreach")]
    assert [(d.code, d.field) for d in report.approximated] == [("W843", "steps.task.resources")]
    python = check(graph, "airflow")
    assert python.refused == [] and {d.field for d in python.approximated} == {
        "steps.pod.resources", "steps.task.resources", "steps.pod.image"}


def test_a_pipeline_built_in_python_is_checked_too_unlocated():
    pipeline = Pipeline.model_validate({"name": "p", "steps": {"a": {"python": "m:f", "timeout": 0.25}}})
    report = check(PipelineGraph(pipeline), "argo")
    assert [(d.code, d.field, d.line) for d in report.refused] == [("E802", "steps.a.timeout", None)]
    assert check(PipelineGraph(pipeline), "someone-elses-backend").refused == []


def test_the_check_refuses_what_the_argo_renderer_refuses_with_its_codes_and_messages(spec_file):
    pytest.importorskip("hera")
    from orch.backends.argo.render import render
    from orch.core.errors import SpecError

    graph = load_spec(spec_file(GAPS.replace("${{ steps.fan.outputs.n }}", "x").replace(
        "retries: {limit: 2, delay: 1s, factor: 1.5}", "image: alpine:3").replace(
        "timeout: 0.5s", "timeout: 0.5s\n        retries: {limit: 1, delay: 1s, factor: 2.5}")))
    with pytest.raises(SpecError) as error:
        render(graph)
    said = {(d.code, d.message, d.field) for d in error.value.diagnostics}
    assert said == {(d.code, d.message, d.field) for d in check(graph, "argo").refused}
    assert {code for code, _, _ in said} == {"E801", "E802", "E807", "E809"}


def test_the_matrix_prints(orch):
    code, out, err = orch("backends", "--matrix")
    assert (code, err) == (0, "")
    assert "feature" in out and "airflow" in out and "refused" in out and "E801" in out and "[1] " in out
    code, out, _ = orch("backends", "--matrix", "--markdown")
    assert code == 0 and out == capabilities.markdown()
    assert out.startswith("| feature | local | argo | prefect | airflow | airflow --target kubernetes |\n|---|")


def test_the_docs_show_the_current_matrix():
    text = (ROOT / "docs" / "backends.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- matrix:start[^\n]*-->\n(.*?)<!-- matrix:end -->", text, re.S)
    assert block, "docs/backends.md lost its matrix markers"
    assert block.group(1) == capabilities.markdown(), \
        "docs/backends.md: paste `orch backends --matrix --markdown` between the matrix markers"


def test_every_render_time_refusal_has_a_row():
    raised = set()
    for backend in ("argo", "airflow", "prefect"):
        for source in (ROOT / "backends" / backend).glob("*.py"):
            raised |= set(re.findall(r'Diagnostic\(\s*"(E8\d\d)"', source.read_text(encoding="utf-8")))
    assert {"E801", "E806", "E803"} <= raised  # the grep does find them (Airflow's pod target asks the table itself)
    rows = {support.code for feature in FEATURES for support in feature.support.values()}
    assert raised <= rows, f"refused by a renderer but missing from backends/capabilities.py: {sorted(raised - rows)}"


def test_the_table_is_well_formed():
    assert len({f.id for f in FEATURES}) == len(FEATURES) and len({f.code for f in FEATURES}) == len(FEATURES)
    for feature in FEATURES:
        assert set(feature.support) <= set(capabilities.COLUMNS), feature.id
        for support in feature.support.values():
            assert support.level in ("exact", "approximated", "refused")
            assert (support.level == "refused") == (support.code is not None), feature.id
            assert support.level == "exact" or support.note, feature.id


def test_the_table_imports_no_engine():
    from .test_import_isolation import loaded_after

    assert not loaded_after("import orch.backends.capabilities") & {"prefect", "airflow", "hera", "networkx"}


def test_command_steps_past_a_template_each_on_argo_are_warned_once_that_the_image_needs_python3():
    import yaml

    from orch.core import parse_spec

    def report(steps: int):
        body = {f"s{i}": {"command": ["echo", str(i)], "image": "busybox:1.36"} for i in range(steps)}
        return check(parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": body})), "argo")

    assert [d.code for d in report(190).approximated] == []  # a plain container each
    (warning,) = report(191).approximated
    assert warning.code == "W862" and warning.field == "steps" and "python3" in warning.message


def test_a_step_reading_more_outputs_than_an_argo_template_takes_is_refused_where_it_is(orch, spec_file, tmp_path):
    import yaml

    outputs = {f"o{i}": "string" for i in range(501)}
    reads = {name: f"${{{{ steps.a.outputs.{name} }}}}" for name in outputs}
    path = spec_file(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": {
        "a": {"python": "m:f", "outputs": outputs}, "b": {"python": "m:g", "args": reads}}}))
    code, out, err = orch("render", path, "--backend", "argo", "--out", tmp_path / "out")
    assert code == 2 and not (tmp_path / "out").exists()
    assert re.search(r":\d+:\d+: error\[E824\] steps.b: step 'b' would take 501 input parameters on Argo; a template holds at most 500", err)
    assert orch("render", path, "--backend", "prefect", "--out", tmp_path / "prefect")[0] == 0  # Argo's bound only
    code, _, err = orch("run", path, "--backend", "argo")  # said before any server is asked (none is set)
    assert code == 2 and "error[E824] steps.b:" in err


def test_a_stdout_output_of_a_step_run_by_orchs_runner_on_argo_is_refused_at_its_from():
    import yaml

    from orch.core import parse_spec

    def refused(steps: dict) -> list:
        spec = {"apiVersion": "orch/v1", "name": "p", "params": {"xs": {"type": "json", "default": [1]}}, "steps": steps}
        return [(d.code, d.field) for d in check(parse_spec(yaml.safe_dump(spec)), "argo").refused]

    stdout = {"s": {"type": "string", "from": "stdout"}}
    assert refused({"a": {"command": ["echo"], "foreach": "${{ params.xs }}", "outputs": stdout}}) == \
        [("E825", "steps.a.outputs.s.from")]
    assert refused({"a": {"command": ["echo"], "foreach": [1, 2], "outputs": stdout}}) == []  # a plain container
    big = {f"s{i}": {"command": ["true"]} for i in range(195)} | {"a": {"command": ["echo"], "outputs": stdout}}
    assert refused(big) == [("E825", "steps.a.outputs.s.from")]


def test_airflows_pod_target_refuses_what_the_table_refuses_in_its_words():
    from orch.backends.airflow.render import dag_source
    from orch.core import parse_spec
    from orch.core.errors import SpecError

    graph = parse_spec("apiVersion: orch/v1\nname: p\nsteps:\n  pod: {command: [x], image: 'a:1', foreach: [1, 2]}\n")
    with pytest.raises(SpecError) as raised:
        dag_source(graph, "kubernetes")
    assert raised.value.diagnostics == check(graph, "airflow", "kubernetes").refused
    assert [(d.code, d.message) for d in raised.value.diagnostics] == [
        ("E812", "step 'pod': a fan-out with an image cannot be rendered for --target kubernetes yet")]
