"""Where each step's task goes: one DAG, or DAGs nested in chunks of at most 200 tasks.

Argo's full CRDs allow 200 tasks per DAG. A larger pipeline is cut, in dependency order,
into chunk DAGs run by the main DAG. Tasks cannot `depends` on tasks of another DAG, and
a DAG that has failed exports no outputs (dag.go returns before reading them), so a chunk
must succeed whatever its steps do. Argo refuses `continueOn` in a DAG using `depends`
(validate.go, validateDAG), so each chunk ends instead in one leaf of orch's,
`Orch-chunk-done`, that waits for the chunk's other leaves to end however they end:
a DAG's phase comes from its leaves (dag.go, assessDAGPhase), and that one always succeeds.
A chunk exports the statuses and outputs later chunks read, and whether any of its steps
failed; a step whose trigger reads a step of another chunk waits on its own chunk's tasks
with `depends` and tests the whole trigger on statuses in its `when` (false there is
Skipped, not Omitted -- the status reader knows; a fan-out's `when` sits in a gate task
before it, as everywhere: `gated`); a last task fails the workflow when any chunk reports
a failed step. An artifact crosses as Argo passes one through DAGs: the producer's chunk exports it
(`outputs.artifacts[].from`), the main DAG hands it to the consumer's chunk, whose task reads
`{{inputs.artifacts.…}}`, each optional, so one a producer did not write stays absent. A fan-out's
artifact list does not cross: its consumer reads the items' key prefix (artifacts.py), and imports the
fan-out's status and the list it counts the items from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orch.core.graph import PipelineGraph
from orch.core.names import argo_name
from orch.core.refs import whole_ref

from . import manifest as a
from .artifacts import is_artifact, is_list, task_source

if TYPE_CHECKING:
    from .depends import Depends  # which reads this


@dataclass
class Chunk:
    index: int
    steps: list[str]
    imports: dict[str, int] = field(default_factory=dict)  # parameter name -> chunk that exports it
    exports: list[str] = field(default_factory=list)
    artifact_imports: dict[str, int] = field(default_factory=dict)  # artifact name -> chunk that exports it
    artifact_exports: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"chunk-{self.index}"


def has_gate(step) -> bool:
    """A fan-out with a condition tests it in a gate task first. Argo tests a `withParam` task's `when`
    item by item, and a group whose items were all skipped ends Succeeded (dag.go, executeDAGTask), while
    an empty list ends Skipped: neither would tell a false condition from a fan-out that ran. In the
    nested layout a fan-out whose trigger reads another chunk has a `when` too, and a gate (`Layout.gated`)."""
    return step.foreach is not None and bool(step.when)


def throttled(step) -> bool:
    """A fan-out with `parallelism`: its task runs in a wrapper of its own (fanout.py)."""
    return step.foreach is not None and step.parallelism is not None


def foreach_outputs(step) -> list:
    """The upstream output a fan-out's list is, if it is one: a consumer of its artifacts counts its items."""
    ref = whole_ref(step.foreach) if isinstance(step.foreach, str) else None
    return [ref] if ref is not None and ref.kind == "output" else []


def gate_name(task: str) -> str:
    """The gate's task name: with a capital, which no step's Argo name holds."""
    return f"{task}-When"


def export(name: str, tag: str, default: str) -> dict:
    """An output of a DAG template orch writes (a chunk, a fan-out's wrapper): the value of a tag over its
    tasks, `default` where that has none (a skipped task's). A failed DAG exports nothing (dag.go)."""
    return a.parameter(name, value_from=a.value_from(parameter="{{" + tag + "}}", default=default))


def status_param(task: str) -> str:
    return f"{task}___status"  # task names hold no '_', output names start with a letter: no clash


def output_param(task: str, output: str) -> str:
    return f"{task}__{output}"


