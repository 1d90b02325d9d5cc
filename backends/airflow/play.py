"""Airflow's rules played on draws, running nothing: the source side of `orch import airflow`'s behaviour check.

What it plays, from Airflow 3.3's code: each trigger rule as ti_deps/deps/trigger_rule_dep.py decides it once every
upstream task ended (`always` runs whatever happened); a branch's skip of its unchosen direct downstream tasks
(SkipMixin.skip_all_except: a task downstream of a chosen one is kept), a short-circuit's skip of its direct
downstream tasks or, ignoring trigger rules, of all its descendants; retries (a try fails while the draw says so,
`retries` more tries at most); a mapped task over an upstream's empty list skipped (models/taskmap.py, once
its trigger rule let it run); and the run's state as models/dagrun.py `update_state` gives it: failed if a leaf
task failed or is upstream_failed, else success. An EmptyOperator makes no try that can fail; neither does a
LatestOnlyOperator, which in the manual run dag.test() makes follows all its downstream tasks
(operators/latest_only.py), nor a sensor whose function only returns done (its first poke ends it); an operator
whose execute only raises AirflowSkipException ends skipped.
States are Airflow's: success, failed, skipped, upstream_failed.
"""

from __future__ import annotations

from typing import Mapping

from orch.core.play import Draw, Ending, Played

FAILED = ("failed", "upstream_failed")


def decide(rule: str, upstream: list[str]) -> str:
    """'run', 'skipped' or 'upstream_failed' for a task whose upstream tasks all ended in `upstream`."""
    if not upstream or rule == "always":
        return "run"
    success = upstream.count("success")
    failed, up_failed, skipped = upstream.count("failed"), upstream.count("upstream_failed"), upstream.count("skipped")
    n = len(upstream)
    if rule == "all_success":
        return "run" if success == n else ("upstream_failed" if failed or up_failed else "skipped")
    if rule == "all_failed":
        return "run" if failed + up_failed == n else "skipped"
    if rule == "all_done":
        return "run"
    if rule == "one_success":
        return "run" if success else ("skipped" if skipped == n else "upstream_failed")
    if rule == "one_failed":
        return "run" if failed or up_failed else "skipped"
    if rule == "one_done":
        return "run" if success or failed else "skipped"
    if rule == "none_failed":
        return "upstream_failed" if failed or up_failed else "run"
    if rule == "none_failed_min_one_success":
        if failed or up_failed:
            return "upstream_failed"
        return "skipped" if skipped == n else "run"
    if rule == "none_skipped":
        return "skipped" if skipped else "run"
    if rule == "all_skipped":
        return "run" if skipped == n else "skipped"
    if rule == "all_done_min_one_success":
        if skipped:
            return "skipped"
        return "run" if success else "upstream_failed"
    if rule == "all_done_setup_success":
        return "run"  # no setup tasks are played
    raise ValueError(f"unknown trigger rule {rule!r}")


def play(tasks: Mapping[str, dict], draws: Mapping[str, Draw]) -> Played:
    """`tasks`: task_id -> {upstream, downstream, trigger_rule, retries, kind ('branch', 'short_circuit', 'empty',
    'latest_only', 'done_sensor', 'skip', or other), ignore_downstream_trigger_rules, expands (the tasks whose list
    it maps over)}, in an order where upstream tasks come first."""
    ends: dict[str, Ending] = {}
    skipped_by: set[str] = set()
    for task_id, task in tasks.items():
        if task_id in skipped_by:
            ends[task_id] = Ending("skipped")
            continue
        decision = decide(task.get("trigger_rule", "all_success"), [ends[u].state for u in task["upstream"]])
        if decision != "run":
            ends[task_id] = Ending(decision)
            continue
        if any(draws.get(u, Draw()).outputs.get("return_value", [None]) == [] for u in task.get("expands", ())):
            ends[task_id] = Ending("skipped")  # mapped over an empty list (models/taskmap.py)
            continue
        draw = draws.get(task_id, Draw())
        if task.get("kind") in ("empty", "latest_only", "done_sensor"):
            ends[task_id] = Ending("success", 1)
            continue
        if task.get("kind") == "skip":
            ends[task_id] = Ending("skipped")
            continue
        retries = task.get("retries", 0)
        failed = draw.fails > retries
        ends[task_id] = Ending("failed" if failed else "success", min(draw.fails, retries) + 1)
        if not failed:
            skipped_by |= _skipped(tasks, task_id, task, draw.outputs.get("return_value"))
    leaves = [t for t, task in tasks.items() if not task["downstream"]]
    status = "failed" if any(ends[t].state in FAILED for t in leaves) else "success"
    return Played(status, ends)


def _skipped(tasks: Mapping[str, dict], task_id: str, task: dict, value) -> set[str]:
    if task.get("kind") == "branch":
        chosen = {value} if isinstance(value, str) else set(value or ())
        for one in list(chosen):
            chosen |= set(_descendants(tasks, one)) if one in tasks else set()
        return {d for d in task["downstream"] if d not in chosen}
    if task.get("kind") == "short_circuit" and not value:
        return set(_descendants(tasks, task_id)) if task.get("ignore_downstream_trigger_rules", True) \
            else set(task["downstream"])
    return set()


def _descendants(tasks: Mapping[str, dict], task_id: str) -> list[str]:
    found, todo = [], list(tasks[task_id]["downstream"])
    while todo:
        one = todo.pop()
        if one not in found:
            found.append(one)
            todo.extend(tasks[one]["downstream"])
    return found
