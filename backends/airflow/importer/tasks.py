"""One Airflow task as one orch step: its kind (Python, Bash, empty, a pod, a branch, a short-circuit) decides
what the step runs; its arguments become `args`, `command`, `env`; fields.py reads what every operator has.

Each kind is a small function in KINDS, found by the operator's classes (a subclass of BashOperator is read as
one); an operator with no entry becomes a step that fails saying so, and is reported unsupported.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from .branch_time import branch_time_step
from .fields import read_common
from .jinja import Context, render
from .values import context_argument, context_mapping, value_of

OUTPUT = "return_value"  # the XCom key Airflow gives a task's return: the name of the step's output too


def step_of(reading, task: dict) -> dict:
    """The step `task` becomes, every field of it recorded in the reading's ledger."""
    step: dict[str, Any] = {}
    kind = kind_of(task)
    at = ("tasks", task["task_id"], "operator")
    KINDS[kind](reading, task, step)
    if kind == "other":
        reading.ledger.unsupported(at, f"{task['class']} ({task['module']}): no orch form for this operator; "
                                       "the step fails saying so")
    else:
        note = KIND_NOTES["context_call" if kind == "python" and "uses" in step else kind]
        reading.ledger.mapped(at, reading.target(task, "python" if "python" in step else "uses" if "uses" in step
                                                   else "command"), note)
    read_common(reading, task, step)
    refused = reading.ledger.entries.get(at)
    why = "which orch cannot run" if refused and refused.status == "unsupported" else "that orch has no field for"
    for key in [*task["kwargs"], *(["expand"] if task["mapped"] else [])]:  # what no reader took: said, not dropped
        if key == "trigger_rule" and task["task_id"] in reading.pending_joins:
            continue  # dag.joins records it
        if not _read(reading.ledger, ("tasks", task["task_id"], key)):
            reading.ledger.unsupported(("tasks", task["task_id"], key), f"an argument of {task['class']}, {why}")
    if task["is_setup"] or task["is_teardown"]:
        reading.ledger.unsupported(("tasks", task["task_id"], "is_setup" if task["is_setup"] else "is_teardown"),
                                   "setup and teardown tasks (cleared together, not counted in the run's state)")
    return step


def _read(ledger, path: tuple) -> bool:
    """Whether an entry covers `path`, or one of the fields inside it."""
    return ledger.covered(path) or any(known[:len(path)] == path for known in ledger.entries)


def kind_of(task: dict) -> str:
    bases, name = set(task["bases"]), task.get("operator_name") or ""
    if "EmptyOperator" in bases:
        return "empty"
    if "ShortCircuitOperator" in bases or name == "@task.short_circuit":
        return "short_circuit"
    if {"BranchDateTimeOperator", "BranchDayOfWeekOperator"} & bases:
        return "branch_time"
    if "BranchPythonOperator" in bases or name == "@task.branch":
        return "branch"
    if name == "@task.bash" or "_BashDecoratedOperator" in bases:
        return "bash_function"
    if "BashOperator" in bases:
        return "bash"
    if "KubernetesPodOperator" in bases:
        return "pod"
    if "TimeDeltaSensor" in bases:
        return "time_delta"
    if {"ExternalPythonOperator", "BranchExternalPythonOperator", "BranchPythonVirtualenvOperator"} & bases:
        return "other"
    if "PythonVirtualenvOperator" in bases:
        return "virtualenv"
    if "PythonOperator" in bases:
        return "python"
    if "LatestOnlyOperator" in bases:
        return "latest_only"
    if "PythonSensor" in bases and senses_at_once(task):
        return "done_sensor"
    if always_skips(task):
        return "skip"
    return "other"


def senses_at_once(task: dict) -> bool:
    """A PythonSensor (or @task.sensor) whose function takes nothing and only returns done: its first poke ends it."""
    from .body import done_at_once, function_node

    function = task.get("callable") or {}
    node = function_node(function) if function else None
    return node is not None and not function.get("parameters") and done_at_once(node)[0] and \
        not task["kwargs"].get("op_args") and not task["kwargs"].get("op_kwargs") and not task["mapped"]


