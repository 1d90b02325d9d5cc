"""`orch import argo`: hand-written manifests (tests/argo/import_cases/, in Argo's style) imported into specs
that validate and render on every backend, with every field accounted for and the expected fates, and the
behaviour check's verdicts; refusals of what is not a pipeline, located."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orch.backends.argo.importer import import_
from orch.backends.argo.importer.retries import argo_delays, delays
from orch.core.errors import SpecError
from orch.core.fidelity import APPROXIMATED, MAPPED, UNSUPPORTED, leaves, path_text
from orch.core.load import parse_spec

CASES = Path(__file__).parent / "import_cases"
ALL = sorted(CASES.glob("*.yaml"))

# case -> (unsupported paths, whether the behaviour check agrees)
EXPECTED = {
    "container-set": ((), True),
    "cron-artifacts": ((), True),
    "dag-params-when": ((), False),
    "hooks": ((), True),
    "http": ((), True),  # each task's exit hook a finally step run when the task ran  # score.Failed read as any_failed: Argo omits alert when score never ran
    "loops": ((), True),
    "nested-exit": ((), False),  # a failed exit handler fails Argo's run, never orch's
    "retries": ((), True),  # Argo's default policy does not retry errors: nor does orch's retries.on: failure
    "steps-groups": ((), True),
    "template-ref": ((), True),
    "policies": ((), True),
    "resources": ((), True),
    "unsupported": (("spec.volumeClaimTemplates", "spec.templates[1].http", "spec.templates[2].inputs.artifacts[0]",
                     "spec.templates[2].sidecars"), True),
}


def one(case: str):
    [imported] = import_(CASES / f"{case}.yaml")
    return imported


def test_every_case_has_its_expectation():
    assert sorted(EXPECTED) == [p.stem for p in ALL]


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_a_case_imports_to_a_spec_that_validates_and_renders_everywhere(case):
    from orch.backends.airflow.render import render as airflow
    from orch.backends.argo.render import render as argo
    from orch.backends.prefect.render import render as prefect

    imported = one(case)
    graph = parse_spec(imported.text)
    assert graph.pipeline.name == imported.name
    for render in (argo, airflow, prefect):
        assert render(graph), render


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_a_case_reports_what_was_expected(case):
    report = one(case).report
    unsupported, agrees = EXPECTED[case]
    assert tuple(e.path for e in report.entries if e.status == UNSUPPORTED) == unsupported
    assert report.behaviour.plays == 64
    assert report.behaviour.checked is agrees, report.behaviour.differences[:3]
    assert all(e.line for e in report.entries), "every entry is located"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_nothing_is_dropped_silently(path):
    """Every key of the manifest is covered by an entry for it or for a field above it."""
    report = one(path.stem).report
    recorded = {e.path for e in report.entries}
    [document] = [d for d in yaml.safe_load_all(path.read_text()) if d["spec"].get("entrypoint")
                  or d["kind"] == "CronWorkflow"]  # a WorkflowTemplate without one is a library, not imported
    for leaf in leaves(document):
        covering = [path_text(leaf[:i]) for i in range(len(leaf), 0, -1)]
        assert any(c in recorded for c in covering), path_text(leaf)


def test_a_steps_template_runs_its_groups_in_sequence():
    steps = yaml.safe_load(one("steps-groups").text)["steps"]
    assert "after" not in steps["flip"]
    assert steps["heads"]["after"] == steps["tails"]["after"] == ["flip"]
    assert steps["done"]["after"] == ["heads", "tails"] and steps["done"]["trigger"] == "none_failed"
    assert steps["heads"]["when"] == "steps.flip.outputs.result == 'heads'"
    assert steps["flip"]["outputs"] == {"result": {"type": "string", "from": "stdout"}}


def test_a_script_runs_its_source_as_a_file_after_command_and_args():
    flip = yaml.safe_load(one("steps-groups").text)["steps"]["flip"]
    shell, source, argv = flip["command"][2], flip["command"][4], flip["command"][5:]
    assert flip["command"][:2] == ["sh", "-c"] and argv == ["python"]
    assert 'printf %s "$1" > "$script"' in shell and '"$@" "$script"' in shell
    assert source.startswith("import random")


def test_tags_become_references_and_outputs_are_copied_from_their_paths():
    spec = yaml.safe_load(one("dag-params-when").text)
    prepare, score, publish = (spec["steps"][n] for n in ("prepare", "score", "publish"))
    assert spec["params"] == {"dataset": {"type": "string", "default": "s3://bucket/data.csv"},
                              "threshold": {"type": "string", "default": "80"}}
    assert prepare["command"][-1] == "echo reading ${{ params.dataset }}; echo 1200 > /tmp/rows"
    assert "cp '/tmp/rows' \"$ORCH_OUTPUTS/rows\"" in prepare["command"][2]
    assert prepare["outputs"] == {"rows": {"type": "string"}}
    assert publish["when"] == "steps.score.outputs.result > 80"
    assert score["outputs"] == {"result": {"type": "integer", "from": "stdout"}}  # compared with a number
    assert publish["command"] == ["echo", "publishing ${{ steps.prepare.outputs.rows }} rows"]
    assert spec["steps"]["alert"]["trigger"] == "any_failed"
    assert prepare["env"] == {"LOG_LEVEL": "debug", "TOKEN": {"secret": "hf-token", "key": "token"}}
    assert prepare["resources"] == {"cpu": "500m", "memory": "1Gi"}
    assert prepare["kubernetes"]["limits"] == {"memory": "2Gi"}
    assert prepare["kubernetes"]["node_selector"] == {"pool": "cpu"}
    assert prepare["kubernetes"]["service_account"] == "trainer"
    assert spec["timeout"] == 3600 and spec["fail_fast"] is True
    assert spec["name"] == "train-and-gate"


def test_loops_become_foreach():
    steps = yaml.safe_load(one("loops").text)["steps"]
    assert steps["each-item"]["foreach"] == ["a", "b", "c"]
    assert steps["each-line"]["foreach"] == "${{ steps.list.outputs.result }}"
    assert steps["list"]["outputs"]["result"] == {"type": "json", "from": "stdout"}
    assert steps["each-number"]["foreach"] == ["0", "1", "2"]


def test_a_nested_dag_is_a_group_with_its_outputs_and_the_exit_handler_a_finally_step():
    imported = one("nested-exit")
    spec = yaml.safe_load(imported.text)
    build = spec["steps"]["build"]
    assert set(build["steps"]) == {"compile", "test"}
    assert build["outputs"] == {"version": "${{ steps.compile.outputs.version }}"}
    assert spec["steps"]["report"]["command"] == ["echo", "${{ steps.build.outputs.version }}"]
    assert spec["finally"]["notify"]["command"] == ["echo", "run ended: ${{ run.status }}"]
    differences = imported.report.behaviour.differences
    assert differences and all("the run: Failed in the source, succeeded in the spec" in d for d in differences)


def test_retry_delays_are_compared_number_by_number():
    imported = one("retries")
    flaky = yaml.safe_load(imported.text)["steps"]["flaky"]
    assert flaky["retries"] == {"limit": 3, "delay": 10, "factor": 3, "max_delay": 300}
    backoff = {"duration": "10s", "factor": 3, "cap": "5m"}
    assert delays(flaky["retries"], 3) == argo_delays(backoff, 3) == [10, 30, 90]
    assert delays(flaky["retries"], 6) == argo_delays(backoff, 6) == [10, 30, 90, 270, 300, 300]
    entries = {e.path: e for e in imported.report.entries}
    assert entries["spec.templates[1].retryStrategy.retryPolicy"].status == MAPPED
    policy = entries["spec.templates[2].retryStrategy"]  # OnFailure, Argo's default: exactly retries.on: failure
    assert policy.status == MAPPED and policy.target == "retries.on" and "(Argo default)" in policy.note
    assert yaml.safe_load(imported.text)["steps"]["default-policy"]["retries"]["on"] == "failure"
    max_duration = entries["spec.templates[2].retryStrategy.backoff.maxDuration"]
    assert max_duration.status == APPROXIMATED and "60s, 120s" in max_duration.note
    assert imported.report.behaviour.checked and not imported.report.behaviour.differences


def test_each_approximation_is_commented_above_the_field_it_concerns():
    text = one("retries").text
    lines = text.splitlines()
    at = lines.index("    retries: {limit: 2, delay: 60, factor: 2, 'on': failure}")
    assert lines[at - 1].startswith("    # maxDuration 600s is a deadline")
    assert "# " not in "\n".join(lines[1:at - 1])  # the exact ones carry none


def test_the_cron_schedule_and_the_artifact_hand_over():
    spec = yaml.safe_load(one("cron-artifacts").text)
    assert spec["schedule"] == {"cron": "0 2 * * *", "timezone": "Europe/Berlin", "concurrency": 1}
    read = spec["steps"]["read"]
    assert "cp -r '${{ steps.make.outputs.report }}' '/in/report.txt'" in read["command"][2]
    assert spec["steps"]["make"]["outputs"] == {"report": {"type": "artifact"}}


def test_template_refs_inline_templates_a_target_and_template_defaults():
    imported = one("template-ref")
    steps = yaml.safe_load(imported.text)["steps"]
    assert list(steps) == ["greet-world", "greet-team"]  # `never` is no target's ancestor: Argo never runs it
    assert steps["greet-world"]["command"] == ["echo", "hello world"]  # the WorkflowTemplate's input default
    assert steps["greet-team"]["command"] == ["echo", "hello team"]
    assert steps["greet-team"]["kubernetes"] == {"node_selector": {"pool": "small"}}  # from templateDefaults
    entries = {e.path: e for e in imported.report.entries}
    ref = entries["spec.templates[0].dag.tasks[0].templateRef"]
    assert ref.status == MAPPED and "WorkflowTemplate 'shared-steps'" in ref.note


def test_a_template_ref_to_what_was_not_imported_is_refused_in_the_report(tmp_path):
    text = (CASES / "template-ref.yaml").read_text().split("---\n", 1)[1]
    (tmp_path / "alone.yaml").write_text(text)
    [imported] = import_(tmp_path / "alone.yaml")
    unsupported = [e for e in imported.report.entries if e.status == UNSUPPORTED]
    assert [e.path for e in unsupported] == ["spec.templates[0].dag.tasks[0]", "spec.templates[0].dag.tasks[1]"]
    assert "import its file alongside" in unsupported[0].note


NESTED_LOOPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: nested-loops}
spec:
  entrypoint: outer
  templates:
  - name: outer
    steps:
    - - name: row
        template: inner
        arguments: {parameters: [{name: row, value: "{{item}}"}]}
        withItems: [1, 2]
  - name: inner
    inputs: {parameters: [{name: row}]}
    steps:
    - - name: cell
        template: echo
        arguments: {parameters: [{name: text, value: "{{inputs.parameters.row}}-{{item}}"}]}
        withItems: [a, b]
  - name: echo
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
"""


