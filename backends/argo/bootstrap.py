"""What runs inside each Argo pod: decode the step's call, fill its references, run it, write outputs.

The rendered template carries this file's code after `orch.core.typed`'s (both standard
library only), so the image needs python3 and the user's code, nothing of orch. The
step's call travels as JSON in ORCH_PAYLOAD -- base64-encoded when it holds '{{' or '}}',
so Argo never reads a user's literal as a tag; each reference's value arrives in ORCH_R<i>, substituted by Argo:
params as the text a user submits, outputs as JSON text ('null' when the producer did
not succeed), a fan-out's outputs as Argo's JSON list of its items' JSON texts.
Outputs are written as JSON text to /tmp/orch/outputs/<name> (and, for an Airflow pod, as one
JSON object to $ORCH_XCOM_RETURN).
"""

import base64
import json
import os
import subprocess
import sys
import tempfile

from orch.core.typed import OutputError, outputs_from_files, outputs_from_return, parse_text, to_text  # embedded: typed

OUTPUTS = os.environ.get("ORCH_ARGO_OUTPUTS", "/tmp/orch/outputs")


def decode(text, spec):
    """One reference's value from the text Argo substituted."""
    kind = spec["kind"]
    if kind == "param":
        return parse_text(text, spec["type"])
    if kind == "list":
        return [json.loads(item) for item in json.loads(text or "[]") or []]
    if kind == "output":
        return json.loads(text or "null")
    return text  # run.id, run.date


def fill(value, refs):
    """The payload's value with its references filled in (see payload.py for the markers)."""
    if isinstance(value, dict):
        if len(value) == 1 and "$ref" in value:
            return refs[value["$ref"]]
        if len(value) == 1 and "$text" in value:
            return "".join(to_text(fill(piece, refs)) for piece in value["$text"])
        if len(value) == 1 and "$dict" in value:
            return dict((k, fill(v, refs)) for k, v in value["$dict"].items())
        return dict((k, fill(v, refs)) for k, v in value.items())
    if isinstance(value, list):
        return [fill(v, refs) for v in value]
    return value


def main():
    text = os.environ["ORCH_PAYLOAD"]
    if text.startswith("base64:"):
        text = base64.b64decode(text[len("base64:"):]).decode("utf-8")
    payload = json.loads(text)
    refs = [decode(os.environ.get(f"ORCH_R{i}", ""), spec) for i, spec in enumerate(payload["refs"])]
    if "foreach" in payload:
        items = fill(payload["foreach"], refs)
        refs.append(items[int(os.environ["ORCH_ITEM"])])  # the item is the last placeholder
    os.environ.update((k, to_text(fill(v, refs))) for k, v in payload["env"].items())
    declared = payload["outputs"]
    try:
        if payload["kind"] == "python":
            outputs = outputs_from_return(call(payload["python"], fill(payload["args"], refs)), declared)
        else:
            outputs = run_command([to_text(fill(arg, refs)) for arg in payload["argv"]], declared)
    except OutputError as err:
        print(f"orch: {err}", file=sys.stderr)
        return 1
    os.makedirs(OUTPUTS, exist_ok=True)
    for name, value in outputs.items():
        with open(os.path.join(OUTPUTS, name), "w", encoding="utf-8") as handle:
            handle.write(json.dumps(value))
    xcom = os.environ.get("ORCH_XCOM_RETURN")  # an Airflow KubernetesPodOperator's XCom sidecar reads it
    if xcom:
        os.makedirs(os.path.dirname(xcom), exist_ok=True)
        with open(xcom, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(outputs))
    return 0


def call(target, args):
    import importlib

    module, function = target.split(":")
    sys.path.insert(0, os.getcwd())
    returned = getattr(importlib.import_module(module), function)(**args)
    return json.loads(json.dumps(returned, default=_plain))


def run_command(argv, declared):
    folder = tempfile.mkdtemp(prefix="orch-outputs-")
    env = dict(os.environ, ORCH_OUTPUTS=folder)
    try:
        code = subprocess.call(argv, env=env)
    except OSError as err:
        print(f"orch: cannot run {argv[0]!r}: {err.strerror}", file=sys.stderr)
        sys.exit(127)
    if code != 0:
        sys.exit(code)
    texts = {}
    for name in declared:
        path = os.path.join(folder, name)
        texts[name] = open(path, encoding="utf-8").read() if os.path.exists(path) else None
    return outputs_from_files(texts, declared)


def _plain(value):
    for method in ("item", "tolist"):
        if hasattr(value, method):
            return getattr(value, method)()
    raise TypeError(f"{type(value).__name__} is not JSON data")


if __name__ == "__main__":
    sys.exit(main())
