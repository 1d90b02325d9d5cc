"""`orch import airflow`: hand-written DAGs (tests/airflow/import_dags/) read by Airflow's own DagBag into specs
that validate and render to every backend, each field's fate in the report, and files that are not DAGs refused
where they go wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orch.backends.airflow.importer import import_, imported_all, load
from orch.backends.airflow.importer.retries import airflow_delays, retries_of
from orch.core.errors import SpecError
from orch.core.load import parse_spec
from orch.core.play import Draw, play

DAGS = Path(__file__).parent / "import_dags"


@pytest.fixture(scope="module")
def imported() -> dict:
    """Every hand-written DAG imported once: dag_id -> Imported."""
    found = {}
    for loaded in load([DAGS / name for name in ("etl.py", "flow.py", "pods.py")]):  # one Airflow start for all
        for one in imported_all(loaded):
            found[one.report.name] = one
    return found


def fates(one) -> dict:
    return {entry.path: entry for entry in one.report.entries}


@pytest.mark.parametrize("dag_id", ["etl", "flow", "pods"])
def test_each_spec_validates_and_renders_to_every_backend(imported, dag_id):
    from orch.backends.registry import get
    from orch.cli.render_cmd import check_capabilities

    graph = parse_spec(imported[dag_id].text)
    for backend in ("argo", "prefect", "airflow"):
        check_capabilities(graph, backend, None, warnings=False)
        files = get(backend).load(to_render=True).render(graph)
        assert files and all(artifact.text.strip() for artifact in files), backend


def test_the_classic_dag_maps_steps_edges_and_its_schedule(imported):
    one = imported["etl"]
    pipeline = parse_spec(one.text).pipeline
    assert pipeline.schedule.cron == "30 2 * * *" and pipeline.schedule.timezone == "Europe/Berlin"
    assert (pipeline.schedule.catchup, pipeline.schedule.concurrency) == (False, 1)
    assert pipeline.params["threshold"].type == "number" and pipeline.params["bucket"].default == "raw-data"
    steps = pipeline.all_steps
    assert steps["extract"].python == "etl:extract" and steps["extract"].args == {"bucket": "${{ params.bucket }}"}
    assert steps["shape.transform"].args["data"] == "${{ steps.extract.outputs.return_value }}"
    assert steps["shape.stamp"].command == ["bash", "-c", "echo ${{ run.date }} ${{ run.id }}"]
    assert steps["start"].command == ["true"]
    assert steps["alert"].trigger == "any_failed" and steps["cleanup"].trigger == "all_done"
    assert steps["report"].args["total"] == "${{ steps.shape.outputs.transform_return_value }}"
    assert "shape" in pipeline.groups
    assert steps["extract"].timeout == 600
    assert one.report.nothing_unsupported


def test_fates_are_located_and_the_approximations_say_what_differs(imported):
    entries = fates(imported["etl"])
    assert entries["tasks.extract.python_callable"].status == "mapped"
    assert entries["tasks.alert.trigger_rule"].status == "mapped"
    backoff = entries["tasks.shape.transform.retry_exponential_backoff"]
    assert backoff.status == "approximated" and "retry 1: Airflow 30-59 s, orch 30 s" in backoff.note
    assert (backoff.line, backoff.col) == (43, 58)  # the keyword in the operator call
    assert (entries["tasks.extract.retries"].line, entries["tasks.extract.retries"].col) == (35, 19)  # default_args
    assert entries["tasks.report.op_kwargs.total"].status == "approximated"  # xcom_pull in Jinja: str() vs JSON
    assert "# Airflow jitters each delay" in imported["etl"].text  # the spec says it above the field


def test_the_run_state_from_leaves_is_state_from_leaves_and_plays_alike(imported):
    """Airflow's run succeeds when its leaves (an alert, a cleanup) do, whatever failed before them: the spec says
    `state_from: leaves`, and the plays that failed a step before such a leaf end alike on both sides."""
    one = imported["etl"]
    assert parse_spec(one.text).pipeline.state_from == "leaves"
    assert fates(one)["dag.run_state"].status == "mapped"
    assert one.report.behaviour.checked and not one.report.behaviour.differing


def test_taskflow_mapping_branches_and_short_circuits_become_foreach_and_whens(imported):
    one = imported["flow"]
    steps = parse_spec(one.text).pipeline.all_steps
    assert steps["double"].foreach == "${{ steps.numbers.outputs.return_value }}"
    assert steps["double"].args == {"x": "${{ item }}"}
    assert steps["big"].when == "steps.choose.outputs.return_value == 'big' or 'big' in steps.choose.outputs.return_value"
    assert steps["publish"].when == "not (steps.worth_it.outputs.return_value == false)"
    assert steps["join"].trigger == "none_failed"
    assert steps["join"].when == "steps.big.outputs.ran != null or steps.small.outputs.ran != null"
    entries = fates(one)
    assert entries["tasks.join.trigger_rule"].status == "mapped"
    assert entries["tasks.numbers.python_callable"].status == "approximated"  # defined inside the @dag function
    assert one.report.behaviour.checked, one.report.behaviour.differences


def test_a_pod_operator_keeps_its_image_argv_and_pod_settings(imported):
    step = parse_spec(imported["pods"].text).pipeline.all_steps["train"]
    assert step.image == "registry.example.com/trainer:1.4"
    assert step.command == ["python", "train.py", "--epochs", "${{ params.epochs }}", "--date", "${{ run.date }}"]
    pod = step.kubernetes
    assert pod.service_account == "trainer" and pod.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    assert pod.volumes[0].pvc == "dataset-cache" and pod.volumes[0].read_only
    assert pod.image_pull_secrets == ["registry-creds"] and pod.tolerations[0].operator == "Exists"
    assert step.resources.gpu == 1 and str(pod.limits.memory) in ("32Gi", "34359738368")
    assert imported["pods"].report.nothing_unsupported


def test_backoff_numbers_follow_airflows_formula():
    """next_retry_datetime: b = max(1, ceil(D * m**(k-1))), a delay in [b, 2b-1], capped by max_retry_delay."""
    assert airflow_delays(30, 2.0, 300, 4) == [(30, 59), (60, 119), (120, 239), (240, 300)]
    assert airflow_delays(0, 2.0, None, 1) == [(1, 1)]  # at least one second
    assert airflow_delays(30, 0, None, 2) == [(30, 30), (30, 30)]  # no backoff: exactly the delay
    spec, difference = retries_of(3, 30, 0, 5)  # max_retry_delay without a backoff: Airflow ignores it
    assert spec == {"limit": 3, "delay": "30s"} and difference is None
    spec, difference = retries_of(2, 60, 1.5, None)
    assert spec["factor"] == 1.5 and "retry 2: Airflow 90-179 s, orch 90 s" in difference


def test_a_folder_imports_every_dag_in_it(tmp_path):
    for name in ("etl.py", "pods.py"):
        shutil.copy(DAGS / name, tmp_path / name)
    assert sorted(one.report.name for one in import_(tmp_path)) == ["etl", "pods"]


def test_a_file_that_is_not_python_is_refused_at_its_error_before_airflow_reads_it():
    with pytest.raises(SpecError) as refused:
        import_(DAGS / "bad" / "broken_syntax.py")
    diagnostic = refused.value.diagnostics[0]
    assert (diagnostic.code, diagnostic.line) == ("E950", 4) and "not a DAG file" in diagnostic.message
    assert "Traceback" not in str(refused.value) and "broken_syntax.py:4:" in str(refused.value)


def test_a_file_that_makes_no_dag_or_fails_in_airflow_is_refused_where_it_goes_wrong():
    no_dag, raises = load([DAGS / "bad" / "no_dag.py", DAGS / "bad" / "raises.py"])
    for loaded, code, line, words in ((no_dag, "E951", 1, "no DAG found"), (raises, "E950", 7, "KeyError")):
        with pytest.raises(SpecError) as refused:
            imported_all(loaded)
        diagnostic = refused.value.diagnostics[0]
        assert (diagnostic.code, diagnostic.line) == (code, line) and words in diagnostic.message
        assert diagnostic.file.endswith(Path(loaded["path"]).name) and "Traceback" not in str(refused.value)


def test_jinja_tags_become_orch_references_where_one_means_the_same():
    from orch.backends.airflow.importer.jinja import Context, render

    context = Context("etl", "stamp", {"bucket": "string", "flag": "boolean"},
                      lambda task, key: "${{ steps.%s.outputs.%s }}" % (task, key) if key == "return_value" else None)
    assert render("{{ ds }}/{{ run_id }}/{{ params.bucket }}", context).text == \
        "${{ run.date }}/${{ run.id }}/${{ params.bucket }}"
    assert render("{{ task.task_id }} of {{ dag.dag_id }}", context).text == "stamp of etl"
    pulled = render("{{ ti.xcom_pull(task_ids='extract') }}", context)
    assert pulled.text == "${{ steps.extract.outputs.return_value }}" and pulled.reads == ["extract"]
    assert pulled.approximations  # str() in Jinja, JSON in orch
    assert render("{{ params.flag }}", context).approximations  # True in Jinja, true in orch
    for kept in ("{{ macros.ds_add(ds, 7) }}", "{% for i in params.bucket %}x{% endfor %}", "{{ params.nope }}",
                 "{{ ti.xcom_pull(task_ids='t', key='other') }}", "${{ params.bucket }}",
                 "{% for i in range(2) %}{{ ds_add(i) }}{% endfor %}"):
        assert render(kept, context).unsupported, kept


def test_jinja_statements_reading_no_run_value_are_carried_out_and_ds_add_is_computed_in_a_command():
    from orch.backends.airflow.importer.jinja import Context, render

    context = Context("etl", "stamp", {}, lambda task, key: None)
    looped = render("{% for i in range(3) %}[{{ i }} {{ ds }}]{% endfor %}{# note #}", context)
    assert looped.text == "[0 ${{ run.date }}][1 ${{ run.date }}][2 ${{ run.date }}]" and not looped.unsupported
    shell = Context("etl", "stamp", {}, lambda task, key: None, shell=True)
    added = render('echo "{{ macros.ds_add(ds, -3) }}"', shell)
    assert added.text.startswith('echo "$(python3 -c ') and added.text.endswith(' ${{ run.date }} -3)"')
    assert added.approximations and not added.unsupported
    assert render("echo '{{ macros.ds_add(ds, 1) }}'", shell).unsupported  # bash substitutes nothing in '...'


def test_ds_add_in_a_command_gives_airflows_date(tmp_path):
    """The command substitution run by bash, as the step would, against Airflow's own macro."""
    import subprocess

    from airflow.sdk.execution_time.macros import ds_add
    from orch.backends.airflow.importer.jinja import Context, render

    shell = Context("etl", "stamp", {}, lambda task, key: None, shell=True)
    for days in (7, -1, 0, 366):
        text = render("echo {{ macros.ds_add(ds, %d) }}" % days, shell).text.replace("${{ run.date }}", "2024-02-28")
        out = subprocess.run(["bash", "-c", text], capture_output=True, text=True, check=True).stdout.strip()
        assert out == ds_add("2024-02-28", days), days


