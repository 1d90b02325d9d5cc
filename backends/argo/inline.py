"""A step's own template, as a reviewer would write it: a command step is a plain container
running its argv in its image (nothing of orch in it, no python, no shell); a python step runs
orch's runner, shipped once per Workflow in the `orch/runner` annotation, on the step's call, and
so does a command step that must (`runs_runner`).

Argo substitutes `{{…}}` over a template twice (globals, then inputs; workflow/common/util.go,
`SubstituteParams`), input values included, and Kubernetes expands `$(VAR)` in command, args and
env. So what reaches the container is built to pass both untouched:
- text holding no `{` and no `$(`/`$$` is written as is;
- a param is `{{=replace(workflow.parameters["P"], "$", "$$")}}` (orch refuses `{{` in param values);
- an upstream output arrives as a task argument computed in the DAG: '' for null (its producer did
  not succeed), else base64 of its text, so no value Argo substitutes ever holds a tag; the template
  decodes it with `{{=fromBase64(inputs.parameters["S_O"])}}`, an expression Argo evaluates in its
  last pass, whose result it never reads again;
- a literal holding `{` is an input of its own (`L0`…) carried the same way.
Outputs are output parameters read from /tmp/orch/outputs/NAME (an emptyDir the command writes
into) or, for `from: stdout`, Argo's `outputs.result`.
"""

from __future__ import annotations

import base64
import json
import re

from orch.core.artifacts import artifact_outputs
from orch.core.names import argo_name
from orch.core.expr import RefNode
from orch.core.refs import find_refs, iter_strings
from orch.core.spec import Pipeline, Step
from orch.core import typed
from orch.core.typed import to_text

from . import artifacts
from . import manifest as a
from . import where
from .artifacts import INPUTS, input_name
from .bootstrap import brace_free_json
from .condition import literal as expr_literal
from .condition import ExprLang, run_value
from .layout import throttled
from .payload import RUN_DATE, Payload
from .templates import OUTPUTS, RUNNER, container_settings, image_of

VOLUME = "orch-outputs"
SPACE = expr_literal(typed.SPACE)
_DOLLAR = re.compile(r"\$(?=[$(])")


def k8s_literal(text: str) -> str:
    """Text Kubernetes' `$(VAR)` expansion gives back unchanged: `$(` as `$$(`, `$$` as `$$$$`."""
    return _DOLLAR.sub("$$", text)


def _read(name: str) -> str:
    return f"inputs.parameters[{expr_literal(name)}]"


