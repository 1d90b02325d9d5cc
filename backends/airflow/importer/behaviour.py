"""The behaviour check of one imported DAG: Airflow's rules (backends/airflow/play.py) and orch's (core/play.py)
played on the same random draws, every task's end (state and tries) and the run's state compared.

Both sides get the same draws by task: a task's tries fail `fails` times, a branch returns one of its direct
downstream task_ids (or nothing), a short-circuit True or False. An EmptyOperator runs nothing in Airflow and
`true` in orch: neither can fail, so it is not drawn (and its `ran` output, where a join reads it, is there); nor
is a LatestOnlyOperator or a sensor done at its first poke (`true` in orch) or an operator that only skips
(`when: false`).
"""

from __future__ import annotations

from orch.core.fidelity import Behaviour, Space, check
from orch.core.play import Draw, Ending, Player

from ..play import play as play_airflow
from .dag import RAN
from .tasks import OUTPUT, kind_of

STATES = {"success": "succeeded"}
PLAYED_AS = {"branch_time": "branch"}  # a date or week-day branch skips as any branch: its choice is drawn
NOT_DRAWN = ("empty", "latest_only", "done_sensor", "skip")  # kinds whose end no draw decides: they cannot fail


def source_tasks(dag: dict) -> dict[str, dict]:
    """The DAG's tasks as play.py reads them, upstream tasks first."""
    tasks = {t["task_id"]: t for t in dag["tasks"]}
    ordered, seen = {}, set()

    def visit(task_id: str) -> None:
        if task_id in seen:
            return
        seen.add(task_id)
        for upstream in tasks[task_id]["upstream"]:
            visit(upstream)
        task = tasks[task_id]
        ordered[task_id] = {"upstream": task["upstream"], "downstream": task["downstream"],
                            "trigger_rule": task["kwargs"].get("trigger_rule", "all_success"),
                            "retries": int(task["kwargs"].get("retries") or 0),
                            "kind": PLAYED_AS.get(kind_of(task), kind_of(task)),
                            "expands": mapped_over(task),
                            "ignore_downstream_trigger_rules": task["kwargs"].get("ignore_downstream_trigger_rules",
                                                                                  True)}

    for task_id in tasks:
        visit(task_id)
    return ordered


def mapped_over(task: dict) -> list[str]:
    """The upstream tasks whose list a mapped task expands over (its `.expand(x=other_task)`)."""
    if not task["mapped"]:
        return []
    values = (task.get("expand") or {}).get("value") or {}
    return [v["task_id"] for v in values.values() if isinstance(v, dict) and v.get("__kind__") == "xcom"] \
        if isinstance(values, dict) else []


LISTS = ([1, 2], [])  # what a mapped-over task's draw returns: some items, or none (the mapped task is skipped)


def spaces_of(tasks: dict[str, dict]) -> dict[str, Space]:
    spaces = {}
    listed = {source for task in tasks.values() for source in task.get("expands", ())}
    for task_id, task in tasks.items():
        outputs = {}
        if task["kind"] == "branch":
            outputs[OUTPUT] = (*task["downstream"], None)
        elif task["kind"] == "short_circuit":
            outputs[OUTPUT] = (True, False)
        elif task_id in listed:
            outputs[OUTPUT] = LISTS
        if task["kind"] not in NOT_DRAWN:  # never drawn: it cannot fail
            spaces[task_id] = Space(max_fails=task["retries"] + 1, outputs=outputs)
    return spaces


def behaviour_of(dag: dict, graph, names: dict[str, str]) -> Behaviour:
    """`graph`: the imported spec's; `names`: task_id -> qualified step name."""
    tasks = source_tasks(dag)
    quiet = {t for t, task in tasks.items() if task["kind"] in NOT_DRAWN}

    def settle(draw: dict[str, Draw]) -> dict[str, Draw]:
        return {**draw, **{t: Draw(outputs={RAN: ""}) for t in quiet}}

    def source(draw):
        played = play_airflow(tasks, settle(draw))
        return played.status, played.ends

    player = Player(graph)

    def spec(draw):
        played = player.play({names[t]: d for t, d in settle(draw).items()})
        return played.status, played.ends

    return check(source, spec, spaces_of(tasks), names, same, same_status)


def same(source: Ending, spec: Ending) -> bool:
    return STATES.get(source.state, source.state) == spec.state and source.attempts == spec.attempts


def same_status(source: str, spec: str) -> bool:
    return STATES.get(source, source) == spec
