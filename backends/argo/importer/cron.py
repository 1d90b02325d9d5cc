"""A CronWorkflow's schedule fields as orch's `schedule` (workflow/cron/operator.go reads them)."""

from __future__ import annotations

from .policies import CRON_POLICIES

POLICIES = {"Allow": None, "Forbid": 1, "Replace": 1}


def schedule(spec: dict, ledger) -> dict | None:
    """orch's schedule of a CronWorkflow's spec; each field in the ledger (paths under `spec`)."""
    found: dict = {}
    crons = spec.get("schedules") or ([spec["schedule"]] if spec.get("schedule") else [])
    key = "schedules" if spec.get("schedules") else "schedule"
    if len(crons) != 1:
        ledger.unsupported(("spec", key), f"{len(crons)} schedules: an orch pipeline has one cron")
    else:
        found["cron"] = str(crons[0])
        ledger.mapped(("spec", key), "schedule.cron")
    if spec.get("timezone"):
        found["timezone"] = spec["timezone"]
        ledger.mapped(("spec", "timezone"), "schedule.timezone")
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy == "Allow":
        found["concurrency"] = 100
        if "concurrencyPolicy" in spec:
            ledger.approximated(("spec", "concurrencyPolicy"), "Allow: any number of runs at once; orch's "
                                "concurrency is a number, 100 here", "schedule.concurrency")
    elif policy == "Forbid":
        found["concurrency"] = 1
        ledger.mapped(("spec", "concurrencyPolicy"), "schedule.concurrency", "Forbid: one run at a time")
    else:
        found["concurrency"] = 1
        ledger.approximated(("spec", "concurrencyPolicy"), f"{policy}: Argo stops the running workflow for the new "
                            "one; orch's concurrency 1 waits instead", "schedule.concurrency")
    if "startingDeadlineSeconds" in spec:
        ledger.approximated(("spec", "startingDeadlineSeconds"),
                            "a run missed by more than this is not started; orch runs no missed run (catchup: false)",
                            "schedule.catchup")
    for name in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit", "workflowMetadata"):
        if name in spec:
            ledger.approximated(("spec", name), CRON_POLICIES[name])
    if "suspend" in spec:
        (ledger.mapped if not spec["suspend"] else ledger.unsupported)(
            ("spec", "suspend"), *(() if not spec["suspend"] else ("a suspended CronWorkflow: orch has no paused schedule",)))
    if "when" in spec:
        ledger.unsupported(("spec", "when"), "a condition on whether a scheduled run starts has no orch field")
    if "stopStrategy" in spec:
        ledger.unsupported(("spec", "stopStrategy"), "orch has no condition that ends a schedule")
    for name in spec:
        if name not in ("schedule", "schedules", "timezone", "concurrencyPolicy", "startingDeadlineSeconds", "suspend",
                        "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "when", "stopStrategy", "workflowSpec",
                        "workflowMetadata"):
            ledger.unsupported(("spec", name), f"a CronWorkflow's {name!r} has no orch field")
    return found if "cron" in found else None