class StepTemplate:
    """The template of one step and the arguments its task passes."""

    def __init__(self, pipeline: Pipeline, name: str, step: Step, code: str | None = None, outcome=None):
        """`code`: the shipped code's key (where.py), or None; `outcome`: the run as a finally step reads it (final.py)."""
        self.pipeline, self.name, self.step, self.code, self.outcome = pipeline, name, step, code, outcome
        self.inputs: dict[str, str] = {}  # input name -> the task argument's value
        self.literals: dict[str, str] = {}  # input name -> base64 of a literal holding '{'

    # -- values -----------------------------------------------------------------------------
    def output_value(self, producer: str, output: str, for_python: bool) -> str:
        """The DAG-side expression a consumer's input gets: '' when the producer did not succeed."""
        source = self.pipeline.steps[producer]
        readable, raw = self.guarded(producer, output)
        if source.foreach is not None:  # an empty fan-out is Skipped, and has no output
            value = f'"v" + toBase64({raw} ?? "[]")'
        elif for_python:
            value = f'"v" + toBase64({raw})'
        else:
            value = f'toBase64(replace({_normalized(raw, source.outputs[output])}, "$", "$$"))'
        return "{{=" + f'{readable} ? {value} : ""' + "}}"

    def guarded(self, producer: str, output: str) -> tuple[str, str]:
        """(whether the producer's output is there to read, its text), as this step's DAG reads them: its task
        Succeeded (a fan-out's, or was Skipped: an empty list)."""
        status = f"tasks[{expr_literal(argo_name(producer))}].status"
        fan_out = self.pipeline.steps[producer].foreach is not None
        readable = f'{status} in ["Succeeded", "Skipped"]' if fan_out else f'{status} == "Succeeded"'
        return readable, output_text(self.pipeline, producer, output)

    def text_expr(self, value: str) -> str:
        """An argv or env string as the container must receive it, as expr-lang the DAG evaluates (reuse.py passes
        it so): literals Kubernetes-escaped, a param's or an output's text with `$` doubled, '' for null."""
        pieces, pos = [], 0
        for ref in find_refs(value):
            pieces += [expr_literal(k8s_literal(value[pos:ref.start]))] if value[pos:ref.start] else []
            pieces.append(self._ref_expr(ref))
            pos = ref.end
        pieces += [expr_literal(k8s_literal(value[pos:]))] if value[pos:] else []
        return " + ".join(pieces) or '""'

    def _ref_expr(self, ref) -> str:
        if ref.kind == "param":
            return f'replace(workflow.parameters[{expr_literal(ref.name)}], "$", "$$")'
        if ref.kind == "run":
            return self._run_text(ref.name)
        readable, raw = self.guarded(ref.step, ref.name)  # (no item, no artifact: reuse.py keeps those apart)
        return f'({readable} ? replace({_normalized(raw, self.pipeline.steps[ref.step].outputs[ref.name])}, "$", "$$") : "")'

    def text(self, value: str) -> str:
        """A string of argv or env as the container must receive it."""
        refs = list(find_refs(value))
        if not refs:
            return self._literal(value)
        pieces, pos = [], 0
        for ref in refs:
            if value[pos:ref.start]:
                pieces.append(self._literal(value[pos:ref.start], before_tag=True))
            pieces.append(self._ref(ref))
            pos = ref.end
        if value[pos:]:
            pieces.append(self._literal(value[pos:]))
        return "".join(pieces)

    def _literal(self, text: str, before_tag: bool = False) -> str:
        """Inline unless Argo could read a tag in it: a '{{', or a '{' just before orch's own tag."""
        if "{{" not in text and not (before_tag and text.endswith("{")):
            return k8s_literal(text)
        name = f"L{len(self.literals)}"
        self.literals[name] = base64.b64encode(k8s_literal(text).encode("utf-8")).decode("ascii")
        return "{{=fromBase64(" + _read(name) + ")}}"

    def _ref(self, ref) -> str:
        if ref.kind == "param":
            return "{{=replace(workflow.parameters[" + expr_literal(ref.name) + '], "$", "$$")}}'
        if ref.kind == "run":
            return {"id": "{{workflow.name}}", "date": RUN_DATE}.get(ref.name) or "{{=" + self._run_text(ref.name) + "}}"
        if ref.kind == "item":  # its text, Kubernetes-escaped, as base64 in the withParam list (plain_items)
            return "{{=fromBase64(" + _read("item") + ")}}"
        name = input_name(ref.step, ref.name)
        if artifacts.is_artifact(self.pipeline, ref.step, ref.name):
            return self._artifact_path(ref.step, name)
        self.inputs[name] = self.output_value(ref.step, ref.name, for_python=False)
        return "{{=fromBase64(" + _read(name) + ")}}"

    def _artifact_path(self, producer: str, name: str) -> str:
        """The input artifact's path; under a tolerant trigger, '' unless its producer succeeded (Argo then leaves
        the optional input out), chosen in the DAG and passed as an input parameter of the same name."""
        path = f"{INPUTS}/{name}"
        if not artifacts.optional(self.step):
            return path
        status = f"tasks[{expr_literal(argo_name(producer))}].status"
        self.inputs[name] = "{{=" + f'{status} == "Succeeded" ? toBase64({expr_literal(path)}) : ""' + "}}"
        return "{{=fromBase64(" + _read(name) + ")}}"

    def _run_text(self, name: str) -> str:
        """The expr-lang text of `run.NAME`."""
        if name == "failed_steps":
            return self.outcome.failed_steps_text()
        return run_value(name, self.outcome)

    # -- the template ----------------------------------------------------------------------
    def through_runner(self) -> bool:
        """Whether the step runs orch's runner (`runs_runner`)."""
        return runs_runner(self.pipeline, self.step)

    def indexed(self) -> bool:
        """Whether the template takes an item index, `item` (a fan-out's; groups.py: a step inside a fan-out group)."""
        return self.step.foreach is not None

    def tolerated(self) -> tuple:
        """Producers whose artifacts may be absent whatever the step's trigger (a finally step's steps)."""
        return ()

    def artifact_arguments(self) -> list[dict]:
        """The artifacts its task passes (artifacts.py)."""
        return artifacts.task_arguments(self.pipeline, self.step, artifacts.task_source)

    def container(self) -> dict:
        step = self.step
        if self.through_runner():
            return self._python()
        argv = [self.text(arg) for arg in step.command]
        env = [a.env_var(key, self.text(value)) for key, value in step.env.items()] + where.plain_env(step, self.code)
        if _file_outputs(step):
            env.append(a.env_var("ORCH_OUTPUTS", OUTPUTS))
        own = [a.volume_mount(VOLUME, OUTPUTS)] if _file_outputs(step) else []
        return a.container(image_of(step, "busybox:1.36"), command=argv[:1], args=argv[1:] or None, env=env or None,
                           working_dir=where.CODE_DIR if self.code else None, **container_settings(step, own))

    def payload(self) -> Payload:
        """The step's call, its references indexed (payload.py)."""
        return Payload(self.pipeline, self.step)

    def _python(self) -> dict:
        payload = self.payload()
        data = payload.data()
        args = []
        for (kind, producer, name), index in sorted(payload.refs.items(), key=lambda item: item[1]):
            spec = data["refs"][index]
            if kind == "param":
                spec["type"] = self.pipeline.params[name].type
                args.append("{{=" + f'"v" + toBase64(workflow.parameters[{expr_literal(name)}])' + "}}")
            elif spec["kind"] == "artifact":  # the runner finds it on its disk (a finally step's: if its producer did not fail)
                if spec.get("guarded"):
                    args.append("{{=" + f'{self.outcome.not_failed(producer)} ? "v" : ""' + "}}")
            elif spec["kind"] == "artifacts":  # found on its disk too, checked against the count
                self.inputs[input_name(producer, name)] = artifacts.item_count(
                    self.pipeline, producer, artifacts.task_status, payload.output_expr)
                args.append("{{inputs.parameters." + input_name(producer, name) + "}}")
            elif kind == "output":
                spec["type"] = self.pipeline.steps[producer].outputs[name]
                self.inputs[input_name(producer, name)] = self.output_value(producer, name, for_python=True)
                args.append("{{inputs.parameters." + input_name(producer, name) + "}}")
            else:  # run.id and run.date; a finally step's run.status and run.failed_steps (a json list)
                if name == "failed_steps":
                    spec.update(kind="output", type="json")
                args.append("{{=" + f'"v" + toBase64({self._run_text(name)})' + "}}")
        call = k8s_literal(brace_free_json(data, sort_keys=True, default=str))
        env = [a.env_var("ORCH_ITEM", "{{inputs.parameters.item}}")] if self.indexed() else []
        env += where.runner_env(self.step, self.code)
        return a.container(image_of(self.step, "python:3.12-slim"), command=RUNNER, args=[call] + args, env=env or None,
                           **container_settings(self.step))

    def parameters(self) -> list[dict]:
        names = list(self.inputs) + (["item"] if self.indexed() else [])
        return [a.parameter(n) for n in names] + [a.parameter(n, value=v) for n, v in self.literals.items()]

    def template_inputs(self) -> dict | None:
        return a.io(self.parameters(), where.code_input(self.code) + artifacts.template_inputs(self.pipeline, self.step,
                                                                                                   self.tolerated()))

    def outputs(self) -> dict | None:
        values = [o for o in _file_outputs(self.step) if self.step.outputs[o] != "artifact"]
        return a.io([a.parameter(o, value_from=a.value_from(path=f"{OUTPUTS}/{o}")) for o in values],
                    artifacts.template_outputs(self.pipeline, self.name))