def test_an_outer_loops_item_inside_an_inner_loop_is_refused_not_confused(tmp_path):
    """orch's ${{ item }} is the innermost fan-out's: the outer item cannot be written inside the inner loop."""
    (tmp_path / "nested.yaml").write_text(NESTED_LOOPS)
    [imported] = import_(tmp_path / "nested.yaml")
    [entry] = [e for e in imported.report.entries if e.status == UNSUPPORTED]
    assert entry.path == "spec.templates[1].steps[0][0].arguments.parameters[0]" and "innermost" in entry.note
    assert (entry.line, entry.col) == (19, 34)  # the argument, in the flow mapping
    row = yaml.safe_load(imported.text)["steps"]["row"]
    assert row["foreach"] == [1, 2] and row["steps"]["cell"]["foreach"] == ["a", "b"]


SHADOWED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: shadowed}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: make, template: make}
    - - name: inner
        template: inner
        arguments: {parameters: [{name: value, value: "{{steps.make.outputs.result}}"}]}
  - name: inner
    inputs: {parameters: [{name: value}]}
    steps:
    - - name: use
        template: echo
        arguments: {parameters: [{name: text, value: "{{inputs.parameters.value}}"}]}
      - {name: make, template: make}
  - name: make
    script: {image: python:3.12-alpine, command: [python], source: "print(1)"}
  - name: echo
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
"""


def test_a_step_inside_a_group_does_not_capture_a_reference_to_the_step_outside_of_its_name(tmp_path):
    (tmp_path / "shadowed.yaml").write_text(SHADOWED)
    [imported] = import_(tmp_path / "shadowed.yaml")
    inner = yaml.safe_load(imported.text)["steps"]["inner"]["steps"]
    assert list(inner) == ["use", "make-2"]
    assert inner["use"]["command"] == ["echo", "${{ steps.make.outputs.result }}"]  # the outer make
    graph = parse_spec(imported.text)
    assert "make" in graph.upstream("inner.use") or "make" in graph.upstream("inner")
    assert imported.report.behaviour.checked


FAIL_FAST = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: scopes}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: strict, template: strict}
      - {name: lenient, template: lenient}
      - {name: sequence, template: sequence}
      - {name: last, template: echo, depends: strict && lenient}
  - name: strict
    dag:
      tasks:
      - {name: a, template: echo}
      - {name: b, template: echo, depends: a}
      - {name: c, template: echo}
  - name: lenient
    dag:
      failFast: false
      tasks:
      - {name: a, template: echo}
      - {name: b, template: strict, depends: a}
      - {name: c, template: echo}
  - name: sequence
    steps:
    - - {name: a, template: echo}
      - {name: b, template: echo}
    - - {name: c, template: echo}
  - name: echo
    container: {image: busybox, command: [echo, hi]}
"""


