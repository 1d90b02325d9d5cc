"""How each step of a rendered flow runs: copied, after orch.core.typed, into every flow module.

Standard library and prefect only. A step's code runs in a child process, so a timeout
stops it (Prefect's own task timeout cannot interrupt a blocking call in a worker thread).
A step decides when it starts -- once the tasks it waits for are final -- whether its
trigger lets it run: if not, it ends in a state named Skipped (Completed) or
UpstreamFailed (Failed), which Prefect's UI shows as such. A group is a task too: it decides
once, as a step does, then calls the module's function submitting its steps' tasks, once or
once per item (a Scope each: its futures, task runs named `group[i].step`), and ends in the
group's state with its outputs. Finally steps are submitted once every step's
task is final: their triggers count only other finally steps, and neither fail_fast nor the pipeline's
timeout stops them. Each attempt reads its secrets from
Prefect Secret blocks when it starts, and runs in its Place: a fresh copy of the shipped code, its
packages' env, its secrets in its environment and masked in what it prints (Prefect masks nothing).
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from datetime import timezone

from prefect import get_run_logger
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.serializers import JSONSerializer
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.transactions import CommitMode, transaction
from prefect.utilities.annotations import allow_failure, quote

from orch.backends.stepplace import Place  # embedded: stepplace
from orch.backends.steprun import (PipelineTimeout, StepError, call_command, call_python, compare,  # embedded: steprun
                                   attempts_end_on_sigterm, output, retried)
from orch.backends.transfer import Destination, Inputs, check_store  # embedded: transfer
from orch.core.artifacts import choose_store, code_uri  # embedded: artifacts
from orch.core.result import LEAF_FAILURES, run_outcome, scope_state, state_over_items  # embedded: result
from orch.core.secrets import secret_env_name  # embedded: secrets
from orch.core.typed import foreach_problem, to_text  # embedded: typed

SKIPPED, UPSTREAM_FAILED, TIMED_OUT = "Skipped", "UpstreamFailed", "TimedOut"
FAILED_STATES = ("failed", "upstream_failed")
RUNS = {}  # flow run id -> Run, for the on_failure hook
MAX_ITEMS_AT_ONCE = 32  # a fan-out (or fan-out group) without `parallelism`: as the local backend's default --max-parallel
# Outputs persist as plain JSON: Prefect's default JSON hooks would read a user's {"__class__": ...} as a type
PLAIN_JSON = JSONSerializer(object_encoder=None, object_decoder=None)


class StepsFailed(Exception):
    """What the flow raises, called as a function, when a step failed."""


class Scope:
    """One run of a scope -- the flow's steps, a group's, one item of a fan-out group's: the futures and gates of
    its steps and groups by their qualified names, the name each task run gets there (`sweep[2].train`), and its
    fail_fast: once one of them failed (the flag the on_failure hook raises), none of the others starts."""

    def __init__(self, run, group="", at="", indexes=(), fail_fast=False):
        self.run, self.group, self.at, self.indexes = run, group, at, tuple(indexes)
        self.futures, self.gates = {}, {}
        self.fail_fast, self.failed = fail_fast, threading.Event()

    def submit(self, task, name, after=(), trigger="all_succeeded", packages=(), secrets=None, **values):
        """Submit a step's (or group's) task; it waits for its upstream steps here whatever their states, then judges
        them. `packages`: the requirements of its env; `secrets`: VAR -> (Secret block, key), read as each attempt starts."""
        upstream = {step: self.futures[step] for step in after}
        at = f"{self.at}.{name.rpartition('.')[2]}" if self.at else name
        gate = Gate(self.run, name, upstream, trigger, packages, secrets, at, self.indexes, scope=self)
        self.run.scope_of[at] = self  # the hook finds the scope by the task run's name
        values = {key: allow_failure(value) if isinstance(value, PrefectFuture) else value for key, value in values.items()}
        named = task if at == name else task.with_options(task_run_name=at)
        future = named.submit(quote(gate), **values, wait_for=[allow_failure(f) for f in upstream.values()])
        self.futures[name], self.gates[name] = future, gate
        return future

    def ended(self, *children):
        """Wait until this run's steps and groups (`children`, in spec order) have ended: its state, and what its
        first failure says (`step 'train' failed`)."""
        statuses = [status_of(future.state) for future in _finished(self.futures).values()]
        failed = next((name for name in children if status_of(self.futures[name].state) == "failed"), None)
        said = None if failed is None else f"{self.gates[failed].kind} {failed.rpartition('.')[2]!r} failed"
        return scope_state(statuses), said

    def value_of(self, child, name):
        """Output `name` of a step or group here; None unless it succeeded."""
        future = self.futures[child]
        return output(future.result(), name) if status_of(future.state) == "succeeded" else None

    def status(self, name):
        """The status of a step at any depth here: inside a group, its items as one; inside a group that did not
        run, that group's state (upstream_failed for one whose list was bad)."""
        rest = name[len(self.group) + 1:] if self.group else name
        child = name[:len(name) - len(rest)] + rest.split(".")[0]
        status, gate = status_of(self.futures[child].state), self.gates[child]
        if child == name:
            return status
        if gate.scopes is None:
            return "upstream_failed" if status == "failed" else status
        return state_over_items([scope.status(name) for scope in gate.scopes])

    def failures(self):
        """The steps that failed here, at any depth (on any item), in the order they were submitted."""
        for name, future in self.futures.items():
            gate = self.gates[name]
            if gate.kind == "group":
                yield from (step for scope in gate.scopes or () for step in scope.failures())
            elif status_of(future.state) == "failed":
                yield name