class Layout:
    """The chunks (one, unnested, for a small pipeline) and what crosses between them."""

    tolerated: frozenset = frozenset()  # producers whose artifacts may be absent whatever a step's trigger

    def __init__(self, graph: PipelineGraph, depends: Depends, chunk_size: int):
        order = graph.order()
        self.steps = graph.pipeline.steps
        # a single DAG also holds the verdict leaf; a chunk, its done leaf. A gate is a task too.
        self.nested = sum(1 + has_gate(self.steps[step]) for step in order) > chunk_size - 1
        self.gated: set[str] = {step for step in order if has_gate(self.steps[step])}
        self.chunks = [Chunk(1, [])]
        self.chunk_of: dict[str, int] = {}
        self.task_chunk: dict[str, int] = {}
        if not self.nested:
            self.chunks[0].steps = list(order)
            self._index(order, 1)
            return
        used = 0
        for step in order:
            weight = 1 + self._gated_in(step, depends, self.chunks[-1].index)
            if used and used + weight > chunk_size - 1:  # alone, a step and its gate go in (only chunk_size 2 needs it)
                self.chunks.append(Chunk(len(self.chunks) + 1, []))
                weight, used = 1 + self._gated_in(step, depends, self.chunks[-1].index), 0
            if weight > 1:
                self.gated.add(step)
            self.chunks[-1].steps.append(step)
            self._index([step], self.chunks[-1].index)
            used += weight
        self._cross(graph, depends)

    def _index(self, steps: list[str], chunk: int) -> None:
        for step in steps:
            self.chunk_of[step] = chunk
            self.task_chunk[argo_name(step)] = chunk

    def _gated_in(self, step: str, depends: Depends, chunk: int) -> bool:
        """Whether the step, placed in `chunk`, has a gate: it fans out and its task has a `when` -- its
        condition, or its trigger when that reads a task of another chunk (render.py, `_task`)."""
        spec = self.steps[step]
        if spec.foreach is None:
            return False
        return bool(spec.when) or any(self.task_chunk[task] != chunk for task in depends.reads(step))

    def _cross(self, graph: PipelineGraph, depends: Depends) -> None:
        exports: dict[int, dict[str, None]] = {chunk.index: {} for chunk in self.chunks}
        artifacts: dict[int, dict[str, None]] = {chunk.index: {} for chunk in self.chunks}
        pipeline = graph.pipeline
        for chunk in self.chunks:
            for step in chunk.steps:
                for task in depends.reads(step):
                    self._import(chunk.imports, status_param(task), self.task_chunk[task], chunk.index, exports)
                for edge in graph.edges_into(step):
                    if edge.output is None:
                        continue
                    name = output_param(argo_name(edge.upstream), edge.output)
                    if is_list(pipeline, edge.upstream, edge.output):  # read from its key prefix; counted from its list
                        for ref in foreach_outputs(self.steps[edge.upstream]):
                            self._import(chunk.imports, output_param(argo_name(ref.step), ref.name), self.chunk_of[ref.step],
                                         chunk.index, exports)
                    elif is_artifact(pipeline, edge.upstream, edge.output):
                        self._import(chunk.artifact_imports, name, self.chunk_of[edge.upstream], chunk.index, artifacts)
                    else:
                        self._import(chunk.imports, name, self.chunk_of[edge.upstream], chunk.index, exports)
        for chunk in self.chunks:
            chunk.exports = list(exports[chunk.index])
            chunk.artifact_exports = list(artifacts[chunk.index])

    @staticmethod
    def _import(imports: dict, name: str, owner: int, chunk: int, exports: dict) -> None:
        if owner != chunk:
            imports[name] = owner
            exports[owner][name] = None

    def internal(self, step: str, other: str) -> bool:
        return self.chunk_of[step] == self.chunk_of[other]

    def output_tag(self, consumer: str):
        """Where `consumer` reads an output: its producer's task, or an input of its chunk."""
        def tag(step: str, output: str) -> str:
            if self.internal(consumer, step):
                if throttled(self.steps[step]):
                    return "=" + self.output_expr(consumer)(step, output)
                return f"tasks.{argo_name(step)}.outputs.parameters.{output}"
            return f"inputs.parameters.{output_param(argo_name(step), output)}"
        return tag

    def artifact_source(self, consumer: str):
        """Where `consumer`'s task sees an artifact: its producer's task, or an input artifact of its chunk."""
        def source(step: str, output: str) -> str:
            if self.internal(consumer, step):
                return task_source(step, output)
            return f"inputs.artifacts.{output_param(argo_name(step), output)}"
        return source

    def output_expr(self, consumer: str):
        def expr(step: str, output: str) -> str:
            if self.internal(consumer, step):
                read = f'tasks["{argo_name(step)}"].outputs.parameters["{output}"]'
                if throttled(self.steps[step]):  # a failed wrapper exports nothing, and Argo waits for what is missing
                    return f'(tasks["{argo_name(step)}"].status == "Succeeded" ? {read} : "null")'
                return read
            return f'inputs.parameters["{output_param(argo_name(step), output)}"]'
        return expr

    def status_of(self, consumer: str):
        chunk = self.chunk_of[consumer]

        def status(task: str) -> str:
            if self.task_chunk[task] == chunk:
                return f'tasks["{task}"].status'
            return f'inputs.parameters["{status_param(task)}"]'
        return status
