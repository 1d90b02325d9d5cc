"""Airflow's example_task_group_decorator.py and the mapped task groups of its dynamic-task-mapping guide, in
orch's builder.

    orch run specs/ports/airflow_task_groups.py

A `@task_group` called once per `range(5)` is one group fanned out over five items; `add_to.expand(value=[1, 2, 3])`
is a group over a list whose output is a list; `@task.branch` inside a mapped group becomes a branch step and one
condition per task, each decided per item.
"""

import port_steps as s
from orch.core.builder import ITEM, RUN_FAILED_STEPS, RUN_STATUS, PipelineBuilder, from_stdout

pipe = PipelineBuilder("airflow-task-groups", description="Airflow's task group examples: five groups, mapped groups")
count = pipe.param("count", "json", [0, 1, 2, 3, 4], description="one task group per value (the original's range(5))")
inputs = pipe.param("inputs", "json", ["a", "b", "c"], description="the branching group's inputs")

start = pipe.step(s.task_start)
with pipe.group("task_group_function", foreach=count, after=[start]) as tg:
    t1 = pipe.step(s.task_1, args={"value": ITEM})
    t2 = pipe.step(s.task_2, args={"value": t1.outputs.result})
    t3 = pipe.step(s.task_3, args={"value": t2.outputs.result})
    last = tg.output("last", t3.outputs.result)
end = pipe.step(s.task_end, args={"seen": last})

with pipe.group("add_to", foreach=[1, 2, 3]) as add_to:
    plus = pipe.step(s.add_one, args={"value": ITEM})
    twice = pipe.step(s.double, args={"value": plus.outputs.result})
    results = add_to.output("doubled", twice.outputs.result)
pipe.step(s.consumer, args={"values": results})

with pipe.group("my_task_group", foreach=inputs) as branching:
    chosen = pipe.step(s.branch, args={"element": ITEM})
    for letter in "abc":
        pipe.step(s.say, name=letter, when=chosen.outputs.result == letter, args={"message": letter})
    branching.output("chosen", chosen.outputs.result)

with pipe.finally_steps():
    pipe.command("report", ["echo", f"{RUN_STATUS} {RUN_FAILED_STEPS}"], outputs={"line": from_stdout("string")})
