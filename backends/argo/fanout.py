"""A fan-out with `parallelism`: its task alone in a DAG template of orch's, `Fan-STEP`, with that `parallelism`.

Argo has no limit per task. A template's `parallelism` bounds the running pods whose boundary is its
node (workflow/controller/operator.go, `checkParallelism`; node_counters.go, `getActiveChildren`), and
the items of a `withParam` task have the DAG node of the template holding that task as their boundary
(dag.go, `executeDAGTask`). So the wrapper runs at most N items at once, and nothing else is slowed.
Argo checks the bound when an item starts, not at its retries: an item waiting out a retry's backoff
holds no slot, and its next attempt starts without one, so with retries N may briefly be passed.

The step's DAG keeps a task of the step's name (its depends; a `when` goes to a gate before it, as for
every fan-out: render.py, `_gated`), calling the wrapper. That outer task computes every value the
fan-out reads from outside the wrapper -- the arguments holding a tag, and a list computed from a
param or an output -- and passes each as an input of the wrapper. None holds a tag: each is base64, brace-free JSON, a param's text (orch refuses `{{` in one)
or a JSON list of indexes. The wrapper exports each output as a chunk does (layout.export): the
items' list, `[]` for an empty list (Argo skips the fan-out task; the wrapper succeeds), nothing when
an item failed (the wrapper fails, and so its task). The artifacts the fan-out reads enter the wrapper
as its input artifacts, which the inner task reads back (`{{inputs.artifacts.…}}`).
"""

from __future__ import annotations

from . import manifest as a
from .layout import export, throttled

PREFIX = "Fan-"  # a capital: no step's Argo name, nor any other template's name, starts so
ITEMS = "Orch-items"


def is_wrapper(template: str) -> bool:
    return template.startswith(PREFIX)


class Wrappers:
    """The wrapper templates of one pipeline's throttled fan-outs, made as their tasks are placed."""

    def __init__(self, fail_fast: bool, stdout: bool):
        self.fail_fast = fail_fast  # the main DAG's: with it, no more items start after one failed
        self.stdout = stdout  # steps have templates of their own, which keep a command's stdout in `result`
        self.templates: list[dict] = []

    def task(self, task: dict, step) -> dict:
        """The step's task as its DAG holds it: as built, or, for a throttled fan-out, calling its wrapper."""
        if not throttled(step):
            return task
        name = task["name"]
        passed, inner = [], []
        for parameter in task["arguments"]["parameters"]:
            if parameter["name"] != "item" and "{{" in parameter["value"]:
                passed.append(parameter)
                parameter = a.parameter(parameter["name"], value="{{inputs.parameters." + parameter["name"] + "}}")
            inner.append(parameter)
        with_param = task["withParam"]
        if "{{" in with_param:
            passed.append(a.parameter(ITEMS, value=with_param))
            with_param = "{{inputs.parameters." + ITEMS + "}}"
        artifacts = task["arguments"].get("artifacts", [])
        inner_artifacts = [{**art, "from": "{{inputs.artifacts." + art["name"] + "}}"} for art in artifacts]
        stdout = step.stdout_output if self.stdout else None
        outputs = [export(o, f"tasks.{name}.outputs." + ("result" if o == stdout else f"parameters.{o}"), default="[]")
                   for o, kind in step.outputs.items() if kind != "artifact"]
        self.templates.append(a.template(
            PREFIX + name, inputs=a.io([a.parameter(p["name"]) for p in passed],
                                       [a.artifact(art["name"], optional=art.get("optional")) for art in artifacts]),
            outputs=a.parameters(outputs) if outputs else None, parallelism=step.parallelism,
            dag=a.dag([a.dag_task(name, template=task["template"], with_param=with_param,
                                  arguments=a.io(inner, inner_artifacts))], fail_fast=self.fail_fast)))
        return a.dag_task(name, template=PREFIX + name, depends=task.get("depends"), when=task.get("when"),
                          arguments=a.io(passed, artifacts))