def always_skips(task: dict) -> bool:
    """An operator whose own execute only raises AirflowSkipException: every try Airflow starts ends skipped."""
    from .body import function_node, only_raises_skip

    execute = task.get("execute")
    node = function_node(execute) if execute else None
    return node is not None and only_raises_skip(node)


KIND_NOTES = {"python": "a python step calling the same function",
              "context_call": "a python3 command calling the same function with stand-ins for the Airflow context it "
                              "uses (context_call.py)",
              "bash": "a command step: bash -c with the same text",
              "bash_function": "a command step: bash -c with the text the function returns",
              "time_delta": "a command step sleeping the sensor's delta",
              "empty": "a step running `true`: orch has no step that runs nothing, and `true` only succeeds",
              "pod": "a command step in that image, with its pod settings",
              "branch": "a python step whose output the downstream steps' `when` reads",
              "short_circuit": "a python step whose output the downstream steps' `when` reads",
              "branch_time": "a python3 command (python3 must be where the step runs, as in orch's default image) "
                             "making the operator's comparison when the step starts, as Airflow does when the task "
                             "starts; the steps after it test the task_ids it writes in `when`",
              "virtualenv": "a python step with its requirements as packages, in a virtualenv orch makes",
              "skip": "a step with `when: false`: the operator's execute only raises AirflowSkipException, so "
                      "Airflow skips it whenever its trigger rule lets it start, and orch skips it then",
              "latest_only": "a step running `true`; the steps after it run as they would after an empty task",
              "done_sensor": "a step running `true`: the sensor's function takes nothing and only returns done, so "
                             "Airflow's first poke ends it, successfully, having done nothing else",
              "other": ""}