def test_each_dag_keeps_its_own_fail_fast(tmp_path):
    """Argo's failFast stops the failed task's own DAG: each group gets its DAG's (written where it differs from the
    one it inherits; a steps template's is false, its groups of steps running side by side), and the play agrees."""
    (tmp_path / "scopes.yaml").write_text(FAIL_FAST)
    [imported] = import_(tmp_path / "scopes.yaml")
    spec = yaml.safe_load(imported.text)
    steps = spec["steps"]
    assert spec["fail_fast"] is True and "fail_fast" not in steps["strict"]
    assert steps["lenient"]["fail_fast"] is False and steps["lenient"]["steps"]["b"]["fail_fast"] is True
    assert steps["sequence"]["fail_fast"] is False
    assert imported.report.clean, imported.report.behaviour.differences[:3]  # nothing approximated, the play agrees


@pytest.mark.parametrize("text, where", [
    ("kind: Workflow\nspec: [unclosed\n", (3, 1)),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", (1, 1)),
    ("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: x}\nspec:\n  entrypoint: main\n", (1, 1)),
])
def test_what_is_not_a_pipeline_is_refused_located(tmp_path, text, where):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as raised:
        import_(path)
    [diagnostic] = raised.value.diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.col) == (str(path), *where)


def test_a_field_of_the_wrong_shape_is_refused_located(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: bad}\nspec:\n"
                    "  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks: {a: b}\n")
    with pytest.raises(SpecError) as raised:
        import_(path)
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.code == "E941" and (diagnostic.line, diagnostic.col) == (9, 7)
    assert "spec.templates.0.dag.tasks must be a list" in diagnostic.message