class Run(Scope):
    """What the steps of one flow run share: the params, their futures, the failure flag for fail_fast, the deadline;
    and, for the finally steps, the steps' outcome."""

    def __init__(self, params, fail_fast=False, timeout=None, pipeline=None, store=None, code=None, leaves=None):
        super().__init__(self, fail_fast=fail_fast)
        self.params = params
        self.leaves = leaves  # state_from: leaves -- the members judged; None: every step
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout if timeout else None
        self.final = set()  # the finally steps' names
        self.steps_outcome = None  # run_outcome of the steps, once they all ended
        self.scope_of = {}  # task run name -> the Scope its task was submitted in
        self.pipeline = pipeline
        if pipeline is not None:  # artifacts or shipped code: $ORCH_ARTIFACTS, else the spec's store, else a folder
            self.store = choose_store(None, store)[0]
            check_store(self.store, f"{pipeline}/{flow_run.id}")  # unwritable: the flow fails before any step runs
        self.code = (code_uri(self.store, code), code) if code else None  # the packed code's URI and sha256
        RUNS[str(flow_run.id)] = self
        attempts_end_on_sigterm("stopped: the run was cancelled")  # a worker cancels a flow run with SIGTERM

    def wait_for_steps(self, *steps):
        """Wait until every step submitted so far has ended, whatever its state; then `run.status` and
        `run.failed_steps` are known (`steps`: every step and group, in spec order, as run_outcome reads them)."""
        _finished(self.futures)
        self.steps_outcome = run_outcome({name: self.status(name) for name in steps}, steps, self.leaves)

    def submit_finally(self, task, name, after=(), trigger="all_succeeded", **options):
        """Submit a finally step's task (after wait_for_steps): its trigger counts only the finally steps in `after`,
        and neither fail_fast nor the pipeline's deadline stops it."""
        self.final.add(name)
        return self.submit(task, name, after, trigger, **options)

    def outcome(self):
        """The flow's final state: Failed when any step failed (inside groups too), whatever ran after it (finally
        steps too); judged by its leaves, when one of them ended failed or upstream_failed."""
        _finished(self.futures)
        failed = list(dict.fromkeys(name for name in self.failures() if name not in self.final))
        what = "failed steps"
        if self.leaves is not None:  # judged by its leaves: a failure elsewhere does not fail the flow
            failed = [leaf for leaf in self.leaves if self.status(leaf) in LEAF_FAILURES]
            what = "failed or upstream_failed leaves"
        if failed:
            message = f"{what}: {', '.join(failed)}"
            return Failed(message=message, data=StepsFailed(message))
        states = {name: status_of(future.state) for name, future in self.futures.items() if name not in self.final}
        return Completed(message="every step succeeded or was skipped", data=states)

    def left(self):
        """Seconds before the pipeline's deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()


def _finished(futures):
    for future in futures.values():
        future.wait()
    return futures


class Gate:
    """One step's view of its run: its upstream tasks, judged by its trigger when the step starts, and
    every helper its task calls (as methods, so no parameter of a flow can shadow one)."""

    def __init__(self, run, name, upstream, trigger, packages=(), secrets=None, at=None, indexes=(), scope=None):
        self.run, self.name, self.upstream, self.trigger = run, name, upstream, trigger
        self.scope = scope or run  # the run of the scope it is in: its fail_fast
        self.at, self.indexes = at or name, tuple(indexes)  # its task run's name; the items it runs for, outermost first
        self.packages, self.secrets = list(packages), dict(secrets or {})
        self.kind, self.scopes = "step", None  # a group's: "group", and the runs of its steps once they ran

    def item(self, index):
        """The gate of one item of the fan-out: its artifacts are stored under its index."""
        return Gate(self.run, self.name, self.upstream, self.trigger, self.packages, self.secrets, f"{self.at}[{index}]",
                    self.indexes + (index,), self.scope)

    @property
    def final(self):
        """Whether this is a finally step's gate."""
        return self.name in self.run.final

    def left(self):
        """Seconds before the pipeline's deadline (None: none, as for a finally step)."""
        return None if self.final else self.run.left()

    def blocked(self):
        """The state to end in without running (Skipped or UpstreamFailed), or None to run."""
        states = {name: status_of(future.state) for name, future in self.upstream.items()}
        failed = [name for name, status in states.items() if status in FAILED_STATES]
        left = self.left()
        if left is not None and left <= 0:
            return upstream_failed(f"not started: the pipeline's timeout of {self.run.timeout:g}s ran out")
        if self.scope.fail_fast and self.scope.failed.is_set() and not self.final:
            return upstream_failed("not started: a step failed and fail_fast is set" if self.scope is self.run else
                                   f"not started: a step in {self.scope.at} failed and its fail_fast is set")
        if self.trigger == "all_succeeded" and failed:
            return upstream_failed(f"upstream failed: {', '.join(failed)}")
        if self.trigger == "all_succeeded" and any(status != "succeeded" for status in states.values()):
            return skipped("an upstream step was skipped")
        if self.trigger == "none_failed" and failed:
            return upstream_failed(f"upstream failed: {', '.join(failed)}")
        if self.trigger == "any_failed" and not failed:
            return skipped("no upstream step failed")
        return None

    def fan_out(self, task, items, outputs, parallelism=None, values=None):
        """Run `task` once per item, at most `parallelism` at a time; each output becomes a list in item order."""
        problem = foreach_problem(items)
        if problem:
            raise StepError(problem)
        futures = []
        with ThreadPoolTaskRunner(max_workers=parallelism or min(max(len(items), 1), MAX_ITEMS_AT_ONCE)) as runner:
            for index, item in enumerate(items):
                named = task.with_options(task_run_name=f"{self.at}[{index}]")
                futures.append(runner.submit(named, {"_gate": quote(self.item(index)), "_item": item, **(values or {})}))
            for future in futures:
                future.wait()
        for index, future in enumerate(futures):
            state = future.state
            if state.is_failed():
                timed_out = state.name == TIMED_OUT and task.timeout_seconds
                raise StepError(f"item {index}: " + (f"timed out after {task.timeout_seconds:g}s" if timed_out else error_of(state)))
        results = [future.result() for future in futures]
        return {name: [result[name] for result in results] for name in outputs}

    def group(self, steps, outputs, values=None, fail_fast=False):
        """Run the group's steps once (`steps`: the module's function submitting them): its outputs (`outputs`: name
        -> (child, its output)), or the state it ends in. `fail_fast`: the group's own (inherited or set)."""
        self.kind = "group"
        return self._run_scopes(steps, [None], False, outputs, values or {}, 1, fail_fast)

    def each(self, steps, items, outputs, parallelism=None, values=None, fail_fast=False):
        """Run the group's steps once per item, each item's waiting only for its own; at most `parallelism` items
        at once, an item holding its slot from its first step's start to its last step's end. Each output becomes
        a list in item order, None where its step did not succeed."""
        self.kind = "group"
        problem = foreach_problem(items)
        if problem:
            raise StepError(problem)
        limit = parallelism or min(max(len(items), 1), MAX_ITEMS_AT_ONCE)
        return self._run_scopes(steps, items, True, outputs, values or {}, limit, fail_fast)

    def _run_scopes(self, steps, items, fan_out, outputs, values, limit, fail_fast=False):
        """Each item's run is a scope of its own: a failure stops the later steps of its item only."""
        scopes = [Scope(self.run, self.name, f"{self.at}[{i}]" if fan_out else self.at, self.indexes + ((i,) if fan_out else ()),
                        fail_fast) for i in range(len(items))]

        def run_item(scope, item):
            with transaction(commit_mode=CommitMode.EAGER):  # each step's result is kept as it ends, whatever the group's
                return steps(scope, _item=item, **values) if fan_out else steps(scope, **values)

        with ThreadPoolExecutor(max_workers=limit) as slots:  # each slot thread submits in this task's context
            runs = [slots.submit(copy_context().run, run_item, scope, item) for scope, item in zip(scopes, items)]
            ended = [run.result() for run in runs]
        self.scopes = scopes
        return self._verdict(scopes, ended, fan_out, outputs)

    def _verdict(self, scopes, ended, fan_out, outputs):
        """The group's state over its runs (`ended`: each one's state and first failure), or its outputs."""
        status = scope_state(state for state, _ in ended)
        if status == "failed":
            index = next(i for i, (state, _) in enumerate(ended) if state == "failed")
            return Failed(message=(f"item {index}: " if fan_out else "") + ended[index][1])
        if status == "upstream_failed":
            return upstream_failed("a step inside was stopped before it started")
        if status == "skipped":
            return skipped("every step inside was skipped")
        values = {name: [scope.value_of(*source) for scope in scopes] for name, source in outputs.items()}
        return values if fan_out else {name: value[0] for name, value in values.items()}


    def param(self, name):
        return self.run.params[name]

    output = staticmethod(output)
    text = staticmethod(to_text)
    compare = staticmethod(compare)

    def skipped(self, reason):
        return skipped(reason)

    def run_id(self):
        """`${{ run.id }}`: the flow run's id."""
        return str(flow_run.id)

    def run_date(self):
        """`${{ run.date }}`: the UTC date the flow run was scheduled for."""
        return flow_run.scheduled_start_time.astimezone(timezone.utc).date().isoformat()

    def run_status(self):
        """`${{ run.status }}` (finally steps): succeeded or failed, the pipeline's status from its steps."""
        return self.run.steps_outcome["status"]

    def run_failed_steps(self):
        """`${{ run.failed_steps }}` (finally steps): the steps that failed, in spec order."""
        return self.run.steps_outcome["failed_steps"]

    def python(self, target, args, outputs, env=None, timeout=None, place=None):
        """Call `module:function` with `args` in a child process: the outputs it returned, checked."""
        return call_python(target, args, outputs, env, timeout, self.left(), self.run.timeout, get_run_logger().info,
                           self.publish, place)

    def command(self, argv, outputs, env=None, timeout=None, stdout=None, place=None):
        """Run `argv` as a child process: the outputs it wrote to $ORCH_OUTPUTS/<name> (or printed: `stdout`), checked."""
        return call_command(argv, outputs, env, timeout, self.left(), self.run.timeout, get_run_logger().info, stdout,
                            self.publish, place)

    def python_placed(self, *args, **options):
        """`python`, in this attempt's place: its secrets, its copy of the shipped code, its packages' env."""
        with self.place(get_run_logger().info) as place:
            return self.python(*args, place=place, **options)

    def command_placed(self, *args, **options):
        """`command`, in this attempt's place."""
        with self.place(get_run_logger().info) as place:
            return self.command(*args, place=place, **options)

    def place(self, log):
        """Where this attempt runs: its secrets read first (a missing one fails it before anything else), then
        its code (a fresh copy) and its packages' env."""
        secrets = {var: read_secret(secret, key) for var, (secret, key) in self.secrets.items()}
        return Place(code=self.run.code, packages=self.packages, secrets=secrets, log=log)

    def inputs(self):
        """The folder of this attempt's copies of the artifacts it reads, removed when it ends."""
        return Inputs()

    def publish(self, name, path, movable):
        """Store artifact `name` under this flow run and step (and item): its URI, what the task's result keeps."""
        return Destination(self.run.store, self.run.pipeline, self.run_id(), self.name, self.indexes or None).publish(
            name, path, movable)


