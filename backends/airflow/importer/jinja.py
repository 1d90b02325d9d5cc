"""Jinja in a templated field, as orch references where one means the same, and said where none does.

Airflow renders a templated field (`bash_command`, `env`, `op_kwargs`, …) with Jinja before the task runs; orch
passes text byte for byte and fills only `${{ … }}`. So each `{{ … }}` either becomes the orch reference that
gives the same text (`{{ ds }}` -> `${{ run.date }}`), or a constant (`{{ task.task_id }}`), or stays as it is
and is reported: the step would see the braces, not what Airflow made of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TAG = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
PARAM = re.compile(r"^params(?:\.(\w+)|\[\s*['\"](\w+)['\"]\s*\])$")
XCOM = re.compile(r"^(?:ti|task_instance)\.xcom_pull\((.*)\)$", re.S)
XCOM_ARG = re.compile(r"(\w+)\s*=\s*['\"]([\w.\-]+)['\"]")
RUN = {"ds": ("run.date", "the run's logical date, YYYY-MM-DD"), "run_id": ("run.id", "the run's id"),
       "dag_run.run_id": ("run.id", "the run's id"), "ti.run_id": ("run.id", "the run's id"),
       "task_instance.run_id": ("run.id", "the run's id")}  # the same text: only exact equivalents


@dataclass
class Rendered:
    """A templated text read: the orch text, the tasks whose XComs it reads, and what was not the same."""

    text: str
    reads: list[str] = field(default_factory=list)  # upstream task ids whose return_value it reads
    approximations: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)


def render(text: str, context: "Context") -> Rendered:
    """`text` with every Jinja tag replaced where an orch reference or constant means the same."""
    found = Rendered(text)
    if "${{" in text:
        found.unsupported.append("the text holds '${{', which orch always reads as a reference")
        return found
    parts, last = [], 0
    for match in TAG.finditer(text):
        parts.append(text[last:match.start()])
        last = match.end()
        inner = match.group(1)
        replaced = _tag(inner.strip(), context, found) if inner is not None else None
        if replaced is None:
            found.unsupported.append(f"{match.group(0)!r} is Jinja orch does not render: the step would see it as written")
            parts.append(match.group(0))
        else:
            parts.append(replaced)
    parts.append(text[last:])
    found.text = "".join(parts)
    return found


@dataclass
class Context:
    """What a tag may name: the DAG's id, the task's id, the params (name -> orch type), the tasks by id."""

    dag_id: str
    task_id: str
    params: dict
    reference: "callable"  # (task_id, key) -> the orch reference text of that task's XCom, or None


def _tag(expr: str, context: Context, found: Rendered) -> str | None:
    if expr in RUN:
        ref, what = RUN[expr]
        found.mapped.append(f"{{{{ {expr} }}}} is ${{{{ {ref} }}}}: {what}")
        return f"${{{{ {ref} }}}}"
    if expr in ("task.task_id", "ti.task_id", "task_instance.task_id"):
        return context.task_id
    if expr in ("dag.dag_id", "dag_run.dag_id", "ti.dag_id"):
        return context.dag_id
    param = PARAM.match(expr)
    if param:
        name = param.group(1) or param.group(2)
        if name not in context.params:
            return None
        if context.params[name] not in ("string", "integer"):
            found.approximations.append(f"{{{{ params.{name} }}}}: Jinja writes a {context.params[name]} with "
                                        "Python's str() (True, {'a': 1}); orch writes JSON (true, {\"a\": 1})")
        return f"${{{{ params.{name} }}}}"
    pull = XCOM.match(expr)
    if pull:
        args = dict(XCOM_ARG.findall(pull.group(1)))
        rest = XCOM_ARG.sub("", pull.group(1)).replace(",", "").strip()
        task, key = args.get("task_ids"), args.get("key", "return_value")
        if task is None or rest or args.get("dag_id", context.dag_id) != context.dag_id:
            return None
        reference = context.reference(task, key)
        if reference is None:
            return None
        found.reads.append(task)
        found.approximations.append(f"xcom_pull of {task!r}: Jinja writes the value with Python's str(); orch "
                                    "writes text as it is, numbers alike, lists and mappings as JSON")
        return reference
    return None