def test_what_orch_refuses_in_the_spec_is_taken_out_and_reported_where_it_came_from(tmp_path):
    """A label value Kubernetes refuses (orch checks it) is dropped; the report says so at the label."""
    path = tmp_path / "label.yaml"
    path.write_text((CASES / "loops.yaml").read_text().replace("generateName: loops-",
                                                                 "generateName: loops-\n  labels: {team: 'a b'}"))
    [imported] = import_(path)
    assert "labels" not in yaml.safe_load(imported.text)
    [entry] = [e for e in imported.report.entries if e.status == UNSUPPORTED]
    assert entry.path == "metadata.labels" and "E201" in entry.note and entry.line == 6


def test_a_folder_imports_each_document_of_each_file(tmp_path):
    (tmp_path / "two.yaml").write_text((CASES / "loops.yaml").read_text() + "\n---\n"
                                       + (CASES / "retries.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not read")
    assert [i.name for i in import_(tmp_path)] == ["loops", "retries"]


RUNNABLE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: runs-here-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: greeting, value: hello}]
  templates:
  - name: main
    steps:
    - - {name: write, template: write}
    - - {name: flip, template: flip}
    - - name: heads
        template: show
        when: "{{steps.flip.outputs.result}} == heads"
        arguments: {parameters: [{name: text, value: "{{steps.write.outputs.parameters.word}} {{workflow.parameters.greeting}}"}]}
      - name: tails
        template: show
        when: "{{steps.flip.outputs.result}} != heads"
        arguments: {parameters: [{name: text, value: tails}]}
  - name: write
    container:
      image: busybox
      command: [sh, -c, "printf 'from-file\\\\n' > WORD"]
    outputs:
      parameters:
      - {name: word, valueFrom: {path: WORD}}
      - {name: missing, valueFrom: {path: WORD.absent, default: fallback}}
  - name: flip
    script: {image: busybox, command: [sh], source: "echo heads"}
  - name: show
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [sh, -c, 'echo "$0" > SHOWN', "{{inputs.parameters.text}}"]}
"""


def test_an_imported_spec_runs_on_the_local_backend_as_the_workflow_would(tmp_path):
    """Real processes: the output wrapper copies each file (its default where it is missing), the script runs
    as a file after its command, the `when`s read the script's stdout."""
    from orch.backends.local.run import run

    (tmp_path / "wf.yaml").write_text(RUNNABLE.replace("WORD", str(tmp_path / "word"))
                                      .replace("SHOWN", str(tmp_path / "shown")))
    [imported] = import_(tmp_path / "wf.yaml")
    (tmp_path / "spec.yaml").write_text(imported.text)
    result = run(parse_spec(imported.text), {}, spec_path=str(tmp_path / "spec.yaml"), home=tmp_path / ".orch")
    states = {name: step.status for name, step in result.steps.items()}
    assert states == {"write": "succeeded", "flip": "succeeded", "heads": "succeeded", "tails": "skipped"}
    assert result.steps["write"].outputs == {"word": "from-file", "missing": "fallback"}
    assert result.steps["flip"].outputs == {"result": "heads"}
    assert (tmp_path / "shown").read_text() == "from-file hello\n"


