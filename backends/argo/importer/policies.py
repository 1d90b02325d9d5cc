"""Controller and cluster policies a manifest sets that change no task's end state: what each changes, and who
notices, said as an approximation.

Each was read in Argo's controller before it was graded: podGC and ttlStrategy delete pods and Workflow objects
after the nodes ended (gc, ttlcontroller); a metric that cannot be computed becomes a workflow condition
(`reportMetricEmissionError`), never a node's phase; a PodDisruptionBudget that cannot be made is requeued
(`createPDBResource`), never a failure; artifact GC runs after completion, its failures a condition. Logs archived
as artifacts (archiveLogs) are uploaded by the executor as any output artifact is: a failed upload errors the
step as a failed artifact upload does in orch.

Synchronization is the one with a condition: a task waiting for a lock is Pending (operator.go, TryAcquire) and
ends as it would have once it holds it, so within one run the same steps end alike, later -- unless a clock runs
while it waits (the workflow's activeDeadlineSeconds, a template `timeout` -- its own or a caller's -- which counts
Pending time), or a task may ask for a lock its workflow or its calling dag or steps template holds (a lock is held
per node). Those stay unsupported.
"""

from __future__ import annotations

import json

POLICIES = {
    "podGC": "Argo deletes the workflow's pods by this policy once they ended; orch's rendered Workflow sets none, "
             "so Argo keeps them (who notices: pods and their logs kept longer; no step's state changes)",
    "ttlStrategy": "Argo deletes the Workflow object this long after it ended; orch sets no TTL (who notices: the "
                   "finished run stays listed until deleted; no step's state changes)",
    "archiveLogs": "Argo also uploads each pod's logs to the artifact repository; orch keeps logs where the engine "
                   "keeps them (who notices: no log artifact after the pods are gone; no step's state changes "
                   "while the repository takes uploads, as orch's artifact store must too)",
    "artifactRepositoryRef": "Argo stores this run's artifacts in the named repository; orch stores them in the "
                             "pipeline's artifact store (who notices: where the bytes land; each consumer still gets "
                             "its producer's artifact)",
    "artifactGC": "Argo deletes the run's artifacts when it ends or is deleted (its failures a condition, not a "
                  "phase); orch keeps them (who notices: the store's contents afterwards)",
    "metrics": "Argo emits these Prometheus metrics (one it cannot compute is a workflow condition, not a failure); "
               "orch emits none (who notices: no metric series; no step's state changes)",
    "workflowMetadata": "labels and annotations Argo puts on the Workflow object; orch sets the object's metadata "
                        "itself (who notices: selectors and filters on the Workflow; no step's state changes)",
    "priority": "the controller's order among queued workflows; orch's run is queued at the default (who notices: "
                "when the run starts under a busy controller; no step's state changes)",
    "podDisruptionBudget": "Argo makes a PodDisruptionBudget for the run's pods (one it cannot make is retried, "
                           "never a failure); orch makes none (who notices: a node drain during the run may evict a "
                           "pod the budget would have kept, which fails it as any pod failure)",
}

TEMPLATE_POLICIES = {
    "metrics": POLICIES["metrics"],
    "archiveLocation": "where Argo stores this template's artifacts (and logs, with archiveLogs); orch stores them in "
                       "the pipeline's artifact store (who notices: where the bytes land; no step's state changes)",
}

CRON_POLICIES = {
    "successfulJobsHistoryLimit": "how many succeeded runs the CronWorkflow keeps; orch sets no limit (who notices: "
                                  "the finished runs still listed; no step's state changes)",
    "failedJobsHistoryLimit": "how many failed runs the CronWorkflow keeps; orch sets no limit (who notices: the "
                              "finished runs still listed; no step's state changes)",
    "workflowMetadata": POLICIES["workflowMetadata"],
}

WAITS = ("who notices: other workflows holding the same lock neither wait for orch's run nor make it wait, and steps "
         "Argo runs one (or N) at a time under the lock may run together; each ends as in Argo, at another time")


def locks(synchronization) -> set[str]:
    """The locks a synchronization field names, each as one text (a mutex's name, a semaphore's reference)."""
    found = set()
    for kind in ("mutexes", "semaphores"):
        for lock in (synchronization or {}).get(kind) or []:
            found.add(f"{kind}:{json.dumps(lock, sort_keys=True)}")
    for kind in ("mutex", "semaphore"):  # the single forms before v3.6
        if (synchronization or {}).get(kind):
            found.add(f"{kind}es:{json.dumps(synchronization[kind], sort_keys=True)}"
                      if kind == "mutex" else f"semaphores:{json.dumps(synchronization[kind], sort_keys=True)}")
    return found


def synchronization(value, where: tuple, ledger, spec: dict, template: dict | None = None) -> None:
    """A workflow's (template None) or a template's locks: approximated where waiting for them changes no end
    state; unsupported where a clock runs while a task waits, or the workflow waits for a lock it holds."""
    if "activeDeadlineSeconds" in spec:
        ledger.unsupported(where, "a lock with a workflow deadline (activeDeadlineSeconds): the run's clock runs "
                                  "while a task waits for the lock, so Argo can fail it where orch would not wait")
    elif template is not None and _timed(spec, template):
        ledger.unsupported(where, "a lock in a workflow with template timeouts: Argo's template timeout counts the "
                                  "time a node waits (Pending), its own or its callers', so it can fail where orch's "
                                  "step would not wait")
    elif template is not None and locks(value) & locks(spec.get("synchronization")):
        ledger.unsupported(where, "a template asking for a lock the workflow itself holds: Argo's task waits for "
                                  "its own run")
    elif template is not None and locks(value) & _shared_with_callers(spec):
        ledger.unsupported(where, "a lock a dag or steps template holds that another template asks for too: a task "
                                  "inside it may wait for its own caller (Argo holds a lock per node)")
    else:
        kind = "the workflow waits" if template is None else "the task waits (Pending)"
        ledger.approximated(where, f"Argo's semaphores and mutexes: {kind} until it holds the lock, then runs as it "
                                   f"would have; orch has no locks ({WAITS}); Argo fails the run where the lock's "
                                   "ConfigMap or database is missing, orch reads neither")


def _shared_with_callers(spec: dict) -> set[str]:
    """The locks a dag or steps template holds (for all of its tasks) that some other template names too."""
    named: dict[str, int] = {}
    held = set()
    for template in spec.get("templates") or []:
        if not isinstance(template, dict):
            continue
        found = locks(template.get("synchronization"))
        for lock in found:
            named[lock] = named.get(lock, 0) + 1
        if "dag" in template or "steps" in template:
            held |= found
    return {lock for lock in held if named[lock] > 1}


def _timed(spec: dict, template: dict) -> bool:
    """Whether a template timeout may run while this template's task waits: its own (templateDefaults merged), or
    any other template's (a caller's counts its tasks' waits)."""
    defaults = spec.get("templateDefaults") if isinstance(spec.get("templateDefaults"), dict) else {}
    return "timeout" in template or "timeout" in defaults or any(
        isinstance(t, dict) and "timeout" in t for t in spec.get("templates") or [])
