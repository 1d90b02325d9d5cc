"""Jinja in a templated field, as orch references where one means the same, and said where none does.

Airflow renders a templated field (`bash_command`, `env`, `op_kwargs`, …) with Jinja before the task runs; orch
passes text byte for byte and fills only `${{ … }}`. So each `{{ … }}` either becomes the orch reference that
gives the same text (`{{ ds }}` -> `${{ run.date }}`), or a constant (`{{ task.task_id }}`), or stays as it is
and is reported: the step would see the braces, not what Airflow made of them.

Statements (`{% for i in range(5) %}`) that read no run value are carried out here, by Jinja itself with Airflow's
default environment (sandboxed, StrictUndefined), the tags they enclose kept to be read as above. In a command
(bash_command, which bash runs), `{{ macros.ds_add(ds, N) }}` becomes a command substitution computing the same
date from `${{ run.date }}` with python3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TAG = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
LOOP_NAMES = re.compile(r"\{%-?\s*for\s+(\w+(?:\s*,\s*\w+)*)\s+in\s")
DS_ADD = re.compile(r"^macros\.ds_add\(\s*ds\s*,\s*(-?\d+)\s*\)$")
DS_ADD_SHELL = ("$(python3 -c 'import datetime, sys; print(datetime.date.fromisoformat(sys.argv[1]) + "
                "datetime.timedelta(days=int(sys.argv[2])))' ${{ run.date }} %s)")
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
    if "{%" in text:
        done = statements_done(text)
        if done is not None:
            found.mapped.append("its Jinja statements carried out at import (they read no run value)")
            text = done
    parts, last = [], 0
    for match in TAG.finditer(text):
        parts.append(text[last:match.start()])
        last = match.end()
        inner = match.group(1)
        replaced = _tag(inner.strip(), context, found) if inner is not None else None
        if replaced is None and inner is not None and context.shell:
            replaced = _shell_tag(inner.strip(), text[:match.start()], found)
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
    shell: bool = False  # whether bash runs the text (a bash_command): a command substitution is then code
    declare: "callable | None" = None  # (param name) -> whether it is now a required param the spec declares


def statements_done(text: str) -> str | None:
    """`text` with its `{% … %}` statements carried out by Jinja (as Airflow's default environment would), every
    `{{ … }}` kept as written but a loop's own variable; None where a statement needs a run's value (Airflow's
    context) or an expression mixes a loop variable with one."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    names = {name.strip() for match in LOOP_NAMES.finditer(text) for name in match.group(1).split(",")}
    kept: list[str] = []

    def keep(match):
        inner = match.group(1).strip()
        if inner in names:
            return match.group(0)  # Jinja writes the loop's value
        if any(re.search(rf"\b{re.escape(name)}\b", inner) for name in names):
            raise ValueError(inner)
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    environment = SandboxedEnvironment(undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"], cache_size=0)
    environment.globals = {"range": environment.globals["range"]}  # nothing of a run: no context at all
    try:
        done = environment.from_string(EXPRESSION.sub(keep, text)).render()
    except (ValueError, jinja2.TemplateError, TypeError):
        return None
    return re.sub("\x00(\\d+)\x00", lambda match: kept[int(match.group(1))], done)


def _shell_tag(expr: str, before: str, found: Rendered) -> str | None:
    """A tag in a command bash runs, as a command substitution making the same text -- not inside single quotes,
    where bash would not substitute it."""
    added = DS_ADD.match(expr)
    if not added or _in_single_quotes(before):
        return None
    found.approximations.append(f"{{{{ {expr} }}}}: the date {added.group(1)} days from the run's, computed by "
                                "python3 in the step when the command runs (python3 must be there, as in orch's "
                                "default image)")
    return DS_ADD_SHELL % added.group(1)


def _in_single_quotes(text: str) -> bool:
    """Whether bash, having read `text`, is inside a single-quoted string."""
    single = double = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and not single:
            escaped = True
        elif char == "'" and not double:
            single = not single
        elif char == '"' and not single:
            double = not double
    return single


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
            if not (context.declare and context.declare(name)):
                return None
            found.approximations.append(f"{{{{ params.{name} }}}}: {name!r} is no param of the DAG, so Airflow "
                                        "renders it from a run's conf and fails the task (StrictUndefined) when the "
                                        f"conf lacks it; orch declares {name} a required param: a run without it "
                                        "does not start")
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