def read_secret(secret, key):
    """Key `key` of the Prefect Secret block `secret`, whose value is a JSON object holding the keys (`.get()`
    gives it back as a dict). Missing: the step fails, naming the block and the key, never a value."""
    from prefect.blocks.system import Secret

    missing = f"secret {secret!r} (key {key!r}) is not set: "
    try:
        value = Secret.load(secret).get()
    except ValueError as err:  # its text, past "Unable to find", may quote the stored data: not repeated
        found = "Unable to find block document" not in str(err)
        raise StepError(missing + (f"the Prefect Secret block {secret!r} cannot be read ({type(err).__name__})" if found else
                                   f"there is no Prefect Secret block named {secret!r}; save one, Secret(value={{{key!r}: "
                                   f"...}}).save({secret!r}), or give {secret_env_name(secret, key)} to `orch run` on "
                                   f"Prefect's temporary server")) from None
    if not isinstance(value, dict) or key not in value:
        raise StepError(missing + f"the Prefect Secret block {secret!r} has no key {key!r} (its value must be a JSON "
                                  f"object holding the keys)")
    value = value[key]
    return value if isinstance(value, str) else json.dumps(value)


def skipped(reason):
    return Completed(name=SKIPPED, message=reason)


def upstream_failed(reason):
    return Failed(name=UPSTREAM_FAILED, message=reason)