@pytest.mark.parametrize("spec", sorted(Path("specs").glob("*.yaml")), ids=lambda p: p.stem)
def test_a_manifest_orch_rendered_imports_back_as_its_spec_its_behaviour_checked(tmp_path, spec):
    """The spec the manifest carries, every field mapped, and the manifest still played by Argo's rules (its
    expressions, gates and fan-out wrappers as orch renders them) against the spec: they agree."""
    from orch.backends.argo.render import render
    from orch.core.load import load_spec

    graph = load_spec(spec)
    for artifact in render(graph, kind="workflow"):
        (tmp_path / artifact.path).write_text(artifact.text)
    [imported] = import_(tmp_path)
    assert parse_spec(imported.text).pipeline == graph.pipeline
    assert imported.report.clean, imported.report.behaviour.differences[:3]


def test_a_rendered_manifest_edited_since_is_imported_the_general_way_and_says_so(tmp_path):
    from orch.backends.argo.render import render
    from orch.core.load import load_spec

    [artifact] = render(load_spec("specs/shell-pipeline.yaml"), kind="workflow")
    (tmp_path / "wf.yaml").write_text(artifact.text.replace("alpine:3.20", "alpine:3.21", 1))
    [imported] = import_(tmp_path / "wf.yaml")
    [entry] = [e for e in imported.report.entries if e.path == "metadata.annotations.orch.dev/spec"]
    assert entry.status == APPROXIMATED and "imported the general way" in entry.note