def runs_runner(pipeline: Pipeline, step: Step) -> bool:
    """A python step; a command fan-out over a run-time list (the runner picks its item); a command reading a
    fan-out's artifacts (the runner unpacks the items and writes their list as text); a command with packages
    (the runner makes their env: the image needs python3)."""
    return (bool(step.python) or (step.foreach is not None and plain_items(step) is None)
            or artifacts.reads_list(pipeline, step) or bool(step.packages))


def plain_items(step: Step) -> list[str] | None:
    """A command fan-out's `withParam` when its list is written in the spec, with no reference: each item's
    text as every backend hands it to a command (`to_text`), Kubernetes-escaped, in base64, so the item
    reaches a plain container as a literal does. None for a list known only at run time: Argo cannot
    write its items as orch's text (a float's digits, JSON's spacing), so the runner picks them; and
    None for a fan-out with artifact outputs, whose keys need the item's index."""
    if step.command is None or not isinstance(step.foreach, list) or artifact_outputs(step.outputs):
        return None  # an artifact's key ends in the item's index, which the runner's `item` input is
    if any("${{" in text for _, text in iter_strings(step.foreach)):
        return None
    return [base64.b64encode(k8s_literal(to_text(item)).encode("utf-8")).decode("ascii") for item in step.foreach]


