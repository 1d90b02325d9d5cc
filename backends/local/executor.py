"""The local executor: DESIGN §3 executed exactly, each attempt in its own process.

One thread, one loop: decide the steps whose upstream steps finished (trigger, then
`when`), start the attempts that fit (max parallel, a fan-out's parallelism, the host's
cpu, memory and GPU slots), then wait for the zygote to report a start or an end, or
for the next retry or timeout. Every change is committed to the store before it is acted on.

Whatever a step does to the process starter (zygote.py) -- kills it, writes into its pipes --
the executor goes on: malformed or unknown messages are dropped (processes.py), and when the
starter dies, the attempts it was running are killed (by the pids they reported, else by
their pid files) and fail with the reason, retried as any failed attempt; the next attempt
to start gets a new starter. An attempt's pid file is removed when it ends; on a resume,
the pid files left are those of attempts a killed run could not see end, and each is killed
if it is still that process.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from orch.backends.steprun import stdout_problem
from orch.core import groups
from orch.core.artifacts import PARAMS_FOLDER, artifact_outputs, is_artifact
from orch.core.expr import evaluate, parse_condition
from orch.core.graph import PipelineGraph
from orch.core.groups import scope_edges
from orch.core.limits import MAX_STDOUT_OUTPUT_BYTES
from orch.core.refs import Ref
from orch.core.result import RunResult, StepResult, pipeline_status, run_outcome, scope_state
from orch.core.spec import Step
from orch.core.triggers import RUN, decide
from orch.core.typed import foreach_problem
from orch.core.values import OutputError, fill, fill_text, outputs_from_files, outputs_from_return, to_text

from .host import Host, Request
from .processes import (Zygote, is_child_group_leader, kill_group, kill_if_same, read_pid_file,
                        read_regular_file, started_at)
from .scopes import across_items, first_failure, instance, item_scope
from .state import Store, now, safe_text
from .where import Where

MAX_OUTPUT_BYTES = 64 << 20  # an output is a value, not a data set: artifacts carry data

TIMEOUT_STATUS = "timeout"


@dataclass
class Unit:
    """One execution of a step: the step itself (item -1), or one item of its fan-out."""

    step: str
    item: int
    value: Any = None
    attempt: int = 0  # numbered across resumes: attempt N's files are attempt-N.*, never reused
    before: int = 0  # attempts made before this process resumed the run
    ready_at: float = 0.0
    pid: Optional[int] = None
    pid_started: Optional[str] = None  # the pid's start time, to tell the attempt from a reused pid
    deadline: Optional[float] = None
    timed_out: bool = False
    not_run: bool = False  # the attempt could not run or was lost: an error to `retries.on`, not a failure
    request: Request = field(default_factory=Request)
    gpus: list = field(default_factory=list)
    folder: Optional[Path] = None
    status: str = "pending"
    outputs: Optional[dict] = None
    error: Optional[str] = None


@dataclass
class Node:
    """A step or group in one run of its scope (scopes.py): what its names and `${{ item }}` mean there."""

    qualified: str  # its name in the spec: sweep.train
    scope: str  # the instance of the run of the scope it is in: '' (the pipeline's), sweep, sweep[2]
    chain: dict  # qualified scope -> its instance here, for the names its fields refer to
    item: Any = None  # the innermost fan-out's item around it
    indexes: tuple = ()  # the items of the fan-outs around it, outermost first


@dataclass
class GroupRun:
    """A group that runs: its items (one, None, without foreach), those not yet started, and how many ended."""

    values: list
    fan_out: bool
    limit: int
    pending: deque = field(default_factory=deque)
    active: int = 0
    ended: int = 0


@dataclass
class Options:
    max_parallel: int = 32
    host: Optional[Host] = None
    artifacts: Optional[str] = None  # the artifact store's URL (orch.core.artifacts.choose_store)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # ORCH_SECRET_* name -> value
    code: Optional[tuple[str, str]] = None  # the shipped code's (URI, sha256), when the run ships it


class Executor:
    def __init__(self, graph: PipelineGraph, store: Store, run_id: str, params: dict, run_date: str,
                 spec_dir: Path, options: Options, progress):
        self.graph = graph
        self.pipeline = graph.pipeline
        self.store = store
        self.run_id = run_id
        self.params = params
        self.run_date = run_date
        self.spec_dir = spec_dir
        self.options = options
        self.host = options.host or Host.detect()
        self.progress = progress
        self.artifacts = options.artifacts  # the store's URL, when a step has artifacts
        self.where = Where(self.pipeline, options.secrets, options.code)  # secrets held in memory only
        self._unstarted: list[tuple[int, Unit]] = []  # attempts that failed before their code could run
        self.results: dict[str, StepResult] = {}
        self.units: dict[str, list[Unit]] = {}
        self.queue: deque[Unit] = deque()
        self.running: dict[int, Unit] = {}  # request id -> unit
        self.running_per_step: dict[str, int] = {}
        self.step_started: dict[str, str] = {}  # when each step's first attempt started
        self.steps = self.pipeline.all_steps
        self.final = set(self.pipeline.finally_)  # finally steps: they wait for every step, and one more count for that
        self.edges = scope_edges(graph)
        self.nodes: dict[str, Node] = {}  # instance -> node: the steps and groups of every scope opened so far
        self.upstream: dict[str, list[str]] = {}
        self.downstream: dict[str, list[str]] = {}
        self.waiting_on: dict[str, int] = {}
        self.left: dict[str, int] = {}  # scope instance -> its nodes not yet ended ('': the pipeline's)
        self.runs: dict[str, GroupRun] = {}  # group instance -> its run, once it runs
        self.item_of: dict[str, tuple[str, Optional[int]]] = {}  # scope instance -> (its group's instance, item)
        self.ready: deque[str] = deque()
        self._open("", "", None)
        root = {"": ""}
        for name in graph.final_order():
            self.nodes[name] = Node(name, "", root)
            self.upstream[name] = graph.final_upstream(name)
            self.downstream[name] = [f for f in graph.final_order() if name in graph.final_upstream(f)]
            self.waiting_on[name] = len(self.upstream[name]) + 1
        self.done: dict[tuple[str, int], dict] = {}
        self.last_attempts: dict[tuple[str, int], int] = {}  # after a resume: the attempts already made
        self.stop_reason: Optional[str] = None  # set by the pipeline's timeout: nothing starts any more
        self.stopped: dict[str, str] = {}  # scope instance -> why fail_fast starts none of its nodes any more
        self.deadline = time.monotonic() + self.pipeline.timeout if self.pipeline.timeout else None
        self.run_timed_out = False
        self._next_id = 0
        self.zygote: Optional[Zygote] = None

    # --- the loop

    def run(self, resume: bool = False) -> RunResult:
        if resume:
            self._prepare_resume()
        self.zygote = None  # started with the first attempt; again if a step kills it
        try:
            while not self._all_ended():
                self._decide_ready()
                self._start_units()
                if self._all_ended():
                    break
                if not self.running and not self.queue and not self.ready:  # pragma: no cover - a bug, said plainly
                    stuck = [name for name in self.nodes if name not in self.results]
                    raise RuntimeError(f"the local executor cannot make progress; unfinished steps: {stuck}")
                if self.zygote is None:  # nothing runs: a retry's delay
                    time.sleep(self._wait_time() or 0.0)
                else:
                    for message in self.zygote.messages(self._wait_time()):
                        self._on_message(message)
                    if self.zygote.dead:
                        self._starter_died()
                self._enforce_deadlines()
        except BaseException:
            self._stop_all()
            self._mark_interrupted()
            raise
        finally:
            if self.zygote is not None:
                self.zygote.close()
        status = pipeline_status({name: self.results[name] for name in groups.order(self.pipeline)},  # never finally steps
                                 leaves=groups.judged(self.graph))
        self.store.set_run(self.run_id, status, ended=True)
        return self.store.result(self.run_id, self.reported())

    def reported(self) -> list[str]:
        """What the RunResult lists: every step and group as the spec orders them, then the finally steps."""
        return [*groups.order(self.pipeline), *self.pipeline.finally_]

    def _all_ended(self) -> bool:
        return self.left[""] == 0 and all(name in self.results for name in self.final)

    def _mark_interrupted(self) -> None:
        """Best effort: on a full disk this write fails too, and the run's free lock says `interrupted` anyway."""
        try:
            self.store.set_run(self.run_id, "interrupted", ended=True)
        except Exception:  # noqa: BLE001 - the error that stopped the run is the one to report
            pass

    def _wait_time(self) -> Optional[float]:
        moment = time.monotonic()
        moments = [u.ready_at for u in self.queue if u.ready_at > moment]  # a due unit waits for a slot: an end frees one
        moments += [u.deadline for u in self.running.values() if u.deadline and not u.timed_out]
        if self.deadline and not self.run_timed_out and self.left[""]:
            moments.append(self.deadline)
        if not moments:
            return None if self.running else 0.05
        return max(0.0, min(moments) - moment)

    # --- deciding steps

    def _decide_ready(self) -> None:
        while self.ready:
            name = self.ready.popleft()
            spec = self._spec(name)
            reason = self.stop_reason or self.stopped.get(self.nodes[name].scope)
            if reason and name not in self.final:
                self._not_started(name, reason)
                continue
            decision = decide(spec.trigger, (self.results[u].status for u in self.upstream[name]))
            if decision != RUN:
                self._not_run(name, decision)
            elif spec.when and not evaluate(parse_condition(spec.when), self._resolve_for(name, self.nodes[name].item)):
                self._not_run(name, "skipped")
            elif isinstance(spec, Step):
                self._expand(name, spec)
            else:
                self._run_group(name, spec)

    def _spec(self, name: str):
        """The Step or Group of an instance."""
        qualified = self.nodes[name].qualified
        return self.pipeline.groups.get(qualified) or self.steps[qualified]

    def _step(self, name: str) -> Step:
        return self.steps[self.nodes[name].qualified]

    # --- groups

    def _open(self, qualified: str, at: str, around: Optional[Node], index: Optional[int] = None, item: Any = None) -> None:
        """The nodes of one run of a scope -- the pipeline's, a group's, one item of a fan-out group's -- with their
        edges; those that wait for nothing are ready."""
        pipeline, edges = self.pipeline, self.edges.get(qualified, {})
        chain = {**around.chain, qualified: at} if around else {"": ""}
        value = item if index is not None else (around.item if around else None)
        indexes = (around.indexes if around else ()) + ((index,) if index is not None else ())
        kids = [(instance(at, child), child) for child in groups.children(pipeline, qualified)]
        for name, child in kids:
            self.nodes[name] = Node(child, at, chain, value, indexes)
            self.upstream[name] = [instance(at, up) for up in edges.get(child, [])]
            self.downstream[name] = []
        for name, _ in kids:
            for up in self.upstream[name]:
                self.downstream[up].append(name)
            self.waiting_on[name] = len(self.upstream[name])
            if not self.upstream[name]:
                self.ready.append(name)
        self.left[at] = len(kids)

    def _run_group(self, name: str, group) -> None:
        """The group runs: once, or once per item of its list, at most `parallelism` items at a time."""
        if group.foreach is None:
            values, fan_out = [self.nodes[name].item], False
        else:
            values, fan_out = fill(group.foreach, self._resolve_for(name, self.nodes[name].item)), True
            problem = foreach_problem(values)
            if problem:
                self._not_run(name, "upstream_failed", error=problem, status="failed")
                return
            if not values:
                self._empty_group(name)
                return
        self._show(name, "running")
        self.step_started[name] = now()
        run = self.runs[name] = GroupRun(values, fan_out, group.parallelism or len(values), deque(range(len(values))))
        self._start_items(name, run)

    def _start_items(self, name: str, run: GroupRun) -> None:
        while run.pending and run.active < run.limit:
            index = run.pending.popleft()
            run.active += 1
            at = item_scope(name, index if run.fan_out else None)
            self.item_of[at] = (name, index if run.fan_out else None)
            self._open(self.nodes[name].qualified, at, self.nodes[name], index if run.fan_out else None, run.values[index])

    def _scope_ended(self, at: str) -> None:
        name, _ = self.item_of[at]
        run = self.runs[name]
        run.active -= 1
        run.ended += 1
        self._start_items(name, run)
        if run.ended == len(run.values):
            self._group_ended(name, run)

    def _group_ended(self, name: str, run: GroupRun) -> None:
        """Every item ran: the group's state, outputs and error; under a fan-out, its steps' items as one each."""
        qualified = self.nodes[name].qualified
        group, kids = self.pipeline.groups[qualified], groups.children(self.pipeline, qualified)
        scopes_run = [item_scope(name, i if run.fan_out else None) for i in range(len(run.values))]
        states = [scope_state(self.results[instance(at, k)].status for k in kids) for at in scopes_run]
        status = scope_state(states)
        error = None
        if status == "failed":
            first = states.index("failed")
            error = first_failure([(instance(scopes_run[first], k), k) for k in kids], self.results, self.pipeline)
            error = f"item {first}: {error}" if run.fan_out else error
        outputs = {}
        if status == "succeeded":
            values = {o: [self._value(at, groups.source_of(self.pipeline, qualified, o)) for at in scopes_run]
                      for o in group.outputs}
            outputs = values if run.fan_out else {o: v[0] for o, v in values.items()}
        if run.fan_out:
            for inner in self._inside(qualified):
                suffix = inner[len(qualified):]
                result = across_items([self.results[at + suffix] for at in scopes_run], self._declared(inner))
                starts = [self.step_started[at + suffix] for at in scopes_run if at + suffix in self.step_started]
                self._record(name + suffix, result, min(starts, default=None))
        self._finish(name, status, outputs=outputs, error=error)

    def _value(self, at: str, source) -> Any:
        """A group output's value in one run of its inside: its step's output, null unless that step succeeded."""
        if source is None:
            return None
        result = self.results.get(instance(at, source[0]))
        return result.outputs.get(source[1]) if result is not None and result.status == "succeeded" else None

    def _inside(self, qualified: str) -> list[str]:
        return [n for n in groups.order(self.pipeline) if groups.inside(n, qualified)]

    def _declared(self, qualified: str) -> list[str]:
        spec = self.pipeline.groups.get(qualified) or self.steps[qualified]
        return list(spec.outputs)

    def _empty_group(self, name: str) -> None:
        """A fan-out over no items succeeds, every output (its steps' too) an empty list."""
        qualified = self.nodes[name].qualified
        for inner in self._inside(qualified):
            self._record(name + inner[len(qualified):], StepResult(status="succeeded",
                                                                   outputs={o: [] for o in self._declared(inner)}))
        self._finish(name, "succeeded", outputs={o: [] for o in self.pipeline.groups[qualified].outputs})

    def _not_run(self, name: str, state: str, *, error: Optional[str] = None, status: Optional[str] = None) -> None:
        """A step or group that does not run ends `state` (a group: `status`, when its list was bad), and every step
        inside a group with it."""
        qualified = self.nodes[name].qualified
        if qualified in self.pipeline.groups:
            for inner in self._inside(qualified):
                self._record(name + inner[len(qualified):], StepResult(status=state))
        self._finish(name, status or state, error=error)

    def _record(self, name: str, result: StepResult, started: Optional[str] = None) -> None:
        """The result of a step or group that is no node of its own (inside a group that did not run, or a fan-out's
        steps reported as one: `started`, its first item's start)."""
        self.results[name] = result
        if started is not None:
            self.step_started[name] = started
        if _reported(name):
            self.store.set_step(self.run_id, name, result.status, attempts=result.attempts, outputs=result.outputs,
                                error=result.error, started_at=started, ended_at=now())
            self.progress.step(name, result.status, attempt=result.attempts, error=result.error)

    def _show(self, name: str, status: str, *, attempt: int = 0, item: int = -1, error: Optional[str] = None) -> None:
        """Progress, by the names of the spec: an item of a fan-out group shows on its step's line, as that step's
        item, and only when it runs (its steps' ends are shown once, for all items, when the group ends)."""
        if _reported(name):
            self.progress.step(name, status, attempt=attempt, item=item, error=error)
        elif status in ("running", "retrying"):
            node = self.nodes[name]
            self.progress.step(node.qualified, status, attempt=attempt, item=node.indexes[0], error=error)

    def _expand(self, name: str, step: Step) -> None:
        if step.foreach is None:
            items = [(-1, self.nodes[name].item)]  # inside a fan-out group, its item
        else:
            values = fill(step.foreach, self._resolve_for(name, self.nodes[name].item))
            problem = foreach_problem(values)
            if problem:
                self._finish(name, "failed", error=problem)
                return
            if not values:
                self._finish(name, "succeeded", outputs={o: [] for o in step.outputs})
                return
            items = list(enumerate(values))
        request, notes = self.host.request(step.resources)
        for note in notes:
            self.progress.note(self.nodes[name].qualified, note)
        self.units[name] = []
        self.running_per_step[name] = 0
        self._show(name, "running")
        for index, value in items:
            before = self.last_attempts.get((name, index), 0)
            unit = Unit(name, index, value, attempt=before, before=before, request=request)
            self.units[name].append(unit)
            if (name, index) in self.done:  # succeeded before a resume: not run again
                unit.status, unit.outputs = "succeeded", self.done[(name, index)]["outputs"]
                unit.attempt = self.done[(name, index)]["attempts"]
            else:
                self.queue.append(unit)
        self._maybe_complete(name)

    # --- starting attempts

    def _start_units(self) -> None:
        if not self.queue:
            return
        now_ = time.monotonic()
        held = deque()
        while self.queue:
            unit = self.queue.popleft()
            step = self._step(unit.step)
            limit = step.parallelism or len(self.units[unit.step])
            if (len(self.running) >= self.options.max_parallel or unit.ready_at > now_
                    or self.running_per_step[unit.step] >= limit or not self.host.fits(unit.request)):
                held.append(unit)
                continue
            self._start(unit, step)
        self.queue = held
        while self._unstarted:
            self._ended(*self._unstarted.pop(0), 1)

    def _start(self, unit: Unit, step: Step) -> None:
        unit.attempt += 1
        unit.status, unit.timed_out, unit.pid, unit.pid_started = "running", False, None, None
        unit.not_run = False
        unit.gpus = self.host.take(unit.request)
        folder = self.store.run_dir(self.run_id) / unit.step / (f"item-{unit.item}" if unit.item >= 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        unit.folder = folder
        started = now()
        self.store.start_attempt(self.run_id, unit.step, unit.item, unit.attempt, started)
        if unit.step not in self.step_started:
            self.step_started[unit.step] = started
            if _reported(unit.step):
                self.store.set_step(self.run_id, unit.step, "running", started_at=started)
        base = folder.resolve() / f"attempt-{unit.attempt}"  # absolute: an attempt may work in another folder
        values, missing = self.where.secret_values(step)
        if missing is not None:
            self._fail_unstarted(unit, base, missing)
            return
        inputs = _Inputs(self.pipeline, Path(str(base) + ".inputs").resolve(),  # absolute: a step may change folder
                         lambda written: self._target(unit.step, written)[1])
        resolve = inputs.local(self._resolve_for(unit.step, unit.value))
        env = {key: to_text(fill(value, resolve)) for key, value in step.env.items()}
        if self.host.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(unit.gpus)
        env.update(values)
        request: dict[str, Any] = {"id": self._next_id, "log": str(base) + ".log", "result": str(base) + ".result.json",
                                   "pidfile": str(base) + ".pid", "env": env}
        self.where.place(request, step, base, values)
        if step.python:
            request.update(kind="python", python=step.python, path=request.get("path", str(self.spec_dir)),
                           args=fill(step.args, resolve))
        else:
            outputs_dir = Path(str(base) + ".outputs")
            outputs_dir.mkdir(exist_ok=True)
            env["ORCH_OUTPUTS"] = str(outputs_dir.resolve())
            request.update(kind="command", argv=[fill_text(arg, resolve) for arg in step.command])
            if step.stdout_output:  # its first bytes kept: one more than the bound and its newline tells a longer one
                request.update(stdout=str(base) + ".stdout", keep=MAX_STDOUT_OUTPUT_BYTES + 2)
        stores = artifact_outputs(step.outputs)
        if inputs.fetch or stores:  # moved by the attempt itself (zygote.py)
            node = self.nodes[unit.step]
            items = [*node.indexes, *([unit.item] if unit.item >= 0 else [])] or None
            request["artifacts"] = {"store": self.artifacts, "fetch": inputs.fetch, "outputs": stores,
                                    "single": len(step.outputs) == 1, "key": [self.pipeline.name, self.run_id, node.qualified, items]}
        if step.timeout:
            unit.deadline = time.monotonic() + step.timeout
        self.running[self._next_id] = unit
        self.running_per_step[unit.step] += 1
        self._next_id += 1
        if self.zygote is None:
            self.zygote = Zygote((self.artifacts,) if self.artifacts else (), self.where.preload())
        self.zygote.start(request)
        self._show(unit.step, "running", attempt=unit.attempt, item=unit.item)

    def _fail_unstarted(self, unit: Unit, base: Path, error: str) -> None:
        """The attempt fails before anything of its step runs (no process is started): its log says why,
        and it ends as any failed attempt does -- retried if the step has retries left."""
        try:
            Path(str(base) + ".log").write_text(error + "\n", encoding="utf-8")
        except OSError:
            pass
        unit.timed_out, unit.error = True, error  # (as a killed starter's attempts: the error is set, no outcome is read)
        self.running[self._next_id] = unit
        self.running_per_step[unit.step] += 1
        self._unstarted.append((self._next_id, unit))
        self._next_id += 1
        self._show(unit.step, "running", attempt=unit.attempt, item=unit.item)

    def _resolve_for(self, step_name: str, item: Any):
        def resolve(ref: Ref) -> Any:
            if ref.kind == "param":
                return self.params.get(ref.name)
            if ref.kind == "item":
                return item
            if ref.kind == "run":
                return self._run_value(ref.name)
            upstream = self.results.get(self._target(step_name, ref.step)[0])
            if upstream is None or upstream.status != "succeeded":
                return None
            return upstream.outputs.get(ref.name)

        return resolve

    def _target(self, name: str, written: str) -> tuple[str, str]:
        """(instance, qualified name) of the step or group that `written`, in `name`'s fields, means."""
        node = self.nodes[name]
        if name in self.final:
            return written, written
        qualified = groups.lookup(self.pipeline, node.qualified, written)
        return instance(node.chain[groups.parent(qualified)], qualified), qualified

    def _run_value(self, name: str) -> Any:
        if name == "id":
            return self.run_id
        if name == "date":
            return self.run_date
        steps = groups.order(self.pipeline)  # status and failed_steps: asked only by finally steps, once all ended
        return run_outcome({n: self.results[n].status for n in steps if n in self.results}, steps,
                           groups.judged(self.graph))[name]

    # --- hearing from attempts

    def _on_message(self, message: dict) -> None:
        """A start or an end (processes.py checked its shape); one for no running attempt is ignored."""
        unit = self.running.get(message["id"])
        if unit is None:
            return
        if "pid" in message:
            pid = message["pid"]
            if unit.pid is None and is_child_group_leader(pid, self.zygote.pid):  # else not what the starter said
                unit.pid, unit.pid_started = pid, started_at(pid)
                self.store.attempt_pid(self.run_id, unit.step, unit.item, unit.pid, unit.pid_started)
            return
        self._ended(message["id"], unit, message["status"])

    def _starter_died(self) -> None:
        """The process starter ended under the running attempts (a step killed it): kill them, fail them."""
        reason = f"the local backend's process starter {self.zygote.exit_reason()} while this attempt ran"
        self.zygote.close()
        self.zygote = None
        for request_id, unit in list(self.running.items()):
            self._kill(unit)
            if not unit.timed_out:
                unit.timed_out, unit.error = True, reason  # (timed_out: the error is set, no outcome is read)
                unit.not_run = True  # lost with its starter: an error
            self._ended(request_id, unit, -9)

    def _kill(self, unit: Unit) -> None:
        """Kill the attempt's process group: by the pid it reported, else by its pid file."""
        pid, recorded = unit.pid, unit.pid_started
        if pid is None and unit.folder is not None:
            pid, recorded = read_pid_file(unit.folder / f"attempt-{unit.attempt}.pid")
            if pid is None or recorded is None:  # (a step can write that file: believed only with a start time)
                return
        if recorded is not None:
            kill_if_same(pid, recorded)
        elif self.zygote is not None and not self.zygote.dead:
            kill_group(pid)  # no /proc to check it by: still the starter's child, so still the attempt

    def _ended(self, request_id: int, unit: Unit, status: int) -> None:
        del self.running[request_id]
        self.running_per_step[unit.step] -= 1
        self.host.give_back(unit.request, unit.gpus)
        _remove(unit.folder / f"attempt-{unit.attempt}.pid")
        shutil.rmtree(unit.folder / f"attempt-{unit.attempt}.inputs", ignore_errors=True)  # copies only its attempt read
        if self.where.code is not None:
            shutil.rmtree(unit.folder / f"attempt-{unit.attempt}.code", ignore_errors=True)  # a fresh copy per attempt
        step = self._step(unit.step)
        outputs, error = self._outcome(unit, step, status)
        retries = step.retries
        tries = unit.attempt - unit.before  # a resumed unit gets its retries afresh
        stopped = self.run_timed_out and unit.step not in self.final  # the pipeline's timeout bounds only its steps
        final = error is None or retries is None or tries > retries.limit or stopped or not retries.retries(unit.not_run)
        status = "succeeded" if error is None else "failed"
        self.store.end_attempt(self.run_id, unit.step, unit.item, unit.attempt, status, error, outputs, final)
        if not final:
            unit.status, unit.error = "retrying", error
            unit.ready_at = time.monotonic() + retries.delay_before(tries)
            self.queue.append(unit)
            self._show(unit.step, "retrying", attempt=unit.attempt, item=unit.item, error=error)
            return
        unit.status, unit.outputs, unit.error = status, outputs, error
        self._maybe_complete(unit.step)

    def _outcome(self, unit: Unit, step: Step, status: int) -> tuple[Optional[dict], Optional[str]]:
        """The attempt's outputs or its error; whatever the step wrote, never an exception here."""
        try:
            outputs, error = self._read_outcome(unit, step, status)  # outputs are checked to be real text (typed.py)
        except (OSError, ValueError) as err:  # what a step left in place of its files, whatever it is
            outputs, error = None, f"cannot read the attempt's outcome: {err}"
        error = None if error is None else self.where.mask.text(str(error))  # a value the step printed or raised: ***
        return outputs, safe_text(error)  # a result file a step overwrote may hold anything

    def _read_outcome(self, unit: Unit, step: Step, status: int) -> tuple[Optional[dict], Optional[str]]:
        base = unit.folder / f"attempt-{unit.attempt}"
        if unit.timed_out:
            return None, unit.error
        result = _read_json(Path(str(base) + ".result.json"))
        if status != 0:
            unit.not_run = bool(result and result.get("not_run") is True)
            reason = result.get("error") if result else None
            if reason is None:
                reason = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
                last = _last_line(Path(str(base) + ".log"))
                reason += f": {last}" if last else ""
            return None, reason
        try:
            if step.python:
                if not result or not result.get("ok"):
                    return None, (result or {}).get("error", "the step ended without a result")
                return outputs_from_return(result.get("returned"), step.outputs), None
            folder = Path(str(base) + ".outputs")
            stored = (result or {}).get("artifacts") or {}
            files = {name: _read_output(folder, name) if step.outputs[name] != "artifact" else _uri(stored.get(name))
                     for name in step.outputs if name != step.stdout_output}
            if step.stdout_output:
                printed = read_regular_file(Path(str(base) + ".stdout"), MAX_STDOUT_OUTPUT_BYTES + 2) or b""
                problem = stdout_problem(step.stdout_output, printed, len(printed))
                if problem:
                    return None, problem
                files[step.stdout_output] = printed
            return outputs_from_files(files, step.outputs), None
        except OutputError as err:
            return None, str(err)

    def _maybe_complete(self, name: str) -> None:
        units = self.units[name]
        if any(u.status not in ("succeeded", "failed") for u in units):
            return
        failed = [u for u in units if u.status == "failed"]
        attempts = max((u.attempt for u in units), default=0)
        if failed:
            first = failed[0]
            error = first.error if first.item < 0 else f"item {first.item}: {first.error}"
            self._finish(name, "failed", error=error, attempts=attempts)
        elif units[0].item < 0:
            self._finish(name, "succeeded", outputs=units[0].outputs, attempts=attempts)
        else:
            step = self._step(name)
            outputs = {o: [u.outputs[o] for u in units] for o in step.outputs}
            self._finish(name, "succeeded", outputs=outputs, attempts=attempts)

    def _finish(self, name: str, status: str, *, outputs: Optional[dict] = None, error: Optional[str] = None,
                attempts: int = 0) -> None:
        if _reported(name):
            self.store.set_step(self.run_id, name, status, attempts=attempts, outputs=outputs or {}, error=error,
                                started_at=self.step_started.get(name), ended_at=now())
        self.results[name] = StepResult(status=status, attempts=attempts, outputs=outputs or {}, error=error)
        self._show(name, status, attempt=attempts, error=error)
        spec = self._spec(name)
        for output in artifact_outputs(spec.outputs) if outputs and isinstance(spec, Step) and _reported(name) else ():
            self.progress.note(name, _stored(output, outputs[output]))
        node = self.nodes[name]
        if status == "failed" and name not in self.final and groups.fails_fast(self.pipeline, groups.parent(node.qualified)):
            self._stop_new_work(node.scope)
        self._release(name)

    def _release(self, name: str) -> None:
        """`name` ended: its downstream steps count one upstream less; the last step to end releases the finally steps."""
        downstream = list(self.downstream[name])
        scope = self.nodes[name].scope
        if name not in self.final:
            self.left[scope] -= 1
            if self.left[scope] == 0 and scope == "":
                downstream += list(self.final)
        for step in downstream:
            self.waiting_on[step] -= 1
            if self.waiting_on[step] == 0:
                self.ready.append(step)
        if name not in self.final and scope and self.left[scope] == 0:
            self._scope_ended(scope)

    # --- stopping

    def _stop_new_work(self, scope: str) -> None:
        """fail_fast in one run of a scope (the pipeline's, a group's, an item's): its steps and groups that have not
        started end upstream_failed; running ones (a group's inside too) finish."""
        where = f"group {scope!r}" if scope else "the run"
        reason = self.stopped.setdefault(scope, f"fail_fast stopped {where} after a failure")
        for name, units in list(self.units.items()):
            if self.nodes[name].scope == scope and name not in self.results and not any(u.attempt > u.before for u in units):
                self.queue = deque(u for u in self.queue if u.step != name)
                del self.units[name]
                self._not_started(name, reason)

    def _not_started(self, name: str, reason: str) -> None:
        """Stopped before it ran: upstream_failed, with no error of its own (the reason goes to progress)."""
        self.progress.note(self.nodes[name].qualified, f"not started: {reason}")
        self._not_run(name, "upstream_failed")

    def _enforce_deadlines(self) -> None:
        moment = time.monotonic()
        for unit in self.running.values():
            if unit.deadline and moment >= unit.deadline and not unit.timed_out and unit.pid:
                unit.timed_out = True
                unit.error = f"timed out after {self._step(unit.step).timeout:g}s"
                self._kill(unit)
        if self.deadline and moment >= self.deadline and not self.run_timed_out and self.left[""]:
            self._hit_pipeline_timeout()

    def _hit_pipeline_timeout(self) -> None:
        """Kill what runs (no retries), fail what waits, start nothing more."""
        reason = f"the pipeline's timeout of {self.pipeline.timeout:g}s ran out"
        self.run_timed_out, self.stop_reason = True, reason
        for unit in self.running.values():
            if unit.pid and not unit.timed_out:
                unit.timed_out, unit.error = True, reason
                self._kill(unit)
        waiting, self.queue = list(self.queue), deque()
        for unit in waiting:
            unit.status, unit.error = "failed", unit.error or reason
        for name in dict.fromkeys(u.step for u in waiting):
            self._maybe_complete(name)

    def _stop_all(self) -> None:
        for unit in self.running.values():
            self._kill(unit)  # (the starter, its input closed, kills them too)

    # --- resuming

    def _prepare_resume(self) -> None:
        for pid, recorded in self.store.forget_unfinished(self.run_id):
            kill_if_same(pid, recorded)
        for path in self.store.run_dir(self.run_id).rglob("attempt-*.pid"):  # attempts never seen to end
            kill_if_same(*read_pid_file(path))
            _remove(path)
        self.done = self.store.succeeded_units(self.run_id)
        self.last_attempts = self.store.last_attempts(self.run_id)
        finished = self.store.result(self.run_id).steps
        kept = [name for name in self.nodes if finished.get(name) and finished[name].status == "succeeded"]
        for name in kept:  # the pipeline's steps and groups, and finally steps, that succeeded: not run again
            inside = self._inside(name) if name in self.pipeline.groups else []
            for each in [name, *inside]:
                self.results[each] = finished[each]
                self.progress.step(each, "succeeded", attempt=finished[each].attempts, resumed=True)
        for name in kept:
            self._release(name)
        self.ready = deque(name for name in self.nodes if name not in self.results and self.waiting_on[name] == 0)


class _Inputs:
    """One attempt's artifact references as local paths under `folder`, and the copies to fetch there first."""

    def __init__(self, pipeline, folder: Path, qualify):
        self.pipeline, self.folder, self.fetch, self.qualify = pipeline, folder, [], qualify

    def local(self, resolve):
        """`resolve`, with an artifact's URI (or a fan-out's list of them, lists of lists in groups) replaced by its
        copy's path."""
        seen: dict[tuple[str, str], Any] = {}

        def resolve_local(ref: Ref) -> Any:
            value = resolve(ref)
            if ref.kind == "param" and value is not None and self.pipeline.params[ref.name].type == "artifact":
                if ("", ref.name) not in seen:  # an artifact param: its URI's copy, fetched as it is
                    place = str(self.folder / PARAMS_FOLDER / ref.name)
                    self.fetch.append([value, place, False])
                    seen[("", ref.name)] = place
                return seen[("", ref.name)]
            if ref.kind != "output" or value is None or not is_artifact(self.pipeline, self.qualify(ref.step), ref.name):
                return value
            if (ref.step, ref.name) not in seen:
                seen[(ref.step, ref.name)] = self._copy(value, self.folder / ref.step / ref.name)
            return seen[(ref.step, ref.name)]

        return resolve_local

    def _copy(self, uri: Any, place: Path) -> Any:
        if isinstance(uri, list):
            return [self._copy(each, place / str(i)) for i, each in enumerate(uri)]
        if uri is None:  # an item whose step did not succeed
            return None
        self.fetch.append([uri, str(place), True])
        return str(place)


def _reported(name: str) -> bool:
    """Whether an instance is a name of the spec (reported and stored), not one item's run of it (`sweep[2].train`)."""
    return "[" not in name


def _stored(output: str, uris: Any) -> str:
    """Where an artifact output went, as progress says it: its URI, or where a fan-out's items' are."""
    if isinstance(uris, str):
        return f"artifact {output} stored at {uris}"
    if not uris:
        return f"artifact {output}: no items, nothing stored"
    return f"artifact {output}: {len(uris)} items stored under {uris[0].rsplit('/', 1)[0]}/"


def _uri(uri: Any) -> Optional[bytes]:
    """A stored artifact's URI as an output file's bytes; None (not written) when the attempt stored none."""
    return uri.encode() if isinstance(uri, str) else None


def _read_json(path: Path) -> Optional[dict]:
    try:
        value = json.loads(read_regular_file(path, MAX_OUTPUT_BYTES) or b"null")
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _read_output(folder: Path, name: str) -> Optional[bytes]:
    """An output file's bytes, exactly (no newline translation); None if it was not written.

    Opened without blocking and checked to be a regular file, so a FIFO, a folder or
    /dev/zero left at $ORCH_OUTPUTS/NAME fails the step instead of hanging, filling the
    executor's memory or raising.
    """
    try:
        data = read_regular_file(folder / name, MAX_OUTPUT_BYTES + 1)
    except ValueError as err:  # "is a folder, not a regular file", ...
        raise OutputError(f"output {name!r}: $ORCH_OUTPUTS/{name} {err}") from None
    except OSError as err:
        raise OutputError(f"output {name!r}: cannot read $ORCH_OUTPUTS/{name}: {err.strerror}") from None
    if data is not None and len(data) > MAX_OUTPUT_BYTES:
        raise OutputError(f"output {name!r} is larger than {MAX_OUTPUT_BYTES} bytes; "
                          "write big data to a file and output its path")
    return data


def _last_line(path: Path, limit: int = 200) -> str:
    try:
        data = read_regular_file(path, 4096, tail=True) or b""
    except (OSError, ValueError):
        return ""
    lines = [ln for ln in data.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip()[:limit] if lines else ""


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