EXIT_STEPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: exit-steps}
spec:
  entrypoint: main
  onExit: cleanup
  templates:
  - name: main
    steps:
    - - {name: a, template: say}
    - - {name: b, template: say}
  - name: cleanup
    container: {image: busybox, command: [echo, cleaning up]}
  - name: say
    container: {image: busybox, command: [echo, hi]}
"""


def test_an_exit_handler_that_reads_no_status_is_steps_after_all_the_others(tmp_path):
    """Exact: Argo's failed exit handler fails the run, and so does a failed orch step; it runs whatever
    happened, as an all_done step after every other does (no fail_fast here to stop it)."""
    (tmp_path / "exit.yaml").write_text(EXIT_STEPS)
    [imported] = import_(tmp_path / "exit.yaml")
    spec = yaml.safe_load(imported.text)
    assert "finally" not in spec
    assert spec["steps"]["cleanup"]["after"] == ["a", "b"] and spec["steps"]["cleanup"]["trigger"] == "all_done"
    assert "# Argo's exit handler (onExit)" in imported.text
    assert imported.report.clean  # every field mapped, and the plays agree, a failing cleanup included


TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: greet}
spec:
  entrypoint: hello
  arguments: {parameters: [{name: who, value: world}, {name: loud, value: "no"}]}
  templates:
  - name: hello
    unsupported-here: {x: 1}
    container: {image: busybox, command: [echo, "{{workflow.parameters.who}}", "{{workflow.parameters.loud}}"]}
"""
RUN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: greet-team-}
spec:
  arguments: {parameters: [{name: who, value: team}]}
  workflowTemplateRef: {name: greet}
"""


def test_a_workflow_naming_a_template_imports_as_the_two_joined_and_alone_is_refused(tmp_path):
    """Argo runs the template's spec with the Workflow's own fields over it (JoinWorkflowSpec): its arguments by
    name; the template's fields are accounted in one entry, their fates in the template's own report."""
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "run.yaml").write_text(RUN)
    found = {i.name: i for i in import_(tmp_path)}
    run = found["greet-team"]
    spec = yaml.safe_load(run.text)
    assert spec["params"]["who"]["default"] == "team" and spec["params"]["loud"]["default"] == "no"
    assert spec["steps"]["hello"]["command"] == ["echo", "${{ params.who }}", "${{ params.loud }}"]
    entries = {e.path: e for e in run.report.entries}
    assert entries["spec.arguments.parameters[0].value"].status == MAPPED
    ref = entries["spec.workflowTemplateRef"]
    assert ref.status == UNSUPPORTED and "spec.templates[0].unsupported-here" in ref.note and ref.line == 7
    assert all(not e.path.startswith("spec.templates") for e in run.report.entries)
    assert run.report.behaviour.checked
    with pytest.raises(SpecError) as err:
        import_(tmp_path / "run.yaml")
    assert err.value.diagnostics[0].code == "E940" and "'greet'" in err.value.diagnostics[0].message


def test_an_undeclared_workflow_parameter_is_a_required_param(tmp_path):
    """Argo refuses such a workflow at submit unless the value is given (-p, a WorkflowEventBinding's arguments):
    orch's required param asks for it the same way."""
    (tmp_path / "w.yaml").write_text("""
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: given-at-submit}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: busybox, command: [echo, "{{workflow.parameters.who}}"]}
""")
    [imported] = import_(tmp_path / "w.yaml")
    spec = yaml.safe_load(imported.text)
    assert spec["params"] == {"who": {"type": "string"}}
    assert spec["steps"]["main"]["command"] == ["echo", "${{ params.who }}"]
    assert imported.report.nothing_unsupported and imported.report.behaviour.checked
