"""Reusable steps on Argo: the uses of one of the spec's templates (`templates:`, a step's `uses:`) share one Argo
template named after it, `Uses-NAME`, and each use's task passes what is its own.

Each use is first built as a step with a template of its own (inline.py); then what is the use's own is lifted
out into task arguments, and uses whose templates are then alike share one (`Uses-NAME-2`, … for another shape:
another image, resources, retries, outputs, a fan-out, …):
- a python step (orch's runner): its call, `args[0]`, becomes the input `payload`, brace-free JSON holding the
  use's args and env, and each reference's value (argv after the call) the input `rN`, computed in the DAG as
  before (`{{="v" + toBase64(workflow.parameters["P"])}}`, the producer's guarded output). A use with fewer
  references leaves the last inputs at their default, '', which the runner does not read.
- a command step (a plain container): an argv item or env value written the same by every use, without a
  reference or a `{{`, stays in the template; one holding `${{ item }}` too, if every use writes it the same (else
  each way is a shape of its own). Any other becomes the input `Arg-N` (argv's N-th) or `Env-NAME`: a literal as its text,
  Kubernetes-escaped (the template reads `{{inputs.parameters.Arg-N}}`), or, where any use's holds a reference or a
  `{{`, base64 of the text the DAG computes (`{{=toBase64(…)}}`, read back with `fromBase64`): a value Argo places
  in a template never holds a tag.
- an output a finally step reads is exported by its producer's template (final.py): the shared template's
  `globalName` is the input `Global-OUTPUT`, which that use sets (`S__O`) and the others leave at '', which Argo
  does not export (operator.go, addParamToGlobalScope; validate.go leaves a parameter's globalName to run time).
A step that writes or reads artifacts (its keys and inputs name it and its producers) and a throttled fan-out (its
wrapper calls it) keep a template of their own. Past a template per step, steps share templates by shape anyway
(render.py); a template's uses then share one named after it, per shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orch.core.names import argo_name
from orch.core.refs import find_refs
from orch.core.templates import template_of

from . import manifest as a
from .artifacts import artifact_refs
from .inline import StepTemplate, k8s_literal
from .layout import throttled
from .templates import RUNNER

PREFIX = "Uses-"  # a capital: no step's template is named so
_INPUT = re.compile(r"^\{\{inputs\.parameters\.([A-Za-z0-9_-]+)\}\}$")
_READS = re.compile(r'inputs\.parameters(?:\.|\[")([A-Za-z0-9_-]+)')
_SNAKE = re.compile(r"[A-Z]")  # a template's camelCase field, as manifest.template names its argument


@dataclass
class Built:
    """One step rendered with a template of its own (render.py): its template, its tasks (a gate's too), the stdout
    its DAG must name, and what built them."""

    step: str
    template: dict
    tasks: list[dict]
    stdout: list[str]
    source: StepTemplate


@dataclass
class _Use:
    built: Built
    rest: dict  # the template without its name and what each use passes
    values: dict[str, str] = field(default_factory=dict)  # lifted input -> this use's value (see _lift)
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)  # a command's item -> (kind, its value)
    exports: dict[str, str] = field(default_factory=dict)  # output -> its global name (final.py)


def shape_name(template: str, taken) -> str:
    """`Uses-NAME`, or `Uses-NAME-2`, … for its next shape."""
    base, taken = PREFIX + argo_name(template), set(taken)
    name, count = base, 1
    while name in taken:
        count += 1
        name = f"{base}-{count}"
    return name


def shared(built: list[Built]) -> list[dict]:
    """The templates, in order of first use: each step's own, but one per shape for the uses of each of the spec's
    templates, whose tasks then call it with what is theirs."""
    templates: list[dict] = []
    groups: dict[str, list[list[_Use]]] = {}  # the spec's template -> its shapes' uses
    for each in built:
        use = _lift(each) if template_of(each.source.step) and _shareable(each) else None
        if use is None:
            templates.append(each.template)
            continue
        shapes = groups.setdefault(template_of(each.source.step), [])
        match = next((uses for uses in shapes if uses[0].rest == use.rest), None)
        if match is None:
            shapes.append([use])
            templates.append({"name": ""})  # its place, filled below
        else:
            match.append(use)
    places = iter(i for i, t in enumerate(templates) if t == {"name": ""})
    taken = {t["name"] for t in templates}
    position = {id(each): i for i, each in enumerate(built)}
    order = sorted(((position[id(uses[0].built)], name, uses) for name, shapes in groups.items() for uses in shapes),
                   key=lambda item: item[0])
    for _, name, uses in order:
        called = shape_name(name, taken)
        taken.add(called)
        templates[next(places)] = _template(called, uses)
    return templates


def _shareable(each: Built) -> bool:
    pipeline, step = each.source.pipeline, each.source.step
    return not (artifact_refs(pipeline, step) or any(kind == "artifact" for kind in step.outputs.values())
                or throttled(step))


def _lift(each: Built) -> _Use | None:
    """The use with what is its own lifted out of its template; None if it cannot share (a command's item text
    read from other inputs)."""
    container = each.template["container"]
    rest = {k: v for k, v in each.template.items() if k not in ("name", "inputs")}
    exports, rest["outputs"] = _exports(each.template.get("outputs"))
    inputs = dict(each.source.inputs)
    if container["command"] == RUNNER:
        args = container["args"]
        values = {"payload": args[0]}
        values.update((f"r{i}", _dag_side(arg, inputs)) for i, arg in enumerate(args[1:]))
        rest["container"] = {**container, "args": None}
        return _Use(each, _keyed(rest, each), values, exports=exports)
    use = _Use(each, {}, exports=exports)
    step, source = each.source.step, each.source
    strings = [(f"Arg-{i}", text) for i, text in enumerate(step.command)] + [(f"Env-{k}", v) for k, v in step.env.items()]
    for key, text in strings:
        refs = find_refs(text)
        if any(ref.kind == "item" for ref in refs):
            built_text = source.text(text)
            if set(_READS.findall(built_text)) - {"item"}:
                return None
            use.texts[key] = ("item", built_text)
        elif not refs and "{{" not in text:
            use.texts[key] = ("text", text)
        else:
            use.texts[key] = ("expr", source.text_expr(text))
    users = len(step.env)
    rest["container"] = {**container, "command": None, "args": None,
                         "env": [{"name": e["name"]} for e in container.get("env", [])[:users]] + container.get("env", [])[users:]}
    use.rest = _keyed(rest, each, tuple((k, v if kind == "item" else None) for k, (kind, v) in use.texts.items()))
    return use


def _keyed(rest: dict, each: Built, texts: tuple = ()) -> dict:
    """What must be alike for uses to share: the template but what they pass, its fan-out's item input, their texts' kinds."""
    return {**rest, "Orch-item": each.source.indexed(), "Orch-texts": texts}


def _exports(outputs: dict | None) -> tuple[dict[str, str], dict | None]:
    """(output -> the global name it is exported as, the outputs without)."""
    if not outputs or not any("globalName" in p for p in outputs.get("parameters", [])):
        return {}, outputs
    exports = {p["name"]: p["globalName"] for p in outputs["parameters"] if "globalName" in p}
    return exports, {**outputs, "parameters": [{k: v for k, v in p.items() if k != "globalName"} for p in outputs["parameters"]]}


def _dag_side(arg: str, inputs: dict[str, str]) -> str:
    """A runner's argument as the task passes it: an input the template read becomes the value the task gave it."""
    match = _INPUT.match(arg)
    return inputs[match.group(1)] if match else arg


def _template(name: str, uses: list[_Use]) -> dict:
    """The template the uses share, their tasks calling it with their own values."""
    first = uses[0].built.template
    container = first["container"]
    if container["command"] == RUNNER:
        count = max(len(u.values) for u in uses) - 1  # the references of the use that has most
        inputs = [a.parameter("payload")] + [a.parameter(f"r{i}", default="") for i in range(count)]
        container = {**container, "args": ["{{inputs.parameters.payload}}"] + [f"{{{{inputs.parameters.r{i}}}}}" for i in range(count)]}
    else:
        inputs, container = _command(uses, container)
    exported = list(dict.fromkeys(output for use in uses for output in use.exports))
    inputs += [a.parameter(f"Global-{output}", default="") for output in exported]
    if uses[0].built.source.indexed():
        inputs.append(a.parameter("item"))
    for use in uses:
        use.values.update((f"Global-{output}", name) for output, name in use.exports.items())
        _call(use, name)
    artifacts = (first.get("inputs") or {}).get("artifacts", [])  # the shipped code's, if any
    fields = {_SNAKE.sub(lambda m: "_" + m.group().lower(), k): v for k, v in first.items() if k != "name"}
    outputs = _exports(first.get("outputs"))[1]
    if exported:  # its uses' global names, each use's own (none: '', not exported)
        outputs = {**outputs, "parameters": [a.parameter(p["name"], value_from=p["valueFrom"], global_name=(
            f"{{{{inputs.parameters.Global-{p['name']}}}}}" if p["name"] in exported else None)) for p in outputs["parameters"]]}
    return a.template(name, **{**fields, "inputs": a.io(inputs, artifacts), "outputs": outputs, "container": container})


def _command(uses: list[_Use], container: dict) -> tuple[list[dict], dict]:
    """A plain container's argv and env: alike texts in it, the others its inputs, each use's values set."""
    inputs, texts = [], {}
    for key in uses[0].texts:
        kinds = {u.texts[key] for u in uses}
        kind, value = uses[0].texts[key]
        if kind == "item" or (len(kinds) == 1 and kind == "text"):
            texts[key] = value if kind == "item" else k8s_literal(value)
            continue
        plain = all(u.texts[key][0] == "text" for u in uses)
        inputs.append(a.parameter(key))
        texts[key] = f"{{{{inputs.parameters.{key}}}}}" if plain else '{{=fromBase64(inputs.parameters["' + key + '"])}}'
        for use in uses:
            kind, value = use.texts[key]
            use.values[key] = k8s_literal(value) if plain else "{{=toBase64(" + (_literal(value) if kind == "text" else value) + ")}}"
    argv = [texts[key] for key in uses[0].texts if key.startswith("Arg-")]
    env = [a.env_var(key[len("Env-"):], texts[key]) for key in uses[0].texts if key.startswith("Env-")]
    others = container.get("env", [])[len(env):]
    fields = {**container, "command": argv[:1], "args": argv[1:] or None, "env": env + others or None}
    return inputs, {k: v for k, v in fields.items() if v is not None}


def _literal(text: str) -> str:
    from .condition import literal

    return literal(k8s_literal(text))


def _call(use: _Use, name: str) -> None:
    """The use's task now calls the shared template with its values (and its item index, as the use passed it)."""
    task = next(t for t in use.built.tasks if t.get("template") == use.built.template["name"])
    parameters = [a.parameter(k, value=v) for k, v in use.values.items()]
    parameters += [p for p in (task.get("arguments") or {}).get("parameters", []) if p["name"] == "item"]
    artifacts = (task.get("arguments") or {}).get("artifacts")
    rebuilt = a.dag_task(task["name"], arguments=a.io(parameters, artifacts or []), depends=task.get("depends"),
                         template=name, when=task.get("when"), with_param=task.get("withParam"))
    task.clear()
    task.update(rebuilt)