def test_airflows_trigger_rules_as_played():
    """trigger_rule_dep.py's decisions once every upstream task ended (states: success, failed, skipped,
    upstream_failed)."""
    from orch.backends.airflow.play import decide

    table = {
        ("all_success", ("success", "skipped")): "skipped", ("all_success", ("failed", "skipped")): "upstream_failed",
        ("one_success", ("failed", "success")): "run", ("one_success", ("skipped", "skipped")): "skipped",
        ("one_success", ("failed", "skipped")): "upstream_failed", ("one_failed", ("upstream_failed",)): "run",
        ("none_failed_min_one_success", ("skipped", "skipped")): "skipped",
        ("none_failed_min_one_success", ("skipped", "success")): "run", ("none_skipped", ("failed",)): "run",
        ("all_failed", ("failed", "success")): "skipped", ("one_done", ("upstream_failed",)): "skipped",
        ("always", ("upstream_failed",)): "run", ("all_skipped", ("skipped",)): "run",
        ("all_done_min_one_success", ("failed",)): "upstream_failed",
    }
    assert {key: decide(key[0], list(key[1])) for key in table} == table


@pytest.fixture(scope="module")
def assets() -> dict:
    """tests/airflow/import_dags/assets.py imported: dag_id -> Imported."""
    return {one.report.name: one for one in imported_all(load([DAGS / "assets.py"])[0])}


