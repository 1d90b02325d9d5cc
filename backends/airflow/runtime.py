"""How each task of a rendered DAG runs a step: copied, after orch.core.typed and steprun, into every DAG file.

Standard library and the Airflow task SDK only. Trigger rules and skip propagation are
Airflow's own; this adds what Airflow cannot say: exact retry delays, the pipeline's
deadline, fail_fast that lets running steps finish, a fan-out that succeeds on an empty
list, finally steps that neither fail_fast nor the deadline stops, seeing `run.status` and
`run.failed_steps` from the steps' states (core's run_outcome, as the verdict decides the run), and error
texts kept as XComs so they can be read back with the task states. Each attempt
runs where stepplace.Place puts it: in a fresh copy of the shipped code, with its packages' env,
its secrets read from Airflow's Variables or Connections, registered with Airflow's masker and
masked by orch's in what it prints and in its error.
"""

import datetime
import json
import os

from airflow.sdk import Connection, RetryDecision, RetryPolicy, Variable, get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException
from airflow.sdk.log import mask_secret

from orch.backends.pyenv import EnvError  # embedded: pyenv
from orch.backends.stepplace import Place  # embedded: stepplace
from orch.backends.steprun import (PipelineTimeout, StepError, call_command, call_python, compare,  # embedded: steprun
                                   attempts_end_on_sigterm, output, retried)
from orch.backends.transfer import ArtifactError, Destination, Inputs, check_store  # embedded: transfer
from orch.core.artifacts import choose_store, code_uri  # embedded: artifacts
from orch.core.result import run_outcome, scope_state  # embedded: result
from orch.core.secrets import secret_env_name  # embedded: secrets
from orch.core.typed import as_declared, foreach_problem, to_text  # embedded: typed

ERROR, STATUS, ITEMS = "orch_error", "orch_status", "orch_items"  # XCom keys: a failed step's error,
# 'upstream_failed' for a task that stopped before running its step, a fan-out's items.
# A step's outputs and a fan-out's items travel in XComs as JSON text: Airflow's XCom serializer
# refuses a dict holding its own keys (`__classname__`, `__id__`), which a user's json value may.
ITEMS_TASK, ITEM_TASK = "{}__Items", "{}__Item"  # a fan-out's helper tasks: the capital keeps them from any step's name
GATE_TASK, INNER = "{}__Gate", "orch_inner"  # a group's gate; the XCom where a fan-out group's end keeps its steps' items
CONNECTION_FIELDS = ("login", "password", "host", "schema", "port", "conn_type")  # a secret's key naming one of these
# reads that field of a Connection; any other key, its extra
ORCH_RUN_SECRETS = "ORCH_AIRFLOW_RUN_SECRETS"  # set by `orch run -b airflow`, which makes Variables of ORCH_SECRET_*
CODE_URL_SECONDS = 6 * 3600  # how long a pod's presigned code URL is good for: a GPU pod may wait hours for its node
STATES = {"success": "succeeded", "skipped": "skipped", "failed": "failed", "upstream_failed": "upstream_failed"}


class ExactDelays(RetryPolicy):
    """Retry k starts delays[k-1] seconds after the failure: no jitter, unlike retry_exponential_backoff.
    A step stopped by the pipeline's deadline or by fail_fast is not retried (AirflowFailException); nor is an
    attempt `on` does not retry (retries.on failure or error: steprun.is_error tells them apart), which this
    fails at once, as AirflowFailException would."""

    def __init__(self, delays, on="any"):
        self.delays, self.on = delays, on

    def evaluate(self, exception, try_number, max_tries, context=None):
        if not retried(self.on, exception):
            return RetryDecision.fail(reason=f"retries.on is {self.on}: this attempt is not retried")
        delay = self.delays[min(try_number, len(self.delays)) - 1]
        return RetryDecision.retry(delay=datetime.timedelta(seconds=delay))