def python_step(reading, task: dict, step: dict) -> None:
    from .context_call import context_step

    kwargs, path = task["kwargs"], ("tasks", task["task_id"])
    function = task.get("callable") or {}
    if kind_of(task) == "python" and context_step(reading, task, step):
        return
    step["python"] = reading.python_target(task, function)
    generator(reading, task, function)
    asks_context(reading, task, function)
    args = {}
    parameters = [p for p in function.get("parameters", []) if p[1] in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
    for i, value in enumerate(kwargs.get("op_args") or ()):
        if i >= len(parameters):
            reading.ledger.unsupported((*path, "op_args", i), "a positional argument beyond the function's named "
                                                              "parameters: orch passes keyword arguments")
            continue
        args[parameters[i][0]] = value_of(reading, task, value, (*path, "op_args", i))
    for name, value in (kwargs.get("op_kwargs") or {}).items():
        args[name] = value_of(reading, task, value, (*path, "op_kwargs", name))
    empty_args(reading, task)
    if task["mapped"]:
        reading.expand(task, step, args)
    for name, kind, has_default in function.get("parameters", []):
        if name not in args and kind not in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            context_argument(reading, task, name, has_default, args)
        elif kind == "VAR_KEYWORD":
            context_mapping(reading, task, name, args)
    if args:
        step["args"] = args
    if kwargs.get("templates_dict"):
        reading.ledger.unsupported((*path, "templates_dict"), "templates_dict reaches the function through its context")
    if "templates_exts" in kwargs:
        reading.ledger.mapped((*path, "templates_exts"), note="belongs to templates_dict")
    if kwargs.get("multiple_outputs"):
        reading.ledger.mapped((*path, "multiple_outputs"), note="each key read downstream is an output of the step")


def empty_args(reading, task: dict) -> None:
    """op_args and op_kwargs given empty: said, as arguments that pass nothing."""
    for key in ("op_args", "op_kwargs"):
        if key in task["kwargs"] and not task["kwargs"][key]:
            reading.ledger.mapped(("tasks", task["task_id"], key), note="none")


def generator(reading, task: dict, function: dict) -> None:
    """A generator function: Airflow runs it to its end (what it yields is asset metadata); orch's call of it
    returns a generator and runs none of its body."""
    from .body import function_node, only_yields_metadata, yields

    node = function_node(function)
    if node is None or not yields(node):
        return
    at = ("tasks", task["task_id"], "python_callable", "yield")
    if only_yields_metadata(node):
        why = ("a generator yielding only asset metadata: Airflow runs it and attaches the metadata to the asset "
               "events, which orch does not emit; orch's call runs none of its body, which does nothing else")
        reading.ledger.approximated(at, why, reading.target(task, "python"))
        reading.note(task, "python", why)
    else:
        reading.ledger.unsupported(at, "a generator function: Airflow runs it to its end, orch's call returns a "
                                       "generator and runs none of its body")


def asks_context(reading, task: dict, function: dict) -> None:
    """A function calling get_current_context(): in orch's process there is no Airflow task, and the call raises."""
    from .body import context_calls, function_node

    node = function_node(function)
    lines = context_calls(node) if node is not None else []
    if lines:
        reading.ledger.unsupported(("tasks", task["task_id"], "python_callable", "get_current_context"),
                                   f"the function asks Airflow for its context (line {lines[0]}): outside an Airflow "
                                   "task the call raises, failing the step")


def branch_step(reading, task: dict, step: dict) -> None:
    if not constant_choice(reading, task, step, lambda value: json.dumps(value)):
        python_step(reading, task, step)
    reading.branches[task["task_id"]] = "branch"


def short_circuit_step(reading, task: dict, step: dict) -> None:
    if not constant_choice(reading, task, step, lambda value: "true" if value else "false"):
        python_step(reading, task, step)
    reading.branches[task["task_id"]] = "short_circuit"
    if "ignore_downstream_trigger_rules" in task["kwargs"]:
        reading.ledger.mapped(("tasks", task["task_id"], "ignore_downstream_trigger_rules"),
                              note="False: only the direct downstream steps' `when` reads the output")


def constant_choice(reading, task: dict, step: dict, written) -> bool:
    """A branch or short-circuit whose callable is `lambda: <constant>` (a lambda has no module:function name): a
    command step writing what its output reads, `written(constant)` -- the task_id(s) as JSON, or the constant's
    truth, as Airflow takes it. False for any other callable."""
    from .body import constant_lambda

    function, path = task.get("callable") or {}, ("tasks", task["task_id"])
    found, value = constant_lambda(function)
    if not found or task["kwargs"].get("op_args") or task["kwargs"].get("op_kwargs") or task["mapped"]:
        return False
    step["command"] = ["sh", "-c", f'printf %s {shlex.quote(written(value))} > "$ORCH_OUTPUTS/{OUTPUT}"']
    reading.ledger.mapped((*path, "python_callable"), reading.target(task, "command"),
                          f"lambda: {value!r} -- a command writing {written(value)}, what the steps after it test")
    empty_args(reading, task)
    return True


def bash_step(reading, task: dict, step: dict) -> None:
    kwargs, path = task["kwargs"], ("tasks", task["task_id"])
    command = kwargs.get("bash_command")
    if task["mapped"] and "bash_command" in (task.get("expand") or {}).get("value", {}):
        step["command"] = ["bash", "-c", "${{ item }}"]
        reading.expand(task, step, {})
    elif isinstance(command, str):
        if command.rstrip().endswith((".sh", ".bash")):
            reading.ledger.unsupported((*path, "bash_command"), "a script file Airflow reads as a Jinja template")
        step["command"] = ["bash", "-c", templated(reading, task, command, (*path, "bash_command"))]
    else:
        step["command"] = ["bash", "-c", str(value_of(reading, task, command, (*path, "bash_command")))]
    env = kwargs.get("env")
    if env:
        step["env"] = {name: str(templated(reading, task, str(value), (*path, "env", name))) for name, value in env.items()}
        if not kwargs.get("append_env"):
            reading.ledger.approximated((*path, "env"), "Airflow runs the command with only these variables; "
                                                        "orch adds them to the step's environment")
    if "append_env" in kwargs:
        reading.ledger.mapped((*path, "append_env"), note="orch always adds env to the environment")
    for key, why in (("cwd", "orch runs the command in the step's working folder"),
                     ("output_encoding", "orch reads outputs as UTF-8")):
        if kwargs.get(key) is not None:
            reading.ledger.unsupported((*path, key), why)
    skip_exit(reading, task, command if isinstance(command, str) else "")
    if "multiple_outputs" in kwargs:
        reading.ledger.mapped((*path, "multiple_outputs"), note="a command's output is its stdout's last line")
    if kwargs.get("output_processor") is not None:
        reading.ledger.unsupported((*path, "output_processor"), "a function Airflow applies to the output")
    reading.bash[task["task_id"]] = True


EXIT = re.compile(r"\bexit\s+(\d+)")


def skip_exit(reading, task: dict, command: str) -> None:
    """BashOperator's skip_on_exit_code (99 unless set): Airflow skips the task on that exit, orch fails the step.
    The same run unless the command exits so; one that says `exit 99` in its text is refused."""
    at = ("tasks", task["task_id"], "skip_on_exit_code")
    codes = task["kwargs"].get("skip_on_exit_code", 99)
    codes = set() if codes is None else {codes} if isinstance(codes, int) else set(codes)
    if not codes:
        reading.ledger.mapped(at, note="off: a non-zero exit fails the task, as in orch")
        return
    written = sorted(int(code) for code in EXIT.findall(command) if int(code) in codes)
    if written:
        reading.ledger.unsupported(at, f"the command exits {written[0]}: Airflow skips the task then, orch fails the "
                                       "step")
        return
    reading.ledger.approximated(at, f"Airflow skips the task when bash exits {', '.join(map(str, sorted(codes)))}; "
                                    "orch fails the step on any non-zero exit")


def bash_function_step(reading, task: dict, step: dict) -> None:
    """@task.bash: the function returns the command, which Airflow then renders as a bash_command. A function with
    no parameters whose body is one `return "<text>"` is that BashOperator exactly; any other is refused."""
    from .body import constant_return, function_node

    function = task.get("callable") or {}
    node = function_node(function)
    command = constant_return(node) if node is not None and not function.get("parameters") else None
    path = ("tasks", task["task_id"])
    if not command or not command.strip():
        other_step(reading, task, step)
        reading.ledger.unsupported((*path, "operator"), "@task.bash whose command is not one constant text the "
                                                         "function returns: orch would have to run the function")
        return
    bash_step(reading, {**task, "kwargs": {**task["kwargs"], "bash_command": command}}, step)
    reading.ledger.mapped((*path, "bash_command"), reading.target(task, "command"), "the function's constant return")
    empty_args(reading, task)


SENSOR_TIMEOUT = 7 * 24 * 3600  # [sensors] default_timeout (sdk bases/sensor.py)
HOW_IT_WAITS = ("deferrable", "poke_interval", "mode", "exponential_backoff", "max_wait", "end_from_trigger")


def time_delta_step(reading, task: dict, step: dict) -> None:
    """TimeDeltaSensor (sensors/time_delta.py): succeeds once `delta` has passed since the run's data interval end
    (its run_after where it has none) -- a wait that ends the same way as a step sleeping `delta`, at another time.
    Refused where its own timeout (7 days unless set) would fail it first, or soft_fail would skip it."""
    kwargs, path = task["kwargs"], ("tasks", task["task_id"])
    delta = kwargs.get("delta")
    seconds = delta["seconds"] if isinstance(delta, dict) and delta.get("__kind__") == "timedelta" else \
        delta * 60 if isinstance(delta, int) and not isinstance(delta, bool) else None
    step["command"] = ["sleep", f"{seconds:g}" if seconds is not None else "0"]
    timeout = kwargs.get("timeout")
    timeout = timeout["seconds"] if isinstance(timeout, dict) else timeout if timeout is not None else SENSOR_TIMEOUT
    if seconds is None or seconds < 0:
        reading.ledger.unsupported((*path, "delta"), "a wait orch cannot read as a number of seconds")
    elif seconds >= timeout:
        reading.ledger.unsupported((*path, "delta"), f"Airflow's sensor times out after {timeout:g} s, before the "
                                                     "wait ends: it fails where orch's sleep succeeds")
    else:
        why = (f"Airflow waits until {seconds:g} s after the run's data interval end (its run_after where it has "
               "none), not at all once that has passed, seeing it at its next poke unless deferrable; orch's step "
               f"sleeps {seconds:g} s from its own start: it ends the same way, at another time")
        reading.ledger.approximated((*path, "delta"), why, reading.target(task, "command"))
        reading.note(task, "command", why)
    if "timeout" in kwargs:
        reading.ledger.mapped((*path, "timeout"), note="longer than the wait: it never fires")
    for key in ("soft_fail", "never_fail", "silent_fail"):
        if kwargs.get(key):
            reading.ledger.unsupported((*path, key), "Airflow skips or passes a failed sensor; orch fails the step")
        elif key in kwargs:
            reading.ledger.mapped((*path, key), note="off")
    for key in HOW_IT_WAITS:
        if key in kwargs:
            reading.ledger.mapped((*path, key), note="how Airflow waits (a worker slot or the triggerer), not whether")


def empty_step(reading, task: dict, step: dict) -> None:
    step["command"] = ["true"]


def skip_step(reading, task: dict, step: dict) -> None:
    step["command"] = ["true"]
    step["when"] = False


def done_sensor_step(reading, task: dict, step: dict) -> None:
    """A sensor done at its first poke (sdk bases/sensor.py `execute`): how and how long it would wait never
    matters. Its XCom (the PokeReturnValue's xcom_value) is refused where another task reads it."""
    step["command"] = ["true"]
    path = ("tasks", task["task_id"])
    empty_args(reading, task)
    for key in (*HOW_IT_WAITS, "timeout", "soft_fail", "never_fail", "silent_fail"):
        if key in task["kwargs"]:
            reading.ledger.mapped((*path, key), note="never reached: the first poke is done")
    readers = [t["task_id"] for t in reading.dag["tasks"] if _pulls(t, task["task_id"])]
    if readers:
        reading.ledger.unsupported((*path, "operator"), f"{', '.join(readers)} read the sensor's XCom, which the "
                                                        "step running `true` does not write")


def _pulls(task: dict, source: str) -> bool:
    """Whether `task`'s arguments hold an XComArg of `source`."""
    def walk(value) -> bool:
        if isinstance(value, dict):
            return (value.get("__kind__") == "xcom" and value.get("task_id") == source) or any(map(walk, value.values()))
        return isinstance(value, list) and any(map(walk, value))
    return walk(task["kwargs"]) or walk((task.get("expand") or {}).get("value"))


def latest_only_step(reading, task: dict, step: dict) -> None:
    """LatestOnlyOperator (operators/latest_only.py): it follows every direct downstream task in a manual run, and
    in any run whose timetable has no next run; else only while `now` is in (the end of the data interval before the
    run's, the end of the one after it] -- for a cron or timedelta trigger schedule, (the run's logical date, the
    next tick]. orch has no run kind and no `now` in a condition: its steps after it always run."""
    step["command"] = ["true"]
    table = reading.dag["timetable"]["type"]
    at = ("tasks", task["task_id"], "operator")
    if table in NO_NEXT_RUN:
        reading.ledger.mapped(at, reading.target(task, "command"), "the DAG has no next run: Airflow follows every "
                                                                   "direct downstream task in each run, as orch does")
        return
    window = ("after the next schedule tick after the run's logical date" if table in TRIGGER_TIMETABLES else
              "outside the window from the end of the data interval before the run's to the end of the one after it")
    why = (f"Airflow skips its direct downstream tasks in a run that is not manual (scheduled, backfilled, "
           f"asset-triggered) when this task starts {window}: a catch-up, backfill or late run; orch runs them in "
           "every run (orch has no run kind, and a condition cannot read the time)")
    reading.ledger.approximated(at, why, reading.target(task, "command"))
    reading.note(task, "command", why)


TRIGGER_TIMETABLES = ("CronTriggerTimetable", "DeltaTriggerTimetable")
NO_NEXT_RUN = ("NullTimetable", "OnceTimetable", "AssetTriggeredTimetable", "PartitionedAssetTimetable",
               "PartitionedAtRuntime")  # next_dagrun_info after a run is None (timetables/simple.py)


def pod_step(reading, task: dict, step: dict) -> None:
    from .pod import read_pod

    read_pod(reading, task, step)


def virtualenv_step(reading, task: dict, step: dict) -> None:
    """A PythonVirtualenvOperator: a python step with `packages` (orch builds a virtualenv per set, as Airflow does)."""
    python_step(reading, task, step)
    kwargs, path = task["kwargs"], ("tasks", task["task_id"])
    requirements = kwargs.get("requirements")
    if isinstance(requirements, str):
        requirements = [line.strip() for line in requirements.splitlines() if line.strip()]
    if requirements:
        step["packages"] = [str(r) for r in requirements]
    if "requirements" in kwargs:
        reading.ledger.mapped((*path, "requirements"), reading.target(task, "packages"))
    if kwargs.get("system_site_packages", True) is False:
        reading.ledger.approximated((*path, "system_site_packages"), "orch's virtualenvs always see the interpreter's "
                                                                     "packages", reading.target(task, "packages"))
    elif "system_site_packages" in kwargs:
        reading.ledger.mapped((*path, "system_site_packages"), note="orch's virtualenvs see the interpreter's packages")
    if "venv_cache_path" in kwargs:
        reading.ledger.mapped((*path, "venv_cache_path"), note="orch keeps each package set's virtualenv in its cache")
    for key, why in (("python_version", "orch's virtualenv uses the interpreter running the step"),
                     ("pip_install_options", "pip options: orch reads them from the environment (PIP_*)"),
                     ("index_urls", "package indexes: orch reads them from the environment (PIP_INDEX_URL)")):
        if kwargs.get(key):
            reading.ledger.unsupported((*path, key), why)
    if "serializer" in kwargs:
        reading.ledger.approximated((*path, "serializer"), "orch passes arguments and the return value as JSON")


def other_step(reading, task: dict, step: dict) -> None:
    text = f"orch import: the Airflow operator {task['class']} has no orch form"
    step["command"] = ["sh", "-c", f"echo '{text}' >&2; exit 1"]



def templated(reading, task: dict, text: str, at: tuple) -> str:
    """`text` with its Jinja tags as orch references, each difference recorded at `at`."""
    found = render(text, Context(reading.dag["dag_id"], task["task_id"], reading.param_types,
                                 lambda source, key: reading.xcom_reference(task, source, key),
                                 shell=at[-1] == "bash_command", declare=reading.declare_param))
    for upstream in found.reads:
        reading.reads.setdefault(task["task_id"], set()).add(upstream)
    unsupported, approximations, mapped = ("; ".join(dict.fromkeys(notes)) for notes in  # each said once
                                           (found.unsupported, found.approximations, found.mapped))
    if unsupported:
        reading.ledger.unsupported(at, unsupported)
    elif approximations:
        reading.ledger.approximated(at, approximations, reading.target(task, ""))
        reading.note(task, "command" if "bash" in at[2] else "env", approximations)
    else:
        reading.ledger.mapped(at, reading.target(task, ""), mapped)
    return found.text


KINDS = {"python": python_step, "branch": branch_step, "short_circuit": short_circuit_step, "bash": bash_step,
         "bash_function": bash_function_step, "time_delta": time_delta_step, "empty": empty_step,
         "branch_time": branch_time_step, "skip": skip_step, "latest_only": latest_only_step,
         "done_sensor": done_sensor_step, "virtualenv": virtualenv_step, "pod": pod_step, "other": other_step}