def test_outlets_and_inlets_are_approximated_saying_who_notices(assets):
    """Outlets become asset events only once the task succeeded, inlets are lineage (task_runner.py): no task state
    changes, so the DAG's steps run alike; the DAGs scheduled on the assets are who notices."""
    one = assets["asset_producer"]
    entries = fates(one)
    outlets, inlets = entries["tasks.extract.outlets"], entries["tasks.extract.inlets"]
    assert outlets.status == inlets.status == "approximated"
    assert "DAGs scheduled on these assets are not triggered by these runs" in outlets.note
    assert "inactive" in outlets.note and "orch keeps no lineage" in inlets.note
    assert one.report.nothing_unsupported and one.report.behaviour.checked
    assert "# Airflow outlets: asset events" in one.text


def test_an_asset_schedule_is_no_schedule_as_once_is_and_an_asset_or_time_one_keeps_its_cron(assets):
    consumer, either = assets["asset_consumer"], assets["asset_or_time"]
    assert parse_spec(consumer.text).pipeline.schedule is None
    schedule = fates(consumer)["dag.schedule"]
    assert schedule.status == "approximated" and "whenever its assets are updated" in schedule.note
    assert "# Airflow runs it whenever its assets are updated" in consumer.text  # the spec's header says it
    assert parse_spec(either.text).pipeline.schedule.cron == "0 1 * * 3"
    assert fates(either)["dag.schedule"].status == "approximated" and consumer.report.nothing_unsupported


