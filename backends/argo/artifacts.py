"""Artifact outputs on Argo: where a pod leaves them, the key-only S3 locations, the wiring of consumers.

Read in Argo's source (docs/backends.md has the table):
- A key-only artifact (`s3: {key}`) takes the rest of its location from the cluster's artifact
  repository, whatever its kind (ArtifactLocation.Relocate copies the repository's location and keeps
  the key). A bucket without an endpoint is not a location (S3Artifact.HasLocation), so Relocate would
  drop it: orch renders the key only, with the spec's store prefix inside it, never a bucket or secrets.
- Argo's default archive is tar+gzip of the path (util/archive, tarDir walks folders too), which keeps
  empty files and empty folders; `archive: none` on S3 uploads files only (PutDirectory skips folders).
- A fan-out's items are not aggregated as artifacts (processAggregateNodeOutputs reads parameters and
  results only). Its items' keys share the prefix `<...>/<step>/<output>/`, so a consumer reads that prefix
  as a key-only input: the S3 driver finds no object at the key, lists the prefix (s3.go, loadS3Artifact,
  IsDirectory, GetDirectory) and downloads each item's object, named by its index, into the input's
  folder; a folder is no tarball (isTarball), so the executor renames it into place unpacked. orch's
  runner unpacks each item as Argo's untar does (bootstrap.py), after checking the indexes against the
  count the DAG passes: `""` when the fan-out did not succeed, else its number of items.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from orch.core.artifacts import artifact_outputs, artifacts_read, is_artifact, spec_store
from orch.core.names import argo_name
from orch.core.refs import whole_ref
from orch.core.spec import Pipeline, Step

from . import manifest as a
from .templates import OUTPUTS  # a step's output parameter files; its artifacts lie beside them

INPUTS = "/tmp/orch/inputs"  # where Argo places a consumer's copy of each artifact it reads
TOLERANT = ("none_failed", "all_done", "any_failed")  # triggers that run a step whose producer did not succeed


def input_name(step: str, output: str) -> str:
    """An upstream output's input (parameter or artifact): the step's Argo name holds no '_', so the first '_' ends it."""
    return f"{argo_name(step)}_{output}"


def is_list(pipeline: Pipeline, step: str, output: str) -> bool:
    """A fan-out's artifact output: a list of its items' artifacts, read from their shared key prefix."""
    return is_artifact(pipeline, step, output) and pipeline.steps[step].foreach is not None


def reads_list(pipeline: Pipeline, step: Step) -> bool:
    return any(is_list(pipeline, p, o) for p, o in artifact_refs(pipeline, step))


def artifact_refs(pipeline: Pipeline, step: Step) -> list[tuple[str, str]]:
    """(producer, output) of each artifact the step reads, in order of first mention."""
    return list(dict.fromkeys((ref.step, ref.name) for ref in artifacts_read(pipeline, step)))


def optional(step: Step) -> bool:
    """Whether the step may run although a producer it reads did not succeed: its artifact is then absent."""
    return step.trigger in TOLERANT


def key(pipeline: Pipeline, step: str, output: str) -> str:
    """orch's key layout (core/artifacts.py) under the store's prefix; a fan-out's item adds its index."""
    if pipeline.steps[step].foreach is not None:  # the item's index: every fan-out through the runner has one
        return items_key(pipeline, step, output) + "/{{inputs.parameters.item}}"
    return items_key(pipeline, step, output)


def items_key(pipeline: Pipeline, step: str, output: str) -> str:
    """The output's key; for a fan-out, the prefix of its items' keys."""
    prefix = _prefix(pipeline)
    return "/".join(([prefix] if prefix else []) + [pipeline.name, "{{workflow.name}}", step, output])


def _prefix(pipeline: Pipeline) -> str:
    """The path of `artifacts.store` in its bucket; a folder or file:// store means nothing on a cluster."""
    store = spec_store(pipeline)
    if not store or "://" not in store or store.startswith("file://"):
        return ""
    return urlsplit(store).path.strip("/")


def template_outputs(pipeline: Pipeline, name: str) -> list[dict]:
    return [a.artifact(o, path=f"{OUTPUTS}/{o}", s3={"key": key(pipeline, name, o)})
            for o in artifact_outputs(pipeline.steps[name].outputs)]


def template_inputs(pipeline: Pipeline, step: Step, tolerated=()) -> list[dict]:
    """A fan-out's list is read from its items' prefix, optional: an empty or skipped fan-out has no object.
    `tolerated`: producers whose artifacts may be absent whatever the step's trigger (a finally step's steps)."""
    return [a.artifact(input_name(p, o), path=f"{INPUTS}/{input_name(p, o)}", optional=True, s3={"key": items_key(pipeline, p, o)})
            if is_list(pipeline, p, o) else
            a.artifact(input_name(p, o), path=f"{INPUTS}/{input_name(p, o)}", optional=(optional(step) or p in tolerated) or None)
            for p, o in artifact_refs(pipeline, step)]


def task_arguments(pipeline: Pipeline, step: Step, source, tolerated=()) -> list[dict]:
    """The task's artifacts; `source(producer, output)` is the tag body where the task's DAG sees each. A fan-out's
    list takes none: its template holds its location."""
    return [a.artifact(input_name(p, o), from_="{{" + source(p, o) + "}}", optional=(optional(step) or p in tolerated) or None)
            for p, o in artifact_refs(pipeline, step) if not is_list(pipeline, p, o)]


def item_count(pipeline: Pipeline, producer: str, status, output_expr) -> str:
    """The task argument telling the runner what a fan-out's list is: '' when the fan-out did not succeed, else
    its number of items (an empty list leaves the task Skipped, or a throttled fan-out's wrapper Succeeded).
    `status(task)` and `output_expr(step, output)` are expressions where the consumer's DAG reads them."""
    foreach = pipeline.steps[producer].foreach
    ref = whole_ref(foreach) if isinstance(foreach, str) else None
    if ref is None:
        count = f'"{len(foreach)}"'
    else:  # the list the fan-out's withParam was computed from (payload.foreach_indexes)
        source = f'workflow.parameters["{ref.name}"]' if ref.kind == "param" else output_expr(ref.step, ref.name)
        count = f"string(len(fromJSON({source})))"
    return "{{=" + f'{status(argo_name(producer))} in ["Succeeded", "Skipped"] ? {count} : ""' + "}}"


def task_status(task: str) -> str:
    return f'tasks["{task}"].status'


def task_source(producer: str, output: str) -> str:
    return f"tasks.{argo_name(producer)}.outputs.artifacts.{output}"