def output_text(pipeline: Pipeline, producer: str, output: str) -> str:
    """Where Argo keeps an output's text in the DAG: an output parameter, or `result` for stdout (which a
    throttled fan-out's wrapper exports as a parameter: a DAG has no `result`)."""
    task = expr_literal(argo_name(producer))
    step = pipeline.steps[producer]
    if step.stdout_output == output and not throttled(step):
        return f"tasks[{task}].outputs.result"
    return f"tasks[{task}].outputs.parameters[{expr_literal(output)}]"


def _file_outputs(step: Step) -> list[str]:
    """The outputs a step leaves in files, artifacts too (python steps: its runner writes them)."""
    stdout = step.stdout_output
    return [o for o in step.outputs if o != stdout]


def _normalized(raw: str, kind: str) -> str:
    """An output's text as orch's other backends hand it to a command: integers and booleans re-read
    from their text (what a python step wrote already is); numbers and JSON as the producer wrote them."""
    if kind == "integer":
        return f"string(int(trim({raw}, {SPACE})))"
    if kind == "boolean":
        word = f"trim({raw}, {SPACE})"
        return f'({word} in {TRUE} ? "true" : ({word} in {FALSE} ? "false" : {not_boolean(word)}))'
    return raw


TRUE, FALSE = json.dumps(typed.TRUE_WORDS), json.dumps(typed.FALSE_WORDS)  # expr-lang lists of typed.parse_text's words


def not_boolean(word: str) -> str:
    """An expression that fails, naming the text: expr-lang's int() refuses it, as it refuses a bad integer,
    so the task reading a boolean output that is neither word errors (and orch reads its producer as failed)."""
    return f'string(int("not true or false: " + {word}))'


class TextExprLang(ExprLang):
    """`when` over outputs that travel as their text: decoded by type, null unless the producer succeeded."""

    def __init__(self, pipeline: Pipeline, param_type, types, outcome=None):
        super().__init__(param_type, types, outcome=outcome)
        self.pipeline = pipeline

    def text(self, expr):
        if not (isinstance(expr, RefNode) and expr.ref.kind == "output"):
            return super().text(expr)
        producer, output = expr.ref.step, expr.ref.name
        source = self.pipeline.steps[producer]
        task = expr_literal(argo_name(producer))
        raw = output_text(self.pipeline, producer, output)
        kind = source.outputs[output]
        if source.foreach is not None:
            item = _typed("#", kind, list_item=True)
            return f'(tasks[{task}].status == "Succeeded" ? map(fromJSON({raw}), {item}) : (tasks[{task}].status == "Skipped" ? [] : nil))'
        return f'(tasks[{task}].status == "Succeeded" ? {_typed(raw, kind)} : nil)'


def _typed(raw: str, kind: str, list_item: bool = False) -> str:
    """expr-lang reading an output's text as its type (Argo parses a list's items when all are objects or lists)."""
    word = f"trim({raw}, {SPACE})"
    if kind == "integer":
        return f"int({word})"
    if kind == "number":
        return f"float({word})"
    if kind == "boolean":
        return f'({word} in {TRUE} ? true : ({word} in {FALSE} ? false : {not_boolean(word)} == ""))'
    if kind == "json":
        return f"(type({raw}) == 'string' ? fromJSON({raw}) : {raw})" if list_item else f"fromJSON({raw})"
    return raw