def test_an_asset_schedule_whose_tasks_read_the_date_is_refused(assets):
    """Asset-triggered runs have no logical date in Airflow (scheduler_job_runner.py creates them with
    logical_date=None): `{{ ds }}` fails the task there, where orch's run.date is a date."""
    schedule = fates(assets["dated_consumer"])["dag.schedule"]
    assert schedule.status == "unsupported" and "no logical date" in schedule.note


def test_the_context_in_kwargs_is_read_where_orch_has_the_key_and_refused_where_not(assets):
    steps = parse_spec(assets["asset_producer"].text).pipeline.all_steps
    assert steps["summarize"].args == {"params": {"limit": "${{ params.limit }}"}}  # kwargs["params"]
    assert fates(assets["asset_producer"])["tasks.summarize.python_callable.**kwargs"].status == "mapped"
    refused = fates(assets["context_readers"])["tasks.pull.python_callable.**kwargs"]
    assert refused.status == "unsupported" and "'ti'" in refused.note  # kwargs["ti"].xcom_pull(...)


def test_a_context_parameter_is_approximated_only_where_the_function_just_logs_it(assets):
    logged = fates(assets["asset_producer"])["tasks.stamp.python_callable.ts"]
    assert logged.status == "approximated" and "only logs" in logged.note
    used = fates(assets["context_readers"])["tasks.watermark.python_callable.asset_state_store"]
    assert used.status == "unsupported"  # asset_state_store[RAW] on its default None would raise in orch


def test_a_task_bash_returning_one_constant_is_that_command_and_any_other_is_refused(assets):
    steps = parse_spec(assets["asset_producer"].text).pipeline.all_steps
    assert steps["greet"].command == ["bash", "-c", "echo ${{ run.id }}"]  # rendered by Jinja, as Airflow does
    assert fates(assets["asset_producer"])["tasks.greet.operator"].status == "mapped"
    refused = fates(assets["context_readers"])["tasks.count.operator"]  # return f"seq {n}"
    assert refused.status == "unsupported" and "constant" in refused.note


def test_a_command_that_exits_with_the_skip_code_is_refused(assets):
    assert fates(assets["context_readers"])["tasks.skipper.skip_on_exit_code"].status == "unsupported"
    assert fates(assets["asset_producer"])["tasks.extract.skip_on_exit_code"].status == "approximated"


def test_a_generator_yielding_only_asset_metadata_is_approximated(assets):
    entry = fates(assets["asset_producer"])["tasks.tag_clean.python_callable.yield"]
    assert entry.status == "approximated" and "runs none of its body" in entry.note


def test_the_function_body_is_read_for_what_it_takes_from_a_name():
    import ast

    from orch.backends.airflow.importer.body import constant_return, uses_of, yields

    node = ast.parse("def f(ts=None, **kw):\n    a = kw['params']\n    b = kw.get('ds')\n    print(f'{ts}')\n"
                     "    log.info('%s', kw)\n    g(**kw)\n").body[0]
    kw, ts = uses_of(node, "kw"), uses_of(node, "ts")
    assert kw.keys == {"params", "ds"} and kw.logged and kw.other == [6]
    assert ts.logged and not ts.other and not ts.keys
    assert constant_return(ast.parse('def g():\n    """Doc."""\n    return "echo hi"\n').body[0]) == "echo hi"
    assert constant_return(ast.parse('def g(n):\n    return f"seq {n}"\n').body[0]) is None
    assert yields(ast.parse("def h():\n    def inner():\n        yield 1\n    return 2\n").body[0]) == []


