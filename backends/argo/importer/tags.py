"""Argo's `{{…}}` tags in text, as orch `${{ … }}` references.

Argo substitutes tags textually (workflow/common/util.go): a template's `{{inputs.parameters.X}}` becomes the
text its caller passed, `{{tasks.T.outputs.parameters.P}}` the text task T wrote. orch references mean the same
text where they sit inside longer text, so each tag maps one to one; an input is replaced by its caller's
value, itself already written in orch's terms (the importer inlines templates at each call). Tags orch has no
reference for (`{{pod.name}}`, `{{=expr}}`, `{{item.key}}`) are refused with why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from orch.core.names import suggest_name

TAG = re.compile(r"\{\{\s*(=?)\s*(.*?)\s*\}\}", re.S)
ORCH_REF = re.compile(r"\$\{\{\s*([^{}]*?)\s*\}\}")


class Unsupported(ValueError):
    """A tag (or a value) orch cannot express; the message says why."""


@dataclass
class Scope:
    """What tags mean where a text sits: the caller's input values (orch text), the tasks of the enclosing DAG
    or steps template (Argo name -> orch step name), the workflow's params (Argo name -> orch name)."""

    inputs: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # input artifact -> its path in the container
    output_paths: dict[str, str] = field(default_factory=dict)  # output parameter or artifact -> its path
    tasks: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    param_specs: dict[str, dict] = field(default_factory=dict)  # orch param name -> its spec (type, default)
    looped: bool = False  # inside a withItems/withParam/withSequence task: `{{item}}` is its item
    depth: int = 0  # the fan-outs around: orch's ${{ item }} is the innermost one's
    item_depth: dict[str, int] = field(default_factory=dict)  # input -> the depth whose item its value holds
    final: bool = False  # in the exit handler: workflow.status and workflow.failures are known
    qualified: dict[str, str] = field(default_factory=dict)  # orch step name here -> its qualified name
    want: Callable[[str, str, str], str] | None = None  # (orch step, Argo output, how) -> orch output name
    notes: list[tuple[str, str]] = field(default_factory=list)  # approximations met: (status, note)

    def child(self, **changes) -> "Scope":
        values = {**self.__dict__, "notes": self.notes, **changes}
        return Scope(**values)


def translate(text: str, scope: Scope) -> str:
    """`text` with each Argo tag as its orch reference (or the input's value); Unsupported for the others."""
    if "${{" in text:
        raise Unsupported("the text holds '${{', which orch reads as a reference (there is no escape)")

    def one(match: re.Match) -> str:
        if match.group(1):
            raise Unsupported(f"the expression tag {match.group(0)!r} (expr-lang) has no orch equivalent")
        return reference(match.group(2), scope)

    return TAG.sub(one, text)


def reference(body: str, scope: Scope) -> str:
    """One tag's body (`tasks.a.outputs.result`) as orch text."""
    parts = body.split(".")
    if parts[:2] == ["inputs", "parameters"] and len(parts) == 3:
        if parts[2] not in scope.inputs:
            raise Unsupported(f"input parameter {parts[2]!r} has no value here")
        value = scope.inputs[parts[2]]
        if "${{ item }}" in value and scope.item_depth.get(parts[2], scope.depth) != scope.depth:
            raise Unsupported(f"input {parts[2]!r} holds an outer loop's item inside an inner loop: orch's "
                              "${{ item }} is the innermost fan-out's")
        return value
    if parts[:2] == ["inputs", "artifacts"] and len(parts) == 3 and f"artifact:{parts[2]}" in scope.inputs:
        return scope.inputs[f"artifact:{parts[2]}"]  # passed on (`from: "{{inputs.artifacts.x}}"`): what it was given
    if parts[:2] == ["inputs", "artifacts"] and len(parts) == 4 and parts[3] == "path" and parts[2] in scope.artifacts:
        return scope.artifacts[parts[2]]
    if parts[:1] == ["outputs"] and len(parts) == 4 and parts[3] == "path" and parts[2] in scope.output_paths:
        return scope.output_paths[parts[2]]
    if parts[:2] == ["workflow", "parameters"] and len(parts) == 3:
        if parts[2] not in scope.params:  # undeclared: Argo needs it given at submit (-p, an event's arguments)
            fixed = suggest_name(parts[2])
            scope.params[parts[2]] = fixed
            scope.param_specs.setdefault(fixed, {"type": "string"})
            scope.notes.append(("mapped", f"{{{{workflow.parameters.{parts[2]}}}}} names no declared parameter: a "
                                          f"required param, as Argo refuses the workflow without its value at submit"))
        return "${{ params.%s }}" % scope.params[parts[2]]
    if parts[0] in ("tasks", "steps") and len(parts) >= 4 and parts[2] == "outputs" and parts[1] in scope.tasks:
        step = scope.tasks[parts[1]]
        if parts[3] == "result" and len(parts) == 4:
            return "${{ steps.%s.outputs.%s }}" % (step, scope.want(step, "result", "result"))
        if parts[3] in ("parameters", "artifacts") and len(parts) == 5:
            return "${{ steps.%s.outputs.%s }}" % (step, scope.want(step, parts[4], parts[3]))
    if body == "item" and scope.looped:
        return "${{ item }}"
    if body == "workflow.name":
        scope.notes.append(("mapped", "{{workflow.name}} is ${{ run.id }}: on Argo the run id is the workflow's name"))
        return "${{ run.id }}"
    if body == "workflow.status" and scope.final:
        scope.notes.append(("approximated", "{{workflow.status}} is ${{ run.status }}: 'succeeded' or 'failed' "
                                            "where Argo says Succeeded, Failed or Error"))
        return "${{ run.status }}"
    if body == "workflow.failures" and scope.final:
        scope.notes.append(("approximated", "{{workflow.failures}} is ${{ run.failed_steps }}: a json list of the "
                                            "failed steps' names, not Argo's list of node objects"))
        return "${{ run.failed_steps }}"
    raise Unsupported(f"the tag {{{{{body}}}}} has no orch reference here")


def single_reference(text: str) -> str | None:
    """The body of `text` when it is exactly one orch reference (`${{ params.x }}` -> `params.x`)."""
    match = ORCH_REF.fullmatch(text.strip())
    return match.group(1) if match else None