def status_of(state):
    """orch's name for a task run's final state."""
    if state.is_completed():
        return "skipped" if state.name == SKIPPED else "succeeded"
    return "upstream_failed" if state.name == UPSTREAM_FAILED else "failed"


def error_of(state):
    """The failure in the step's own words, without Prefect's preamble."""
    message = state.message or ""
    for prefix in ("Task run encountered an exception ", "StepError: ", "AttemptError: ", "PipelineTimeout: ",
                   "ArtifactError: ", "MissingArtifact: ", "EnvError: "):
        message = message[len(prefix):] if message.startswith(prefix) else message
    return message


def worth_retrying(task, task_run, state):
    """A retry is for a failed attempt, not for a step stopped before it ran or by the pipeline's deadline."""
    cause = state.data
    return not isinstance(cause, PipelineTimeout) and getattr(cause, "name", None) != UPSTREAM_FAILED


def retrying_on(on):
    """The retry condition of `retries.on: failure` or `error`: worth_retrying, and only an attempt that failed
    that way (steprun.is_error: an artifact not fetched or not stored is an error; the rest is the step's failure)."""
    def worth_retrying_on(task, task_run, state):
        return worth_retrying(task, task_run, state) and retried(on, state.data)

    return worth_retrying_on


def note_failure(task, task_run, state):
    """on_failure hook: fail_fast stops the steps of the failed task's scope run that have not started yet."""
    run = RUNS.get(str(task_run.flow_run_id))
    if run is not None:
        run.scope_of.get(task_run.name, run).failed.set()


def one_key_per_task_run(context, parameters):
    """Results are persisted (JSON) under the task run's id: readable afterwards, never a cache hit."""
    return str(context.task_run.id)


RESULTS = dict(persist_result=True, result_serializer=PLAIN_JSON, cache_key_fn=one_key_per_task_run)
