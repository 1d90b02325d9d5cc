"""What runs inside each Argo pod: decode the step's call, fill its references, run it, write outputs.

The rendered template carries this file's code after `orch.core.typed`'s (both standard
library only), so the image needs python3 and the user's code, nothing of orch. The
step's call travels as JSON in ORCH_PAYLOAD with no brace inside its strings (`brace_free_json`),
so Argo never reads a user's literal as a tag; each
reference's value arrives in ORCH_R<i>, substituted by Argo:
params as the text a user submits, outputs as JSON text ('null' when the producer did
not succeed), a fan-out's outputs as Argo's JSON list of its items' JSON texts.
An artifact reference reads no value: its spec names the input artifact Argo placed under
/tmp/orch/inputs (the path, or None when Argo left an optional one absent; a `guarded` one, a finally step's, also
None when its value, '' or not, says its producer failed); a fan-out's artifacts are
the folder of its items' tgz objects, which the runner unpacks, checked against the count in ORCH_R<i>
(or argv); and an artifact output
is copied from where the step left it to /tmp/orch/outputs/<name>, which Argo uploads.
Outputs are written as JSON text to /tmp/orch/outputs/<name> (and, for an Airflow pod, as one
JSON text to $ORCH_XCOM_RETURN), with every brace inside a string written as a \\u escape:
Argo substitutes a consumer's template after placing the value in it, and would read '{{' in
it as a tag. JSON text never ends in a newline, so `valueFrom.path`'s trim takes nothing.
A command's output files are read as bytes and decoded by `outputs_from_files` (strict UTF-8).

Where the step runs -- the environment a pod gives the runner (Argo's templates, and the pods of
Airflow's --target kubernetes), read before the step's code runs, in this order:
- ORCH_SECRETS: JSON [[VAR, secret, key], ...], the vars the kubelet sets from Kubernetes Secrets
  (`secretKeyRef`, optional). Any unset var fails the step, naming its secret and key, never a value.
- ORCH_CODE_DIR: the shipped code, already unpacked there (Argo's code input artifact); or
  ORCH_CODE_URL (http or https: a presigned GET) with ORCH_CODE_SHA (its sha256), fetched with urllib,
  checked, and unpacked with tarfile's data filter into /tmp/orch/code (an Airflow pod). Either way the
  folder becomes the working folder and comes first on sys.path and PYTHONPATH.
- ORCH_PACKAGES: JSON list of requirements; their env is made once per set (backends/pyenv.py, carried in
  this program) under $ORCH_CACHE, else /tmp/orch/cache -- mount a volume there to keep envs between
  pods. A python step is run by the env's interpreter (this program starts again in it: ORCH_PACKAGES_ENV
  says so); a command step gets the env's bin first on PATH.
With secrets, what the step and its children print is masked (***) on its way to the pod's log, and a
step failing before its code runs says why in the container's termination message, which Argo's node
message quotes. podplace.py holds that part; the runner carries it, as it carries pyenv.py.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from orch.backends.argo.podplace import code_folder, use_code  # embedded: podplace
from orch.backends.argo.podplace import failed, missing_secrets, masked_output, secret_values  # embedded: podplace
from orch.backends.argo.podplace import packages_env, run_in_env  # embedded: podplace
from orch.backends.codeunpack import CodeError  # embedded: codeunpack
from orch.backends.pyenv import EnvError, activate  # embedded: pyenv
from orch.core.typed import OutputError, foreach_problem, outputs_from_files, outputs_from_return, parse_text, to_text  # embedded: typed

OUTPUTS = os.environ.get("ORCH_ARGO_OUTPUTS", "/tmp/orch/outputs")
INPUTS = os.environ.get("ORCH_ARGO_INPUTS", "/tmp/orch/inputs")


def decode(text, spec):
    """One reference's value from the text Argo substituted."""
    kind = spec["kind"]
    if kind == "param":
        return parse_text(text, spec["type"])
    if kind == "list":  # the items' JSON texts; or, when every one is an object or a list, the values
        return [json.loads(item) if isinstance(item, str) else item for item in json.loads(text or "[]") or []]
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


def decode_text(value, spec):
    """One reference's value from a step's own template (argv): '' is null, else 'v' + base64 of its text."""
    if not value:
        return None
    text = base64.b64decode(value[1:]).decode("utf-8")
    kind = spec["kind"]
    if kind == "list":  # Argo's list of the items' texts (or of their values, when all are objects or lists)
        return [parse_text(item, spec["type"]) if isinstance(item, str) else item for item in json.loads(text)]
    return parse_text(text, spec["type"]) if kind in ("param", "output") else text


def artifact_input(spec):
    """The local copy Argo placed for an artifact reference; None when an optional one was not supplied."""
    path = os.path.join(INPUTS, spec["input"])
    return path if os.path.lexists(path) else None