class Step:
    """One task's view of its DAG run: params, upstream outputs, the deadline, fail_fast -- and every
    helper its task calls, as methods, so no name a user chose can shadow one."""

    def __init__(self, name, steps=(), params=None, fail_fast=False, timeout=None, starting=True, all_succeeded=(),
                 any_failed=(), pipeline=None, store=None, code=None, where=None, final=False, group=None, index=None,
                 nodes=None, scopes=None, leaves=None):
        if final:  # a finally step: neither the pipeline's deadline nor fail_fast stops it
            fail_fast, timeout, scopes = False, None, None
        self.members = steps  # what its fail_fast reads: every step; with groups, the nodes of its own scope
        if scopes is not None:  # with groups: whether the scope it is directly in fails fast, and that scope's nodes
            scope = name.rpartition(".")[0]
            fail_fast, self.members = scope in scopes, scopes.get(scope, ())
        self.context = get_current_context()
        self.ti = self.context["ti"]
        self.name, self.steps, self.types, self.fail_fast, self.timeout = name, steps, params or {}, fail_fast, timeout
        self.nodes = nodes or steps  # what run.status judges: the steps and groups (name -> its end task), in spec order
        self.leaves = leaves  # state_from: leaves -- the members judged; None: every step
        self.pipeline, self.store, self.index, self.checked = pipeline, store, index, None  # index: a fan-out group's item
        self.code, self.where, self.group = code, (where or {}).get(name, {}), group  # group: the one it is directly in
        attempts_end_on_sigterm("stopped: Airflow stopped the task")  # its DAG run marked failed, the task cleared
        if group:
            self._group_runs()
        if starting:
            self._may_start()
        if all_succeeded:
            self._judge(all_succeeded, every=True)
        if any_failed:
            self._judge(any_failed, every=False)

    def _judge(self, upstream, every):
        """all_succeeded (`every`) or any_failed over several upstream steps, judged once they all ended:
        Airflow's all_success skips a task at the first skipped upstream, before a later one may fail,
        and its one_failed runs a task at the first failure, before the others end."""
        states = self.states(upstream)
        failed = [name for name in upstream if states.get(name) in ("failed", "upstream_failed")]
        if not every:
            if not failed:
                self.skip("no upstream step failed")
            return
        if failed:
            self.stop(f"upstream failed: {', '.join(failed)}")
        if any(states.get(name) != "success" for name in upstream):
            self.skip("an upstream step was skipped")

    def _group_runs(self):
        """A task inside a group runs only where its group does: its gate (an upstream task) decided that once.
        Airflow's own rules would run an all_done or none_failed step after a skipped gate."""
        gate = GATE_TASK.format(self.group)
        state = self.states([gate]).get(gate)
        if state == "skipped":
            self.skip("its group did not run")
        if state != "success":
            self.stop("upstream failed")

    def _may_start(self):
        left = self.left()
        if left is not None and left <= 0:
            self._too_late(f"the pipeline's timeout of {self.timeout:g}s ran out")
        if self.fail_fast and "failed" in self.states([s for s in self.members if s != self.name]).values():
            self.stop("not started: a step failed and fail_fast is set")

    def _too_late(self, reason):
        """Not started before the deadline. Its upstream steps all succeeded or were skipped: they ended before the
        deadline (a step running then fails), so it was waiting to start and fails, as the local backend fails what
        waits. Else it is upstream_failed, as a step whose upstream failed by then."""
        states = self.states(self.ti.task.upstream_task_ids)
        if all(state in ("success", "skipped") for state in states.values()):
            self.ti.xcom_push(key=ERROR, value=reason)
            raise AirflowFailException(reason)
        self.stop(f"not started: {reason}")

    def stop(self, reason):
        """End as upstream_failed. Airflow has no such end for a task that started, so it fails
        (without retries) and says so in its `orch_status` XCom."""
        self.ti.xcom_push(key=STATUS, value="upstream_failed")
        raise AirflowFailException(reason)

    def skip(self, reason):
        raise AirflowSkipException(reason)

    def left(self):
        """Seconds before the pipeline's deadline (None: no deadline)."""
        if not self.timeout:
            return None
        started = self.context["dag_run"].start_date
        return self.timeout - (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()

    def states(self, task_ids):
        """Airflow's states of these tasks in this DAG run; a task mapped with this one's fan-out group, its
        state on this item (Airflow keys a mapped task's `<task_id>_<map_index>`)."""
        found = self._all_states(task_ids)
        return {task: found.get(task, found.get(f"{task}_{self.index}")) for task in task_ids}

    def _all_states(self, task_ids):
        if not task_ids:
            return {}
        found = self.ti.get_task_states(dag_id=self.ti.dag_id, run_ids=[self.ti.run_id], task_ids=list(task_ids))
        return found.get(self.ti.run_id, {})

    def param(self, name):
        return as_declared(self.context["params"][name], self.types[name])

    output = staticmethod(output)
    text = staticmethod(to_text)
    compare = staticmethod(compare)

    def outputs(self, step, same_item=False):
        """An upstream step's outputs; None when it did not succeed. `same_item`: a sibling in a fan-out group,
        read on this item."""
        value = self.ti.xcom_pull(task_ids=step, map_indexes=self.index) if same_item else self.ti.xcom_pull(task_ids=step)
        return json.loads(value) if isinstance(value, str) else None

    def run_id(self):
        return self.context["run_id"]

    def run_date(self):
        """The UTC date of the run's logical date (a manual run's: when it was triggered)."""
        when = self.context.get("logical_date") or self.context["dag_run"].run_after
        return when.astimezone(datetime.timezone.utc).date().isoformat()

    def run_status(self):
        """A finally step's `run.status`: the pipeline's, from its steps' states."""
        return run_outcome(step_statuses(self.ti, self.nodes), self.nodes, self.leaves)["status"]

    def run_failed_steps(self):
        return run_outcome(step_statuses(self.ti, self.nodes), self.nodes, self.leaves)["failed_steps"]

    def python(self, target, args, outputs, env=None, timeout=None):
        return self._attempt(call_python, timeout, target, args, outputs, env, publish=self.publish)

    def command(self, argv, outputs, env=None, timeout=None, stdout=None):
        return self._attempt(call_command, timeout, argv, outputs, env, stdout=stdout, publish=self.publish)

    def artifact_store(self):
        """$ORCH_ARTIFACTS, else the spec's store, else a folder; checked writable before the task first stores in it."""
        if self.checked is None:
            self.checked = choose_store(None, self.store)[0]
            check_store(self.checked, f"{self.pipeline}/{self.run_id()}", connect)
        return self.checked

    def inputs(self):
        """The folder of this attempt's copies of the artifacts it reads, removed when it ends (one that cannot
        be fetched is the step's error)."""
        return Inputs(connect, lambda error: self.ti.xcom_push(key=ERROR, value=error))

    def publish(self, name, path, movable):
        """Store artifact `name` under this DAG run and task (and map index): its URI, what the XCom keeps."""
        return Destination(self.artifact_store(), self.pipeline, self.run_id(), self.name, self.index,
                           connect).publish(name, path, movable)

    def place(self):
        """Where this attempt runs (stepplace.Place): the shipped code from the run's store, the step's packages,
        its secrets read now from Airflow's Variables or Connections (StepError, before any code runs, when one
        is missing)."""
        code = (code_uri(choose_store(None, self.store)[0], self.code), self.code) if self.code else None
        values = {}
        for var, (secret, key) in self.where.get("secrets", {}).items():
            values[var] = secret_value(secret, key)
            mask_secret(values[var], var)  # Airflow's own log masks it too
        return Place(code=code, packages=self.where.get("packages", ()), secrets=values, connect=connect)

    def _attempt(self, call, timeout, *args, **kwargs):
        try:
            with self.place() as place:
                return json.dumps(call(*args, timeout=timeout, left=self.left(), budget=self.timeout, place=place, **kwargs))
        except PipelineTimeout as err:
            self.ti.xcom_push(key=ERROR, value=str(err))
            raise AirflowFailException(str(err)) from None
        except BaseException as err:  # noqa: BLE001 - recorded, then raised as it came
            timed_out = type(err).__name__ == "AirflowTaskTimeout" and timeout
            self.ti.xcom_push(key=ERROR, value=f"timed out after {timeout:g}s" if timed_out else _error_text(err))
            raise

    def fan_out(self, items):
        """A fan-out's item indexes to map over; the items themselves go in the `orch_items` XCom, so no
        item is ever a templated argument. Not a list: the fan-out's failure, reported by its collector."""
        problem = foreach_problem(items)
        if problem:
            self.ti.xcom_push(key=ERROR, value=problem)
            items = []
        self.ti.xcom_push(key=ITEMS, value=json.dumps(items))
        return list(range(len(items)))

    def item(self, index):
        self.index = index  # this item's artifacts are stored under its index
        return json.loads(self.ti.xcom_pull(task_ids=ITEMS_TASK.format(self.name), key=ITEMS))[index]

    def group_item(self):
        """This item of its fan-out group: from the gate's `orch_items` XCom, by the task's map index."""
        return json.loads(self.ti.xcom_pull(task_ids=GATE_TASK.format(self.group), key=ITEMS, map_indexes=-1))[self.index]

    def close(self, shape):
        """A group's end (docs/semantics.md#groups): once every task inside ended, the group's state -- a failure on
        any item fails it, every child skipped on every item skips it -- its outputs (a list in item order under a
        fan-out, null where the source did not succeed) and its error naming the first failed child and item. A
        fan-out group keeps each inner step's items in its `orch_inner` XCom, for the RunResult."""
        gate = shape["gate"]
        state = self.states([gate])[gate]
        if state == "skipped":
            self.skip("its trigger or condition skipped it")
        error = self.ti.xcom_pull(task_ids=gate, key=ERROR, map_indexes=-1)  # its items not a list, or the deadline
        if state == "failed" and error and not self.ti.xcom_pull(task_ids=gate, key=STATUS, map_indexes=-1) or \
                state == "success" and error:
            self.fail(error)
        if state != "success":
            self.stop("upstream failed")
        fan_out = shape["fan_out"]
        indexes = list(range(len(json.loads(self.ti.xcom_pull(task_ids=gate, key=ITEMS, map_indexes=-1))))) if fan_out else [-1]
        children = {task: self._ended(task, indexes) for task, _, _ in shape["children"]}
        self.ti.xcom_push(key=INNER, value=json.dumps({task: children[task] for task in shape["steps"]}))
        items = [scope_state([children[task][i]["status"] for task, _, _ in shape["children"]]) for i in range(len(indexes))]
        status = scope_state(items)
        if status == "failed":
            item = items.index("failed")
            kind, name = next((kind, name) for task, kind, name in shape["children"] if children[task][item]["status"] == "failed")
            self.fail((f"item {item}: " if fan_out else "") + f"{kind} {name!r} failed")
        if status == "upstream_failed":
            self.stop("a step inside did not start")
        if status == "skipped":
            self.skip("every step inside was skipped")
        values = {}
        for output, source in shape["outputs"].items():
            got = [children[source[0]][i] if source else None for i in range(len(indexes))]
            values[output] = [(item or {}).get("outputs", {}).get(source[1]) if item and item["status"] == "succeeded"
                              else None for item in got]
        return json.dumps(values if fan_out else {output: found[0] for output, found in values.items()})

    def _ended(self, task, indexes):
        """A child's end on each item (map index; -1 unmapped): orch's status, outputs, error."""
        found = self._all_states([task])
        ended = []
        for index in indexes:
            state = STATES.get(found.get(task if index < 0 else f"{task}_{index}"), "upstream_failed")
            if state == "failed" and self.ti.xcom_pull(task_ids=task, key=STATUS, map_indexes=index):
                state = "upstream_failed"
            value = self.ti.xcom_pull(task_ids=task, map_indexes=index) if state == "succeeded" else None
            error = self.ti.xcom_pull(task_ids=task, key=ERROR, map_indexes=index) if state == "failed" else None
            ended.append({"status": state, "outputs": json.loads(value) if isinstance(value, str) else {},
                          "error": error or ("the task failed (see its log)" if state == "failed" else None)})
        return ended

    def collect(self, outputs):
        """The fan-out's result once its items ended: each output as a list in item order."""
        items_task, item_task = ITEMS_TASK.format(self.name), ITEM_TASK.format(self.name)
        state = self.states([items_task]).get(items_task)
        if state == "skipped":
            self.skip("its condition or trigger skipped it")
        if state != "success":
            self.stop("upstream failed")
        error = self.ti.xcom_pull(task_ids=items_task, key=ERROR)
        if error:
            self.fail(error)
        count = len(self.ti.xcom_pull(task_ids=items_task))
        results = []
        for index in range(count):
            result = self.ti.xcom_pull(task_ids=item_task, map_indexes=index)
            if not isinstance(result, str):
                error = self.ti.xcom_pull(task_ids=item_task, map_indexes=index, key=ERROR)
                self.fail(f"item {index}: {error or 'it did not succeed'}")
            results.append(json.loads(result))
        return json.dumps({name: [result[name] for result in results] for name in outputs})

    def fail(self, error):
        self.ti.xcom_push(key=ERROR, value=error)
        raise StepError(error)


def connect(uri):
    """Airflow's own way to an object store: ObjectStoragePath, with the connection $ORCH_ARTIFACTS_CONN_ID names
    (its credentials and endpoint), else the store's default credentials (AWS_* for s3)."""
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(uri, conn_id=os.environ.get("ORCH_ARTIFACTS_CONN_ID") or None)
    return path.fs, path.path


def secret_value(secret, key):
    """Key `key` of secret `secret` as Airflow holds it: the Variable `secret` (a JSON object of the secret's keys),
    else the Connection `secret` (`key` one of its fields, else a key of its extra); StepError naming where it looked."""
    raw = Variable.get(secret, default=None)  # read raw: Airflow takes a Variable that is not JSON for a missing one
    if raw is not None:
        try:
            held = json.loads(raw)
        except ValueError:
            raise StepError(f"secret {secret!r} (key {key!r}): the Airflow Variable {secret!r} is not JSON; it must be a "
                            f"JSON object holding the secret's keys") from None
        if isinstance(held, dict) and held.get(key) is not None:
            return to_text(held[key])
        raise StepError(f"secret {secret!r} (key {key!r}) is not set: the Airflow Variable {secret!r} holds no key "
                        f"{key!r} (its value must be a JSON object holding the secret's keys){_run_hint(secret, key)}")
    try:
        connection = Connection.get(secret)
    except AirflowNotFoundException:
        raise StepError(f"secret {secret!r} (key {key!r}) is not set: there is no Airflow Variable {secret!r} "
                        f"(AIRFLOW_VAR_{secret.upper()}) and no Airflow Connection {secret!r}{_run_hint(secret, key)}") from None
    found = getattr(connection, key, None) if key in CONNECTION_FIELDS else (connection.extra_dejson or {}).get(key)
    if found is None:
        where = "field" if key in CONNECTION_FIELDS else "key in its extra"
        raise StepError(f"secret {secret!r} (key {key!r}) is not set: the Airflow Connection {secret!r} has no {where} {key!r}")
    return to_text(found)


def _run_hint(secret, key):
    """Under `orch run`, where else the value could have come from."""
    if not os.environ.get(ORCH_RUN_SECRETS):
        return ""
    return f"; or set {secret_env_name(secret, key)}, or give it in the file named by --secrets"


def pod_code(task, store, sha):
    """A pod's ORCH_CODE_URL, added to its env as its task starts: a presigned GET of the shipped code, signed
    through the store's file system as the artifacts reach it, so the pod's runner needs no credentials and no
    client. A folder store cannot be signed: the task fails, saying so."""
    from kubernetes.client import models as k8s

    uri = code_uri(choose_store(None, store)[0], sha)
    fs, path = connect(uri)
    try:
        url = fs.sign(path, expiration=CODE_URL_SECONDS)
    except NotImplementedError:
        raise AirflowFailException(f"the shipped code is at {uri}, in a store a pod cannot reach (it cannot be signed "
                                   "for the pod to fetch): ship code through an object store (artifacts: {store: "
                                   "s3://...}, or $ORCH_ARTIFACTS on the workers)") from None
    mask_secret(url, "ORCH_CODE_URL")
    kept = [var for var in task.env_vars or [] if getattr(var, "name", None) != "ORCH_CODE_URL"]
    task.env_vars = kept + [k8s.V1EnvVar(name="ORCH_CODE_URL", value=url)]


def verdict(steps, leaves=None):
    """Fail the DAG run when a step failed (judged by its `leaves`, when one of them failed or was upstream_failed):
    Airflow judges a run by its leaf tasks, and a succeeded cleanup or alert leaf, or a finally step, would hide the
    failure (or, failing, make one)."""
    outcome = run_outcome(step_statuses(get_current_context()["ti"], steps), steps, leaves)
    if outcome["status"] == "failed":
        raise AirflowFailException(f"failed steps: {', '.join(outcome['failed_steps'])}")


def step_statuses(ti, steps):
    """The steps' states in this DAG run as orch names them: a task that failed because it stopped before
    running its step (its `orch_status` XCom) is upstream_failed; one not ended is left out. A step mapped in a
    fan-out group is its items' as one: failed, else succeeded, else upstream_failed, else skipped. `steps`: names,
    or a mapping of names to the task whose state is theirs (a group's end)."""
    tasks = steps if isinstance(steps, dict) else {name: name for name in steps}
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=list(tasks.values())).get(ti.run_id, {})
    statuses = {}
    for node, task in tasks.items():
        items = {-1: states[task]} if task in states else \
            {int(key[len(task) + 1:]): state for key, state in states.items()
             if key.startswith(task + "_") and key[len(task) + 1:].isdigit()}
        if not items or not all(state in STATES for state in items.values()):
            continue
        seen = [STATES[state] for state in items.values()]
        for index in [index for index, state in items.items() if state == "failed"]:
            if ti.xcom_pull(task_ids=task, key=STATUS, **({"map_indexes": index} if index >= 0 else {})):
                seen[list(items).index(index)] = "upstream_failed"
        statuses[node] = next(s for s in ("failed", "succeeded", "upstream_failed", "skipped") if s in seen)
    return statuses


def param_text(value, kind):
    return to_text(as_declared(value, kind))


def output_text(xcom, name):
    """An upstream step's output as text; empty when that step did not succeed."""
    return to_text(output(json.loads(xcom) if isinstance(xcom, str) else None, name))


def date_text(dag_run):
    when = dag_run.logical_date or dag_run.run_after
    return when.astimezone(datetime.timezone.utc).date().isoformat()


def run_text(ti, name, steps, leaves=None):
    """A finally pod's `run.status` or `run.failed_steps` (`name`) as text, from the steps' states."""
    return to_text(run_outcome(step_statuses(ti, steps), steps, leaves)[name])


# What a pod's templated argv and env call for their references (kubernetes.py)
MACROS = {"orch_param": param_text, "orch_output": output_text, "orch_date": date_text, "orch_run": run_text}


def _error_text(err):
    return str(err) if isinstance(err, (StepError, TimeoutError, ArtifactError, EnvError)) else f"{type(err).__name__}: {err}"