def test_jinja_run_ids_of_the_dag_run_and_task_instance_are_the_runs_id():
    from orch.backends.airflow.importer.jinja import Context, render

    context = Context("etl", "stamp", {}, lambda task, key: None)
    assert render("{{ dag_run.run_id }} {{ ti.run_id }}", context).text == "${{ run.id }} ${{ run.id }}"
    assert render("{{ ds_nodash }}", context).unsupported  # YYYYMMDD: orch's run.date is YYYY-MM-DD


def test_a_time_delta_sensor_is_a_sleep_ending_the_same_way_unless_its_timeout_fails_it_first(assets):
    one = assets["waits"]
    assert parse_spec(one.text).pipeline.all_steps["pause"].command == ["sleep", "30"]
    pause, forever = fates(one)["tasks.pause.delta"], fates(one)["tasks.forever.delta"]
    assert pause.status == "approximated" and "at another time" in pause.note
    assert forever.status == "unsupported" and "times out" in forever.note  # 8 days > the 7-day sensor timeout


def test_a_task_mapped_over_an_empty_list_is_skipped_as_in_airflow(imported):
    """models/taskmap.py marks a mapped task SKIPPED when the list it expands over is empty (after its trigger rule
    let it run), and its all_success downstream skip too; the step's `when` on the list does the same in orch."""
    from orch.backends.airflow.importer.behaviour import source_tasks
    from orch.backends.airflow.play import play as play_airflow

    one = imported["flow"]
    assert parse_spec(one.text).pipeline.all_steps["double"].when == "steps.numbers.outputs.return_value != []"
    assert fates(one)["tasks.double.expand"].status == "mapped"
    dag = next(d for d in load([DAGS / "flow.py"])[0]["dags"] if d["dag_id"] == "flow")
    ends = play_airflow(source_tasks(dag), {"numbers": Draw(outputs={"return_value": []})}).ends
    assert (ends["double"].state, ends["total"].state, ends["publish"].state) == ("skipped", "skipped", "skipped")
    spec = play(parse_spec(one.text), {"numbers": Draw(outputs={"return_value": []})}).ends
    assert (spec["double"].state, spec["total"].state) == ("skipped", "skipped")


def test_a_function_asking_airflow_for_its_context_is_refused(assets):
    entry = fates(assets["context_readers"])["tasks.today.python_callable.get_current_context"]
    assert entry.status == "unsupported" and "raises" in entry.note


@pytest.fixture(scope="module")
def skips() -> dict:
    """tests/airflow/import_dags/skips.py imported: dag_id -> Imported."""
    return {one.report.name: one for one in imported_all(load([DAGS / "skips.py"])[0])}


def test_an_operator_that_only_skips_is_a_step_whose_when_is_false(skips):
    """Its execute only raises AirflowSkipException: skipped whenever its trigger rule lets it start, in Airflow and
    in orch; the steps after it see a skipped step."""
    one = skips["skipping"]
    graph = parse_spec(one.text)
    for name in ("skip", "also_skips"):  # its own execute, or the one it inherits
        assert str(graph.pipeline.steps[name].when).lower() == "false"
        assert fates(one)[f"tasks.{name}.operator"].status == "mapped"
    ends = play(graph, {"work": Draw(fails=1)}).ends
    assert ends["skip"].state == ends["after_skip"].state == "skipped" and ends["join"].state == "succeeded"
    assert play(graph, {"work": Draw(fails=2)}).ends["join"].state == "upstream_failed"
    assert one.report.nothing_unsupported and one.report.behaviour.checked


def test_latest_only_is_a_true_step_exact_without_a_schedule_and_approximated_with_one(skips):
    """Airflow follows its downstream tasks in a manual run and where the timetable has no next run; a scheduled
    run that starts after its next tick (catch-up, backfill, late) skips them, which orch never does: said."""
    scheduled, unscheduled = fates(skips["skipping"])["tasks.latest.operator"], \
        fates(skips["latest_unscheduled"])["tasks.latest.operator"]
    assert unscheduled.status == "mapped" and "no next run" in unscheduled.note
    assert scheduled.status == "approximated" and "after the next schedule tick" in scheduled.note
    assert parse_spec(skips["skipping"].text).pipeline.steps["latest"].command == ["true"]
    for one in skips.values():
        assert one.report.nothing_unsupported and one.report.behaviour.checked, one.report.behaviour.summary()