def artifact_list(spec, count):
    """A fan-out's artifacts: None when it did not succeed (count ''), else the paths of its items in order,
    each unpacked where Argo downloaded its object (named by its index). Objects that are not exactly
    this fan-out's items (a stale one, a missing one) fail the step rather than be read."""
    if count == "":
        return None
    folder = os.path.join(INPUTS, spec["input"])
    found = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    expected = sorted(str(i) for i in range(int(count)))
    if found != expected:
        raise InputError(f"the fan-out's artifacts under {folder} are {found}, not its {count} items {expected}")
    paths = [os.path.join(folder, str(i)) for i in range(int(count))]
    for path in paths:
        unpack(path)
    return paths


def unpack(path):
    """Argo's tgz at `path` replaced by what it holds, as executor.go's untar and unpack do: entries are
    extracted into PATH.tmpdir (folders 0755, files with their mode and mtime, symlinks as they are,
    other kinds skipped); a single entry is then renamed to PATH, else the folder is. Not a tarball: left."""
    import tarfile

    try:
        archive = tarfile.open(path, "r:gz")
        first = archive.next()
    except (tarfile.TarError, OSError, EOFError):
        return
    if first is None:  # isTarball: a tar with no entry is not one
        archive.close()
        return
    temp = path + ".tmpdir"
    os.makedirs(temp)
    inside = os.path.realpath(temp) + os.sep
    with archive:
        for entry in archive:
            target = os.path.join(temp, os.path.normpath(entry.name))
            # judged on the disk as it is (links already made resolved): no chain of links can lead outside
            if not target.startswith(temp + os.sep) or not (os.path.realpath(os.path.dirname(target)) + os.sep).startswith(inside):
                raise InputError(f"illegal file path: {entry.name}")
            if entry.issym():
                link = os.path.join(os.path.dirname(target), entry.linkname)  # an absolute linkname stays itself
                if not (os.path.realpath(link) + os.sep).startswith(inside):
                    raise InputError(f"illegal symlink target: {entry.name} -> {entry.linkname}")
                os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
                os.symlink(entry.linkname, target)
            elif entry.isdir():
                os.makedirs(target, 0o755, exist_ok=True)
            elif entry.isreg():
                os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
                with os.fdopen(os.open(target, os.O_CREAT | os.O_RDWR | os.O_TRUNC, entry.mode & 0o7777), "wb") as handle:
                    shutil.copyfileobj(archive.extractfile(entry), handle)
                os.utime(target, (os.stat(target).st_atime, entry.mtime))
    os.remove(path)
    entries = os.listdir(temp)
    if len(entries) == 1:
        os.rename(os.path.join(temp, entries[0]), path)
        os.rmdir(temp)
    else:
        os.rename(temp, path)


class InputError(Exception):
    """An input Argo placed is not what the DAG said it would be."""


def read_refs(payload, inline):
    """Each reference's value: artifacts from their input paths, the others (in order) from argv or ORCH_R<i>."""
    texts = iter(sys.argv[2:]) if inline else (os.environ.get(f"ORCH_R{i}", "") for i in range(len(payload["refs"])))
    refs = []
    for spec in payload["refs"]:
        if spec["kind"] == "artifact":  # guarded (a finally step's): present only if its producer did not fail
            present = artifact_input(spec)
            refs.append(present if not spec.get("guarded") or next(texts) else None)
        elif spec["kind"] == "artifacts":
            refs.append(artifact_list(spec, next(texts)))
        else:
            text = next(texts)
            refs.append(decode_text(text, spec) if inline else decode(text, spec))
    return refs


def pick_item(chain, refs, indexes):
    """The innermost fan-out's item: each list of the chain (the fan-out groups around the step, outermost first, then
    its own) filled with the item of the one before it, and indexed by the next of ORCH_ITEM's comma-separated indexes."""
    item = None
    for each, index in zip(chain, indexes.split(",")):
        items = fill(each, refs + [item])
        problem = foreach_problem(items)
        if problem:
            raise InputError(problem)
        item = items[int(index)]
    return item


def store_artifacts(outputs, declared, command):
    """Copy each artifact output to where Argo uploads it; OutputError naming the output when it is missing."""
    for name, kind in declared.items():
        if kind != "artifact":
            continue
        source, target = outputs.pop(name), os.path.join(OUTPUTS, name)
        if not os.path.exists(source):  # (a link is what it points to, as on every backend)
            where = f" was not written to $ORCH_OUTPUTS/{name}" if command else f": {source} does not exist"
            raise OutputError(f"output {name!r}{where}")
        if os.path.abspath(source) == target and not os.path.islink(source):
            continue
        source = os.path.realpath(source)
        os.makedirs(OUTPUTS, exist_ok=True)
        if os.path.lexists(target):
            os.remove(target)  # (a link orch's command left where its real file goes)
        if os.path.isdir(source):
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)


def main():
    missing = missing_secrets()
    if missing:
        return failed("; ".join(missing))
    inline = len(sys.argv) > 1  # the call in argv, after it each reference (a step's own template)
    payload = json.loads(sys.argv[1] if inline else os.environ["ORCH_PAYLOAD"])
    try:
        folder = code_folder()
        if folder:
            use_code(folder)
        env = packages_env()
    except CodeError as err:
        return failed(str(err))
    except EnvError as err:
        return failed(f"the step's packages: {err}")
    if env and payload["kind"] == "python" and os.path.realpath(sys.prefix) != os.path.realpath(env):
        run_in_env(env)
    end = masked_output(secret_values())  # after any restart in the env: its pumps would not survive an exec
    try:
        return run_step(payload, inline, env)
    except Exception:  # written here, through the masking pipes, not by the interpreter after they are gone
        import traceback

        traceback.print_exc()
        return 1
    finally:
        end()


