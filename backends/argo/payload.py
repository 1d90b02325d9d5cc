"""A step's call as the bootstrap reads it, and the Argo tags that feed its references.

References become `{"$ref": N}` in a JSON payload (text holding them, `{"$text": [...]}`);
each one's value is a task argument holding the Argo tag that yields it -- but an artifact's, which
is the input artifact the runner finds on its disk (artifacts.py), and takes no argument; a fan-out's
artifact list is found there too, its argument the count the runner checks it against. `${{ item }}`
is the reference after the last one (the bootstrap appends the current item: inside fan-out groups, picked through
the chain of their lists, `within`, by the indexes in ORCH_ITEM).
"""

from __future__ import annotations

import json
from typing import Any

from orch.core.names import argo_name
from orch.core.refs import Ref, find_refs, iter_strings, whole_ref
from orch.core.spec import Pipeline, Step

from .artifacts import input_name, is_artifact, is_list, item_count, task_status
from .bootstrap import brace_free_json

MARKERS = {"$ref", "$text", "$dict"}
RUN_DATE = "{{workflow.creationTimestamp.Y}}-{{workflow.creationTimestamp.m}}-{{workflow.creationTimestamp.d}}"


def task_output(step: str, name: str) -> str:
    """The Argo tag body of an output, read in the DAG that runs its step."""
    return f"tasks.{argo_name(step)}.outputs.parameters.{name}"


def task_output_expr(step: str, name: str) -> str:
    return f'tasks["{argo_name(step)}"].outputs.parameters["{name}"]'


class Payload:
    def __init__(self, pipeline: Pipeline, step: Step, output=task_output, output_expr=task_output_expr, status=task_status,
                 outcome=None, within: tuple = ()):
        """`outcome`: the run as a finally step reads it (final.py), for `run.status` and `run.failed_steps`;
        `within`: the lists of the fan-out groups around the step, outermost first (groups.py), the runner's item chain."""
        self.pipeline = pipeline
        self.step = step
        self.within = list(within)
        self.output, self.output_expr, self.status, self.outcome = output, output_expr, status, outcome
        self.refs: dict[tuple, int] = {}
        self.specs: list[dict] = []
        self.tags: list[str] = []
        self._found: dict[str, list[Ref]] = {}
        self._collect()

    def _collect(self) -> None:
        step = self.step
        for _, text in iter_strings([step.args, step.env, step.command or [], step.foreach, self.within]):
            for ref in self._refs_in(text):
                if ref.kind != "item":
                    self._index(ref)

    def _refs_in(self, text: str) -> list[Ref]:
        """find_refs, once per text: _collect and _rewrite both read them."""
        if text not in self._found:
            self._found[text] = find_refs(text)
        return self._found[text]

    def _index(self, ref: Ref) -> int:
        key = (ref.kind, ref.step, ref.name)
        if key not in self.refs:
            self.refs[key] = len(self.specs)
            self.specs.append(self._spec(ref))
            if self.specs[-1]["kind"] != "artifact" or self.specs[-1].get("guarded"):
                self.tags.append(self._tag(ref))
        return self.refs[key]

    def _spec(self, ref: Ref) -> dict:
        if ref.kind == "param":
            return {"kind": "param", "type": self.pipeline.params[ref.name].type}
        if ref.kind == "output" and is_list(self.pipeline, ref.step, ref.name):
            return {"kind": "artifacts", "input": input_name(ref.step, ref.name)}
        if ref.kind == "output" and is_artifact(self.pipeline, ref.step, ref.name):  # guarded: found only if not failed
            return {"kind": "artifact", "input": input_name(ref.step, ref.name), **({"guarded": True} if self._guarded(ref) else {})}
        if ref.kind == "output":
            return {"kind": "list" if self.pipeline.steps[ref.step].foreach is not None else "output"}
        return {"kind": "output" if ref.name == "failed_steps" else "run"}  # that one is a json list

    def _guarded(self, ref: Ref) -> bool:
        """A finally step's artifact of a step: what a failed pod uploaded is there too, and must read as null."""
        return self.outcome is not None and ref.step in self.outcome.steps

    def _tag(self, ref: Ref) -> str:
        if ref.kind == "output" and is_artifact(self.pipeline, ref.step, ref.name) and self._guarded(ref):
            return "{{=" + f'{self.outcome.not_failed(ref.step)} ? "v" : ""' + "}}"
        if ref.kind == "param":
            return "{{workflow.parameters." + ref.name + "}}"
        if ref.kind == "output" and is_list(self.pipeline, ref.step, ref.name):
            return item_count(self.pipeline, ref.step, self.status, self.output_expr)
        if ref.kind == "output":
            return "{{" + self.output(ref.step, ref.name) + "}}"
        if ref.name in ("status", "failed_steps"):  # a finally step's, from the exit handler (none without it: Airflow's)
            if self.outcome is None:
                return ""
            return "{{=" + (self.outcome.status() if ref.name == "status" else f"toJson({self.outcome.failed_steps()})") + "}}"
        return "{{workflow.name}}" if ref.name == "id" else RUN_DATE

    def _rewrite(self, value: Any) -> Any:
        """`value` with references as {"$ref": N}, text holding them as {"$text": [piece, {"$ref": N}, ...]};
        a mapping of the user's that has one of those keys is wrapped as {"$dict": ...}."""
        if isinstance(value, str):
            if "${{" not in value:
                return value
            pieces: list[Any] = []
            pos = 0
            for ref in self._refs_in(value):
                index = len(self.specs) if ref.kind == "item" else self.refs[(ref.kind, ref.step, ref.name)]
                pieces += [value[pos:ref.start], {"$ref": index}]
                pos = ref.end
            pieces.append(value[pos:])
            pieces = [piece for piece in pieces if piece != ""]
            return pieces[0] if len(pieces) == 1 and isinstance(pieces[0], dict) else {"$text": pieces}
        if isinstance(value, dict):
            rewritten = {k: self._rewrite(v) for k, v in value.items()}
            return {"$dict": rewritten} if MARKERS & set(value) else rewritten
        if isinstance(value, list):
            return [self._rewrite(v) for v in value]
        return value

    def data(self) -> dict:
        step = self.step
        data: dict[str, Any] = {"kind": "python" if step.python else "command", "env": self._rewrite(step.env),
                                "outputs": dict(step.outputs), "refs": self.specs}
        if step.python:
            data.update(python=step.python, args=self._rewrite(step.args))
        else:
            data["argv"] = self._rewrite(step.command)
        if step.foreach is not None:
            data["foreach"] = self._rewrite(step.foreach)
        if self.within:
            data["within"] = [self._rewrite(each) for each in self.within]
        return data

    def encoded(self) -> str:
        """JSON a reviewer can read, with every brace inside its strings written as a \\u escape,
        so neither Argo nor Jinja finds a tag in it (ValueError for a non-finite number)."""
        return brace_free_json(self.data(), sort_keys=True, default=str)

    def foreach_indexes(self) -> str:
        """`withParam` for the fan-out: the item indexes, known now or computed by Argo from the list."""
        ref = whole_ref(self.step.foreach) if isinstance(self.step.foreach, str) else None
        if ref is None:
            return json.dumps(list(range(len(self.step.foreach))))
        source = f'workflow.parameters["{ref.name}"]' if ref.kind == "param" else self.output_expr(ref.step, ref.name)
        return "{{=toJson(map(fromJSON(" + source + "), #index))}}"