def test_a_sensor_whose_function_only_returns_done_is_a_true_step_and_any_other_is_refused(skips):
    """Airflow's first poke of it is done (sdk bases/sensor.py): how long and how often it would wait never
    matters. One that may not be done, or whose XCom a task reads, stays refused."""
    one = skips["sensing"]
    steps, entries = parse_spec(one.text).pipeline.steps, fates(one)
    assert steps["upstream_ready"].command == steps["ready"].command == ["true"]
    assert entries["tasks.ready.operator"].status == entries["tasks.upstream_ready.timeout"].status == "mapped"
    assert "never reached" in entries["tasks.ready.mode"].note
    assert one.report.nothing_unsupported and one.report.behaviour.checked
    entries = fates(_refused()["sensing_refused"])
    assert entries["tasks.waits.operator"].status == "unsupported"
    assert "read the sensor's XCom" in entries["tasks.read.operator"].note


def _refused() -> dict:
    return {one.report.name: one for one in imported_all(load([DAGS / "sensing_refused.py"])[0])}


def test_a_date_branch_following_a_task_group_id_is_refused():
    """Airflow's skip_all_except expands a group's id to its tasks; the `when`s after the step test task ids."""
    branch = fates(_refused()["date_branch_refused"])
    assert branch["tasks.by_day.follow_task_ids_if_true"].status == "unsupported"
    assert branch["tasks.by_day.follow_task_ids_if_false"].status == "mapped"


def test_only_a_function_that_just_returns_done_is_read_as_done_at_once():
    import ast

    from orch.backends.airflow.importer.body import done_at_once

    def reads(source: str):
        return done_at_once(ast.parse(source).body[0])

    assert reads("def f():\n    'doc'\n    return True") == (True, None)
    assert reads("def f():\n    return PokeReturnValue(is_done=True, xcom_value='x')") == (True, "x")
    assert reads("def f():\n    return PokeReturnValue(True)") == (True, None)
    assert not reads("def f():\n    return PokeReturnValue(is_done=False)")[0]
    assert not reads("def f():\n    return check()")[0]
    assert not reads("def f():\n    touch()\n    return True")[0]
    assert not reads("def f():\n    return PokeReturnValue(is_done=True, xcom_value=load())")[0]


@pytest.mark.parametrize("dag_id", ["skipping", "latest_unscheduled", "sensing"])
def test_the_skipping_specs_validate_and_render_to_every_backend(skips, dag_id):
    from orch.backends.registry import get
    from orch.cli.render_cmd import check_capabilities

    graph = parse_spec(skips[dag_id].text)
    for backend in ("argo", "prefect", "airflow"):
        check_capabilities(graph, backend, None, warnings=False)
        assert get(backend).load(to_render=True).render(graph), backend


def test_only_a_body_that_just_raises_the_skip_is_read_as_always_skipping():
    import ast

    from orch.backends.airflow.importer.body import only_raises_skip

    def reads(source: str) -> bool:
        return only_raises_skip(ast.parse(source).body[0])

    assert reads("def execute(self, context):\n    'doc'\n    raise AirflowSkipException")
    assert reads("def execute(self, context):\n    raise airflow.exceptions.AirflowSkipException('why')")
    assert not reads("def execute(self, context):\n    if context:\n        raise AirflowSkipException\n    return 1")
    assert not reads("def execute(self, context):\n    raise ValueError('no')")
    assert not reads("def execute(self, context):\n    log('x')\n    raise AirflowSkipException")


def test_a_task_after_two_branches_runs_only_where_neither_skips_it():
    """Each branch skips its unchosen tasks on its own (SkipMixin): the step's `when` tests both choices."""
    from orch.backends.airflow.importer.behaviour import source_tasks
    from orch.backends.airflow.play import play as play_airflow

    (one,) = imported_all(load([DAGS / "two_branches.py"])[0])
    graph = parse_spec(one.text)
    when = str(graph.pipeline.steps["both"].when)
    assert "steps.first." in when and "steps.second." in when
    (dag,) = load([DAGS / "two_branches.py"])[0]["dags"]
    for chosen in (("both", "both"), ("both", None), ("other", "both")):
        draws = {"first": Draw(outputs={"return_value": chosen[0]}), "second": Draw(outputs={"return_value": chosen[1]})}
        airflow = play_airflow(source_tasks(dag), draws).ends["both"].state
        assert {"success": "succeeded"}.get(airflow, airflow) == play(graph, draws).ends["both"].state, chosen