def run_step(payload, inline, env):
    """The step's call or command, its references filled in, its outputs written; the exit status."""
    try:
        refs = read_refs(payload, inline)
    except ValueError as err:  # an upstream command wrote text that is not of its declared type
        print(f"orch: an upstream output is not of its declared type: {err}", file=sys.stderr)
        return 1
    except (InputError, OSError) as err:  # what Argo placed cannot be read as the DAG said
        print(f"orch: {err}", file=sys.stderr)
        return 1
    chain = payload.get("within", []) + ([payload["foreach"]] if "foreach" in payload else [])
    if chain:
        try:
            refs.append(pick_item(chain, refs, os.environ["ORCH_ITEM"]))  # the item is the last placeholder
        except InputError as err:
            print(f"orch: {err}", file=sys.stderr)
            return 1
    os.environ.update((k, to_text(fill(v, refs))) for k, v in payload["env"].items())
    declared = payload["outputs"]
    try:
        if payload["kind"] == "python":
            outputs = outputs_from_return(call(payload["python"], fill(payload["args"], refs)), declared)
        else:
            outputs = run_command([to_text(fill(arg, refs)) for arg in payload["argv"]], declared, env)
        store_artifacts(outputs, declared, payload["kind"] == "command")
    except OutputError as err:
        print(f"orch: {err}", file=sys.stderr)
        return 1
    try:  # as text (a json output as JSON: its null, its strings), then one newline that valueFrom.path trims; or as brace-free JSON text
        texts = dict((name, _text(value, declared[name]) + "\n" if inline else brace_free_json(value)) for name, value in outputs.items())
    except ValueError as err:
        print(f"orch: an output is not a finite number ({err})", file=sys.stderr)
        return 1
    os.makedirs(OUTPUTS, exist_ok=True)
    for name, text in texts.items():
        with open(os.path.join(OUTPUTS, name), "wb") as handle:
            handle.write(text.encode("utf-8"))
    xcom = os.environ.get("ORCH_XCOM_RETURN")  # an Airflow KubernetesPodOperator's XCom sidecar reads it
    if xcom:
        os.makedirs(os.path.dirname(xcom), exist_ok=True)
        with open(xcom, "wb") as handle:  # the outputs as JSON text, as Airflow's tasks keep them (runtime.py)
            handle.write(json.dumps(brace_free_json(outputs)).encode("ascii"))
    return 0


def _text(value, kind):
    return json.dumps(value) if kind == "json" else to_text(value)


JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def brace_free_json(value, sort_keys=False, default=None):
    """ASCII JSON text of `value` in which no string holds a brace ('{' is written \\u007b): outside
    its strings JSON has '{' only before '"' or '}', so the text holds no '{{', '{%' or '{#'."""
    text = json.dumps(value, allow_nan=False, sort_keys=sort_keys, default=default)
    return JSON_STRING.sub(lambda found: found.group().replace("{", "\\u007b").replace("}", "\\u007d"), text)


def call(target, args):
    import importlib

    module, function = target.split(":")
    sys.path.insert(0, os.getcwd())
    returned = getattr(importlib.import_module(module), function)(**args)
    return json.loads(json.dumps(_fields(returned), default=_plain))


def _fields(value):
    """A NamedTuple or a dataclass returned as the dict of its fields: a typed step's outputs (as zygote.py)."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return value._asdict()
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses

        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return value


def run_command(argv, declared, venv=None):
    """`venv`: the packages' env, its bin first on PATH."""
    folder = tempfile.mkdtemp(prefix="orch-outputs-")
    env = dict(activate(venv, os.environ) if venv else os.environ, ORCH_OUTPUTS=folder)
    try:
        code = subprocess.call(argv, env=env)
    except OSError as err:
        print(f"orch: cannot run {argv[0]!r}: {err.strerror}", file=sys.stderr)
        sys.exit(127)
    if code != 0:
        sys.exit(code)
    values = dict((name, kind) for name, kind in declared.items() if kind != "artifact")
    files = dict((name, _read(os.path.join(folder, name))) for name in values)
    outputs = outputs_from_files(files, values)
    outputs.update((name, os.path.join(folder, name)) for name in declared if name not in values)
    return outputs


def _read(path):
    """The file's bytes, as written (a text read would turn '\\r' into '\\n'); None when absent."""
    if not os.path.exists(path):
        return None
    with open(path, "rb") as handle:
        return handle.read()


def _plain(value):
    for method in ("item", "tolist"):
        if hasattr(value, method):
            return getattr(value, method)()
    raise TypeError(f"{type(value).__name__} is not JSON data")


if __name__ == "__main__":
    sys.exit(main())
