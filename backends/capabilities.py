"""What each backend can express: one table, read by `check` (before `orch render`) and by the
support matrix (`orch backends --matrix`, docs/backends.md), so the two cannot disagree.

A feature names where a pipeline uses it (field paths, located by the spec's source) and, per
backend, whether it maps exactly, approximately (saying what differs) or not at all (with the
error code the renderer raises). Refusals carry the renderers' own codes and messages, so a
render refused here reads the same as one refused by the renderer (Airflow's pod target asks this
table itself). Nothing here imports an
engine, nor networkx: it runs before every render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from orch.core import groups
from orch.core.artifacts import artifacts_read, params_read, ships_code
from orch.core.errors import Diagnostic
from orch.core.graph import PipelineGraph
from orch.core.groups import NestedSource
from orch.core.typed import to_text

EXACT, APPROXIMATED, REFUSED = "exact", "approximated", "refused"
# Columns of the matrix. Airflow's `--target kubernetes` renders steps with an image as pods;
# its column says only where that differs from Airflow's python tasks.
COLUMNS = ("local", "argo", "prefect", "airflow", "airflow/kubernetes")
HEADINGS = {"airflow/kubernetes": "airflow --target kubernetes"}

ARGO_MAX_TASKS = 200  # tasks per DAG in Argo's full CRDs (as backends/argo/render.py)
ARGO_MAX_STEPS = (ARGO_MAX_TASKS - 1) ** 2  # 199 chunk DAGs of 199 steps and their closing task (gates count too)
INT32 = 2**31 - 1  # Argo reads a retry factor into a 32-bit IntOrString (as backends/argo/templates.py)


@dataclass(frozen=True)
class Support:
    """How one backend expresses a feature. `message` (formatted with a use's values) is the
    diagnostic's text; `note` is the matrix's, without a use's values."""

    level: str = EXACT
    note: str = ""
    code: str | None = None  # a refusal's error code
    message: str | None = None
    hint: str | None = None

    def text(self, values: dict) -> str:
        """The message, with a use's values where it names them (one without values is taken as written)."""
        text = self.message or self.note
        return text.format(**values) if values else text


def approx(note: str) -> Support:
    return Support(APPROXIMATED, note)


def refused(code: str, message: str, note: str | None = None, hint: str | None = None) -> Support:
    return Support(REFUSED, note or message, code, message, hint)


@dataclass(frozen=True)
class Use:
    """Where a pipeline uses a feature: a field path, values for the message, an offset into a string."""

    path: tuple
    values: dict = field(default_factory=dict)
    offset: int | None = None


@dataclass(frozen=True)
class Feature:
    """A row of the table. `uses` is None where only the renderer can tell (a manifest's size)."""

    id: str
    title: str
    code: str  # the warning code of its approximations
    uses: Callable[[PipelineGraph], Iterable[Use]] | None = None
    support: dict[str, Support] = field(default_factory=dict)  # a column left out is exact

    def on(self, column: str) -> Support:
        if column in self.support:
            return self.support[column]
        if column == "airflow/kubernetes":  # the pod target is Airflow's, unless said otherwise
            return self.on("airflow")
        return Support()


@dataclass
class Report:
    """Every gap of a pipeline on one backend, located: what will be refused and what approximated."""

    refused: list[Diagnostic] = field(default_factory=list)
    approximated: list[Diagnostic] = field(default_factory=list)


# ---- where a pipeline uses a feature --------------------------------------------------------

def each_step(graph: PipelineGraph) -> Iterator[tuple[str, str, object]]:
    """(section, name, step) for every step, then every finally step: where a use of each is located."""
    yield from (("steps", name, step) for name, step in graph.pipeline.steps.items())
    yield from (("finally", name, step) for name, step in graph.pipeline.finally_.items())


def _steps(test: Callable, *tail: str) -> Callable[[PipelineGraph], Iterator[Use]]:
    """Uses at steps.NAME.<tail> for every step passing `test(step)`."""
    def uses(graph: PipelineGraph) -> Iterator[Use]:
        for section, name, step in each_step(graph):
            if test(step):
                yield Use((section, name, *tail))
    return uses


def _pipeline(test: Callable, *path: str, **values: Callable) -> Callable[[PipelineGraph], Iterator[Use]]:
    def uses(graph: PipelineGraph) -> Iterator[Use]:
        pipeline = graph.pipeline
        if test(pipeline):
            yield Use(path, {key: value(pipeline) for key, value in values.items()})
    return uses


NESTED_MAPPED = "and Airflow 3 maps no task group inside one (\"Nested Mapped TaskGroups are not yet supported\")"
MAPPED_IN_MAPPED = "and a fan-out step (a task mapped over items a task inside makes) inside one is not rendered yet"
PLAIN_IN_MAPPED = "and a group (its gate and end tasks, unmapped) inside one is not rendered yet"


def _in_fan_out_group(graph: PipelineGraph) -> Iterator[Use]:
    """A group or a fan-out step directly or deeper inside a fan-out group."""
    pipeline = graph.pipeline
    for name in groups.order(pipeline):
        outer = groups.fan_out_groups(pipeline, name)
        if not outer:
            continue
        if name in pipeline.groups and pipeline.groups[name].foreach is not None:
            yield Use(("groups", name), {"what": f"the fan-out group {name!r}", "group": outer[-1], "why": NESTED_MAPPED})
        elif name in pipeline.groups:
            yield Use(("groups", name), {"what": f"the group {name!r}", "group": outer[-1], "why": PLAIN_IN_MAPPED})
        elif pipeline.steps[name].foreach is not None:
            yield Use(("steps", name, "foreach"), {"what": f"the fan-out step {name!r}", "group": outer[-1],
                                                   "why": MAPPED_IN_MAPPED})


def _fractional_factor(graph: PipelineGraph) -> Iterator[Use]:
    for section, name, step in each_step(graph):
        if step.retries and step.retries.factor != int(step.retries.factor):
            yield Use((section, name, "retries", "factor"), {"factor": step.retries.factor})


def _subsecond_timeout(graph: PipelineGraph) -> Iterator[Use]:
    for section, name, step in each_step(graph):
        if step.timeout is not None and step.timeout != int(step.timeout):
            yield Use((section, name, "timeout"), {"timeout": step.timeout})


WORKER_FOLDER = ("each worker stores artifacts in a folder on its own disk ($ORCH_HOME/artifacts) unless $ORCH_ARTIFACTS "
                 "names a store: workers on several machines need one they share (artifacts: {store: s3://...})")


def _default_store(graph: PipelineGraph) -> Iterator[Use]:
    """Said once, at the first artifact output."""
    pipeline = graph.pipeline
    if pipeline.artifacts is None:
        yield from [Use((section, name, "outputs", o)) for section, name, step in each_step(graph)
                    for o, kind in step.outputs.items() if kind == "artifact"][:1]


POD_ARTIFACTS = "an artifact cannot pass through a pod on --target kubernetes yet: the pod has no way to the store"
POD_ARTIFACTS_HINT = "render it without --target (the step runs in its task, which moves the artifact), or drop its image"


def _pod_artifacts(graph: PipelineGraph) -> Iterator[Use]:
    for section, name, step in each_step(graph):
        if step.image:
            named = {"step": name}  # (an image from `defaults` is located there: the message names the step)
            yield from (Use((section, name, "outputs", o), named) for o, kind in step.outputs.items() if kind == "artifact")
            if artifacts_read(graph.pipeline, step) or params_read(graph.pipeline, step):
                yield Use((section, name, "image"), named)


def _artifact_params(graph: PipelineGraph) -> Iterator[Use]:
    for name, param in graph.pipeline.params.items():
        if param.type == "artifact":
            yield Use(("params", name), {"param": name})


POD_SETTINGS = ("node_selector", "tolerations", "service_account", "image_pull_policy", "volumes", "limits", "labels",
                "annotations")


def _kubernetes_settings(*settings: str) -> Callable[[PipelineGraph], Iterator[Use]]:
    def uses(graph: PipelineGraph) -> Iterator[Use]:
        defaults = graph.pipeline.defaults.kubernetes
        for section, name, step in each_step(graph):
            for setting in settings:
                value = getattr(step.kubernetes, setting) if step.kubernetes else None
                if value:  # a default's, once, where it is written
                    inherited = value == getattr(defaults, setting, None)
                    yield Use(("defaults", "kubernetes", setting) if inherited else (section, name, "kubernetes", setting))
    return uses


def _secrets(plain_only: bool) -> Callable[[PipelineGraph], Iterator[Use]]:
    """Each secret a step reads (`plain_only`: of a command step with an image that runs without orch's runner)."""
    def uses(graph: PipelineGraph) -> Iterator[Use]:
        ships = ships_code(graph.pipeline)
        for section, name, step in each_step(graph):
            if plain_only and not (step.command and step.image and not ships and not step.packages):
                continue
            yield from (Use((section, name, "env", var)) for var in step.secrets)
    return uses


def _own_pod_settings(graph: PipelineGraph) -> Iterator[Use]:
    """A step's pod settings that differ from the defaults' (what one pod per flow run cannot give a step)."""
    defaults = graph.pipeline.defaults.kubernetes
    for section, name, step in each_step(graph):
        for setting in type(step.kubernetes).model_fields if step.kubernetes else ():
            own = getattr(step.kubernetes, setting)
            if own not in (None, [], {}) and own != getattr(defaults, setting, None):
                yield Use((section, name, "kubernetes", setting), {"step": name, "setting": setting})


def _job_owned_patch(graph: PipelineGraph) -> Iterator[Use]:
    patch = graph.pipeline.defaults.kubernetes.pod_spec_patch if graph.pipeline.defaults.kubernetes else None
    yield from (Use(("defaults", "kubernetes", "pod_spec_patch", f)) for f in ("containers", "restartPolicy") if f in (patch or {}))


def _shipped_commands(graph: PipelineGraph) -> Iterator[Use]:
    """Command steps with an image, in a pipeline that ships its code."""
    if ships_code(graph.pipeline):
        yield from (Use((section, name, "command")) for section, name, s in each_step(graph) if s.command and s.image)


def _finally_reads(graph: PipelineGraph) -> Iterator[Use]:
    """A finally step's reference to a fan-out's output or a stdout output, once per (reader, output)."""
    steps, seen = graph.pipeline.steps, set()
    for edge in graph.final_edges:
        producer = steps.get(edge.upstream)
        key = (edge.downstream, edge.upstream, edge.output)
        if producer is None or edge.output is None or key in seen:
            continue
        if producer.foreach is not None or producer.stdout_output == edge.output:
            seen.add(key)
            yield Use(edge.path, {"step": edge.downstream, "output": f"{edge.upstream}.{edge.output}"}, edge.offset)


def _skipped_after_failure(graph: PipelineGraph) -> Iterator[Use]:
    """Judged by its leaves, a step or group that may end skipped (its `when`, an empty fan-out) although it runs
    after a failure (all_done, any_failed)."""
    pipeline = graph.pipeline
    if pipeline.state_from != "leaves" or len(pipeline.steps) > ARGO_MAX_TASKS - 1:
        return
    for kind, nodes in (("step", pipeline.steps), ("group", pipeline.groups)):
        for name, node in nodes.items():
            if node.trigger in ("all_done", "any_failed") and (node.when is not None or node.foreach is not None):
                yield Use(("steps", name), {"name": name, "kind": kind, "trigger": node.trigger,
                                            "by": "when" if node.when is not None else "foreach"})


def _default_braces(graph: PipelineGraph) -> Iterator[Use]:
    for name, param in graph.pipeline.params.items():
        if param.default is not None and "{{" in to_text(param.default):
            yield Use(("params", name, "default"))


def _text_reads(test: Callable) -> Callable[[PipelineGraph], Iterator[Use]]:
    """References in a command step's argv or env to an output for which `test(producer, output)` holds."""
    def uses(graph: PipelineGraph) -> Iterator[Use]:
        steps = graph.pipeline.steps
        for edge in graph.edges:
            consumer, producer = steps.get(edge.downstream), steps.get(edge.upstream)
            if edge.output is None or consumer is None or producer is None or consumer.command is None:
                continue
            if _field(edge.path) in ("command", "env") and test(producer, edge.output):
                yield Use(edge.path, {"step": edge.upstream, "output": edge.output}, edge.offset)
    return uses


def _field(path: tuple) -> str | None:
    """The step field a path is in: steps.S.FIELD..., or defaults.FIELD... (a default's env)."""
    if path[:1] == ("steps",):
        return path[2] if len(path) > 2 else None
    return path[1] if path[:1] == ("defaults",) and len(path) > 1 else None


def _argo_shared_commands(graph: PipelineGraph) -> Iterator[Use]:
    """Said once, at `steps`: command steps share Argo's runner templates when the pipeline is past a template each."""
    from orch.backends.argo.render import inline_mode  # asked only when checking Argo; it imports no engine

    if any(step.command is not None for step in graph.pipeline.steps.values()) and not inline_mode(graph):
        yield Use(("steps",))


def _argo_runtime_command_fan_outs(graph: PipelineGraph) -> Iterator[Use]:
    """Command fan-outs whose items Argo must pick at run time (a reference in the list), with a template each."""
    from orch.backends.argo.inline import plain_items  # asked only when checking Argo; it imports no engine
    from orch.backends.argo.render import inline_mode

    if inline_mode(graph):  # past it, W862 says it of every command step
        for section, name, step in each_step(graph):
            if step.command is not None and step.foreach is not None and plain_items(step) is None:
                yield Use((section, name, "foreach"))


def _argo_command_artifact_lists(graph: PipelineGraph) -> Iterator[Use]:
    from orch.backends.argo.artifacts import reads_list  # asked only when checking Argo; it imports no engine

    for section, name, step in each_step(graph):
        if step.command is not None and reads_list(graph.pipeline, step):
            yield Use((section, name, "command"))


def _argo_runner_stdout(graph: PipelineGraph) -> Iterator[Use]:
    """Stdout outputs of command steps that Argo runs through orch's runner (W861, W862)."""
    from orch.backends.argo.inline import plain_items
    from orch.backends.argo.render import inline_mode

    inline = inline_mode(graph)
    for section, name, step in each_step(graph):
        if step.stdout_output and (not inline or (step.foreach is not None and plain_items(step) is None)):
            yield Use((section, name, "outputs", step.stdout_output, "from"), {"output": step.stdout_output})


def _stdout_outputs(graph: PipelineGraph) -> Iterator[Use]:
    for section, name, step in each_step(graph):
        output = step.stdout_output
        if output is not None:
            yield Use((section, name, "outputs", output))


# ---- the table ------------------------------------------------------------------------------

IGNORED_HERE = "ignored: steps run on this machine"
PREFECT_POD = Support(EXACT, "from `defaults`: the Kubernetes work pool's job variables (prefect.yaml): a flow run is one pod")
RUNNER_PYTHON = "the pod runs orch's runner (python3 -c), which fetches the code and makes the packages' env, so the image needs python3"
IGNORED_TASK = "ignored: a task runs where the worker runs (pods: --target kubernetes with an image)"
LOCAL_SCHEDULE = "not applied: `orch run` runs once, now"

FEATURES: tuple[Feature, ...] = (
    Feature("steps", "`python` and `command` steps, `args`, `env`", "W830"),
    Feature("params", "`params` and their types", "W831"),
    Feature("param-default-braces", "a param default holding `{{`", "W832", _default_braces, {
        "argo": refused("E807", "Argo would read '{{' in a param's default as a tag"),
    }),
    Feature("outputs", "`outputs` (string, integer, number, boolean, json)", "W833"),
    Feature("stdout-output", "an output read `from: stdout`", "W834", _stdout_outputs),
    Feature("runner-stdout-output", "an output read `from: stdout` by a step that runs through orch's runner", "W865",
            lambda graph: _argo_runner_stdout(graph), {
        "argo": refused("E825", "output {output!r} is read from stdout, but this step runs through orch's runner on Argo "
                                "(a fan-out over a run-time list, or a pipeline past 190 templates), which reads outputs from files only",
                        note="a step that runs through orch's runner (W861, W862) reads outputs from files only",
                        hint="write it to $ORCH_OUTPUTS/NAME (from: file)"),
    }),
    Feature("command-reads-number", "a command step reading a `number` or `json` output of a command step", "W835",
            _text_reads(lambda producer, output: producer.command is not None and producer.foreach is None
                        and producer.outputs.get(output) in ("number", "json")), {
        "argo": approx("the command gets the text as that step wrote it (the others write the parsed value again: `1.50` arrives as `1.5`)"),
    }),
    Feature("command-reads-fan-out", "a command step reading a fan-out's output list as text", "W836",
            _text_reads(lambda producer, output: producer.foreach is not None and producer.outputs.get(output) != "artifact"), {
        "argo": refused("E823", "Argo holds a fan-out's outputs as a list the pod cannot write as text: "
                                "steps.{step}.outputs.{output} cannot be read by a command",
                        note="Argo cannot hand a fan-out's output list to a command as text",
                        hint="read the list in a python step, or fan out the command too"),
    }),
    Feature("after-when-trigger", "`after`, `when`, `trigger`", "W837"),
    Feature("retries", "`retries` (limit, delay, factor, max_delay)", "W838"),
    Feature("retry-fractional-factor", "a fractional retry factor", "W839", _fractional_factor, {
        "argo": refused("E801", "Argo parses a retry backoff factor as an integer; {factor!r} cannot be rendered",
                        note="Argo parses the backoff factor as an integer", hint="use a whole factor such as 2"),
    }),
    Feature("retry-wide-factor", "a retry factor over 2^31-1", "W840",
            _steps(lambda s: s.retries is not None and s.retries.factor > INT32, "retries", "factor"), {
        "argo": refused("E821", f"more than Argo reads as a retry factor (a 32-bit integer, at most {INT32})"),
    }),
    Feature("timeout", "a step's `timeout`", "W841"),
    Feature("subsecond-timeout", "a step timeout of a fraction of a second", "W842", _subsecond_timeout, {
        "argo": refused("E802", "Argo bounds an attempt in whole seconds (activeDeadlineSeconds); {timeout:g}s cannot be rendered",
                        note="Argo bounds an attempt in whole seconds"),
    }),
    Feature("resources", "`resources` (cpu, memory, gpu)", "W843",
            _steps(lambda s: s.resources is not None and any((s.resources.cpu, s.resources.memory, s.resources.gpu)),
                   "resources"), {
        "prefect": approx("task tags (`cpu:2`, `gpu:1`, `memory:4Gi`): only tag concurrency limits you create bound them"),
        "airflow": approx(IGNORED_TASK),
        "airflow/kubernetes": Support(),
    }),
    Feature("image", "`image`", "W844", _steps(lambda s: s.image is not None and "${{" not in s.image, "image"), {
        "local": approx(IGNORED_HERE),
        "prefect": approx("a task tag `image:...`: tasks run where the worker runs (the image in `defaults` is also the "
                          "Kubernetes work pool job's, in prefect.yaml)"),
        "airflow": approx(IGNORED_TASK),
        "airflow/kubernetes": Support(),
    }),
    Feature("image-params", "`${{ params.P }}` inside `image`", "W845",
            _steps(lambda s: s.image is not None and "${{" in s.image, "image"), {
        "local": approx(IGNORED_HERE),
        "prefect": approx("a task tag `image:...` holding the reference as written: tasks run where the worker runs"),
        "airflow": approx(IGNORED_TASK),
        "airflow/kubernetes": Support(),
    }),
    Feature("kubernetes", "`kubernetes` (node_selector, tolerations, service_account, image_pull_policy, volumes, limits, "
            "labels, annotations)", "W846", _kubernetes_settings(*POD_SETTINGS), {
        "local": approx(IGNORED_HERE),
        "prefect": PREFECT_POD,
        "airflow": approx(IGNORED_TASK),
        "airflow/kubernetes": Support(),
    }),
    Feature("image-pull-secrets", "`kubernetes.image_pull_secrets`", "W880", _kubernetes_settings("image_pull_secrets"), {
        "local": approx(IGNORED_HERE),
        "argo": approx("Argo has image pull secrets only on the Workflow: every step's pod gets the union of the steps' "
                       "secrets (a pull secret only grants pulls)"),
        "prefect": PREFECT_POD,
        "airflow": approx(IGNORED_TASK),
        "airflow/kubernetes": Support(),
    }),
    Feature("pod-spec-patch", "`kubernetes.pod_spec_patch`", "W870", _kubernetes_settings("pod_spec_patch"), {
        "local": approx(IGNORED_HERE),
        "prefect": PREFECT_POD,
        "airflow": approx(IGNORED_TASK),
        "airflow/kubernetes": approx("merged as the pod's template (`pod_template_dict`), shallowly, not as a strategic merge: "
                                     "a field the operator sets wins whole; volumes and initContainers are added; containers "
                                     "merge by position (the first is the step's); labels and annotations are unioned"),
    }),
    Feature("pod-settings-per-step", "a step's own pod settings, differing from `defaults`'", "W878", _own_pod_settings, {
        "prefect": Support(APPROXIMATED, "a Prefect flow run is one pod for all its tasks: a step's own pod settings cannot "
                                         "apply (prefect.yaml's job variables are `defaults`')",
                           message="a Prefect flow run is one pod for all its tasks: step {step!r} cannot have {setting} "
                                   "of its own (prefect.yaml's job variables are `defaults`')"),
    }),
    Feature("pod-spec-patch-job", "`pod_spec_patch` naming `containers` or `restartPolicy`", "W879", _job_owned_patch, {
        "prefect": refused("E830", "a Prefect Kubernetes work pool's job has one container (prefect-job) and a restart "
                                   "policy of Prefect's own, which its worker checks: a patch cannot set them",
                           hint="set the container's settings through `kubernetes` (volumes, limits) and `resources`"),
    }),
    Feature("volumes-over-orch", "a volume named or mounted over orch's own pod folders (/tmp/orch)", "W871", None, {
        "argo": refused("E829", "a volume named `orch-outputs`, or mounted at /tmp/orch or at or under its outputs, inputs "
                                "or code, would hide what orch's runner and Argo place there (/tmp/orch/cache may be one)"),
    }),
    Feature("secrets", "`env` from a secret (`{secret, key}`)", "W872", _secrets(False), {
        "prefect": Support(EXACT, "a Prefect Secret block per secret (a JSON object holding the keys), read as each attempt "
                                  "starts; orch masks the values in what the step prints (Prefect masks nothing)"),
    }),
    Feature("plain-container-secrets", "a secret of a command step with an image that runs as a plain container "
            "(no shipped code, no packages)", "W873", _secrets(True), {
        "argo": approx("read through a required secretKeyRef: without the Secret or its key Kubernetes does not start the "
                       "container (CreateContainerConfigError naming the Secret) and Argo keeps the step Pending until its "
                       "timeout or the workflow's ends it; what it prints is not masked"),
        "airflow/kubernetes": approx("read through a required secretKeyRef: without the Secret or its key Kubernetes does not "
                                     "start the container, and the task fails after startup_timeout_seconds (120 s) with the "
                                     "provider's 'Pod took too long to start', which does not name the secret; what it prints "
                                     "is not masked"),
    }),
    Feature("packages", "`packages`", "W874", _steps(lambda s: bool(s.packages), "packages")),
    Feature("command-packages", "`packages` on a command step with an image", "W875",
            _steps(lambda s: bool(s.packages and s.command and s.image), "packages"), {
        "argo": approx(RUNNER_PYTHON), "airflow/kubernetes": approx(RUNNER_PYTHON),
    }),
    Feature("code-ship", "`code: {ship: true}`", "W876", _pipeline(ships_code, "code"), {
        "airflow/kubernetes": approx("a pod fetches the code by a URL its task presigns as it starts (valid 6 h): the code "
                                     "must be in an object store (s3://, gs://, …); a folder store fails the task"),
    }),
    Feature("shipped-command", "a command step with an image in a pipeline that ships its code", "W877", _shipped_commands, {
        "argo": approx("a plain container works in the unpacked code (workingDir /tmp/orch/code) with "
                       "PYTHONPATH=/tmp/orch/code, which replaces any PYTHONPATH the image sets"),
        "airflow/kubernetes": approx(RUNNER_PYTHON),
    }),
    Feature("foreach", "`foreach` and `parallelism`", "W847"),
    Feature("parallelism-retries", "`parallelism` on a fan-out whose items retry", "W863",
            _steps(lambda s: s.parallelism is not None and s.retries is not None and s.retries.limit > 0, "parallelism"), {
        "argo": approx("Argo checks the bound when an item starts, not at its retries: an item backing off frees its "
                       "slot, and its next attempt starts without one"),
    }),
    Feature("foreach-image", "`foreach` on a step with an image", "W848",
            lambda graph: (Use((section, name, "foreach"), {"step": name})
                           for section, name, step in each_step(graph) if step.image is not None and step.foreach is not None), {
        "airflow/kubernetes": refused("E812", "step {step!r}: a fan-out with an image cannot be rendered for --target "
                                      "kubernetes yet", note="a fan-out with an image cannot be rendered for --target kubernetes yet",
                                      hint="render it without --target, or drop its image"),
    }),
    Feature("pod-stdout-output", "a command step with an image reading an output from stdout", "W860",
            lambda graph: (Use((section, name, "outputs", step.stdout_output, "from"), {"step": name, "output": step.stdout_output})
                           for section, name, step in each_step(graph) if step.image and step.stdout_output), {
        "airflow/kubernetes": refused("E814", "step {step!r}: output {output!r} is read from stdout, which a pod cannot give "
                                      "on --target kubernetes: its log holds stdout and stderr as one stream",
                                      note="an output read from stdout cannot be given by a pod on --target kubernetes: "
                                           "its log holds stdout and stderr as one stream",
                                      hint="write it to $ORCH_OUTPUTS/{output} instead (from: file), or drop the step's "
                                           "image (it then runs in its task)"),
    }),
    Feature("artifacts-default-store", "artifacts with no `artifacts.store`", "W867",
            lambda graph: _default_store(graph), {
        "prefect": approx(WORKER_FOLDER), "airflow": approx(WORKER_FOLDER),
    }),
    Feature("artifact-params", "an artifact param (`type: artifact`: data fetched by URI)", "W889",
            lambda graph: _artifact_params(graph), {
        "argo": refused("E833", "param {param!r}: an artifact param cannot be rendered for Argo yet: a template's input "
                                "artifact takes a location Argo cannot split out of a URI given at submit",
                        note="an artifact param cannot be rendered for Argo yet (each step's template would need the "
                             "URI as an input artifact's location, passed down from the workflow's arguments)",
                        hint="run it locally, on Prefect or on Airflow; on Argo, produce the data in a first step that "
                             "outputs it as an artifact"),
    }),
    Feature("pod-artifacts", "a step with an image that outputs or reads an artifact", "W866",
            lambda graph: _pod_artifacts(graph), {
        "airflow/kubernetes": refused("E815", "step {step!r}: " + POD_ARTIFACTS, note=POD_ARTIFACTS, hint=POD_ARTIFACTS_HINT),
    }),
    Feature("command-fan-out", "`foreach` on a command step over a list known only at run time, or with artifact outputs",
            "W861", lambda graph: _argo_runtime_command_fan_outs(graph), {
        "argo": approx("each item runs through orch's runner (python3 -c), so the image needs python3: Argo cannot write "
                       "a run-time list's items as orch's text, nor key an item's artifacts by its index (a literal list "
                       "of a step without artifacts needs nothing)"),
    }),
    Feature("command-reads-fan-out-artifacts", "a command step reading a fan-out's artifact list", "W868",
            lambda graph: _argo_command_artifact_lists(graph), {
        "argo": approx("the step runs through orch's runner (python3 -c), which unpacks the items' artifacts and "
                       "writes their list of paths as JSON text, so the image needs python3"),
    }),
    Feature("shared-templates", "command steps in a pipeline too large for a template per step", "W862",
            lambda graph: _argo_shared_commands(graph), {
        "argo": approx("past 190 templates, steps share templates that run orch's runner (python3 -c), "
                       "so a command step's image needs python3"),
    }),
    Feature("templates", "`templates`, `uses`, `with`", "W881"),
    Feature("groups", "groups (`steps:` in a step)", "W883",
            lambda graph: (Use(("groups", name)) for name in list(graph.pipeline.groups)[:1]), {
        "argo": approx("a group is a nested DAG template called by one task; a fan-out group's task loops over its "
                       "items' indexes (`withParam`), throttled in a wrapper DAG with its `parallelism`; not rendered yet, "
                       "and refused when rendering (E832): a fan-out group or fan-out step inside a fan-out group, an "
                       "artifact output inside a fan-out group, a group output naming a fan-out's output, groups "
                       "past 190 steps, a step inside a group reading an artifact from outside it, `run.failed_steps` "
                       "with groups"),
        "airflow/kubernetes": refused("E832", "groups cannot be rendered with pod tasks (--target kubernetes) yet: "
                                      "render them without --target kubernetes, or give no step an image"),
    }),
    Feature("groups-in-fan-out", "a group or a fan-out step inside a fan-out group", "W886", _in_fan_out_group, {
        "airflow": refused("E832", "{what} inside the fan-out group {group!r}: a fan-out group is an Airflow mapped task "
                           "group, {why}; put it beside the group, or make the outer group's items the product of both "
                           "lists", note="a fan-out group is a mapped task group: Airflow 3 maps no task group inside one "
                           "(\"Nested Mapped TaskGroups are not yet supported\"); a fan-out step or a group without "
                           "`foreach` inside one is not rendered yet"),
    }),
    Feature("group-parallelism", "`parallelism` of a fan-out group", "W887",
            lambda graph: (Use(("groups", name, "parallelism")) for name, group in graph.pipeline.groups.items()
                           if group.foreach is not None and group.parallelism), {
        "airflow": approx("each step's task inside the mapped task group has max_active_tis_per_dagrun=N: at most N "
                          "items of each step run at once, not N items as wholes -- while item 0's second step "
                          "runs, item N's first may start (Airflow bounds tasks, not a mapped group's items)"),
    }),
    Feature("finally", "`finally` steps, `run.status`, `run.failed_steps`", "W882",
            _pipeline(lambda p: bool(p.finally_), "finally"), {
        "argo": approx("the exit handler (`onExit`): past the pipeline's timeout Argo retries no failed finally step; "
                       "`run.status` and `run.failed_steps` are Argo's record, where a command step that wrote an output "
                       "of the wrong type succeeded (the RunResult fails it); a finally command step reading a step's "
                       "artifact runs through orch's runner (python3 -c); reading a fan-out's or a stdout output is "
                       "refused (E831)"),
        "airflow/kubernetes": approx("the pipeline's `timeout` stops a pod before it starts, not while it runs: with "
                                     "finally steps the DAG has no dagrun_timeout (a scheduler timing the run out "
                                     "would skip them), and a running pod ends at its own `timeout`"),
    }),
    Feature("finally-reads", "a finally step reading a fan-out's output or a stdout output", "W884", _finally_reads, {
        "argo": refused("E831", "finally step {step!r} reads {output}: Argo's exit handler reads a step's output from the "
                        "global output its template exports; a fan-out's items would overwrite one, and a stdout "
                        "output has none", note="Argo's exit handler reads a step's output from the global output its "
                        "template exports: a fan-out's items would overwrite one, and a stdout output has none",
                        hint="pass it through a step that copies it into a plain output"),
    }),
    Feature("fail-fast", "`fail_fast`", "W849"),
    Feature("leaves", "`state_from: leaves` (judged by its leaves, as Airflow's DAG runs and Argo's DAGs are)", "W890",
            _pipeline(lambda p: p.state_from == "leaves", "state_from")),
    Feature("leaves-nested", f"`state_from: leaves` with more than {ARGO_MAX_TASKS - 1} steps", "W891",
            _pipeline(lambda p: p.state_from == "leaves" and len(p.steps) > ARGO_MAX_TASKS - 1, "state_from"), {
        "argo": refused("E834", "state_from: leaves with more steps than one Argo DAG holds is not supported: each "
                                "nested DAG reports whether any of its steps failed",
                        note="each nested DAG reports whether any of its steps failed"),
    }),
    Feature("leaves-skipped", "judged by its leaves, a step or group that may be skipped after a failure "
                              "(`all_done`/`any_failed` with `when` or `foreach`)", "W892", _skipped_after_failure, {
        "argo": refused("E834", "{name}: judged by its leaves (state_from: leaves), a {kind} that may be skipped after "
                                "a failure ({trigger}, with {by}) would fail Argo's DAG: a Skipped task takes its "
                                "branch's phase, the failure's",
                        note="Argo gives a Skipped task its branch's phase (dag.go assessDAGPhase: Skipped is not "
                             "Completed), so a skipped leaf after a failure, or one after it, fails the DAG",
                        hint="drop its when, or give it the default trigger"),
    }),
    Feature("fail-fast-nested", f"`fail_fast` with more than {ARGO_MAX_TASKS - 1} steps", "W850",
            _pipeline(lambda p: p.fail_fast and len(p.steps) > ARGO_MAX_TASKS - 1, "fail_fast"), {
        "argo": refused("E811", "fail_fast with more steps than one Argo DAG holds is not supported: "
                                "the nested DAGs keep running to pass on their steps' statuses",
                        note="the nested DAGs keep running to pass on their steps' statuses"),
    }),
    Feature("many-steps", f"more than {ARGO_MAX_STEPS:,} steps", "W851",
            _pipeline(lambda p: len(p.steps) > ARGO_MAX_STEPS, "steps", count=lambda p: len(p.steps)), {
        "argo": refused("E804", f"{{count}} steps: at most {ARGO_MAX_STEPS} fit in {ARGO_MAX_TASKS - 1} nested DAGs "
                                f"of {ARGO_MAX_TASKS - 1} steps", note=f"at most {ARGO_MAX_TASKS - 1} nested DAGs of "
                                f"{ARGO_MAX_TASKS - 1} steps and gates (the renderer counts the gates)"),
    }),
    Feature("manifest-size", "a Kubernetes object over 1 MB", "W852", None, {
        "argo": refused("E806", "Kubernetes stores objects up to 1 MB", note="Kubernetes stores objects up to 1 MB "
                        "(a large pipeline's chunks move to WorkflowTemplates; one over 1 MB is refused when rendered)"),
    }),
    Feature("template-count", "a Workflow of more than 200 templates (steps that pass artifacts have one each)", "W869",
            None, {
        "argo": refused("E827", "Argo's full CRDs hold at most 200 templates in a Workflow",
                        note="at most 200 templates in a Workflow: past 190 steps, steps share templates, but one that "
                             "passes artifacts keeps its own (its keys name it); said when rendering"),
    }),
    Feature("template-inputs", "a step handing Argo more than 500 values (upstream outputs, ...)", "W864", None, {
        "argo": refused("E824", "a template holds at most 500 input parameters",
                        note="a template holds at most 500 input parameters (said when rendering: one per output a step reads, and per param past 190 templates)"),
    }),
    Feature("pipeline-timeout", "the pipeline's `timeout`", "W853"),
    Feature("pipeline-subsecond-timeout", "a pipeline timeout of a fraction of a second", "W854",
            _pipeline(lambda p: p.timeout is not None and p.timeout != int(p.timeout), "timeout"), {
        "argo": refused("E802", "Argo bounds a workflow in whole seconds"),
    }),
    Feature("schedule", "`schedule` (cron, timezone)", "W855", _pipeline(lambda p: p.schedule is not None, "schedule"), {
        "local": approx(LOCAL_SCHEDULE),
    }),
    Feature("cron-kind", "`--kind cron`", "W856", None, {
        "argo": refused("E810", "a CronWorkflow needs a schedule", note="needs a schedule (said when rendering)",
                        hint="add schedule: '0 2 * * *', or render --kind workflow"),
    }),
    Feature("catchup", "`schedule.catchup: true`", "W857",
            _pipeline(lambda p: p.schedule is not None and p.schedule.catchup, "schedule", "catchup"), {
        "local": approx(LOCAL_SCHEDULE),
        "argo": refused("E809", "Argo does not backfill missed schedules"),
        "prefect": refused("E803", "Prefect deployments do not backfill missed runs: catchup: true cannot be rendered",
                           note="Prefect deployments do not backfill missed runs",
                           hint="set catchup: false, or run the backfill yourself"),
    }),
    Feature("concurrency", "`schedule.concurrency` above 1", "W858",
            _pipeline(lambda p: p.schedule is not None and p.schedule.concurrency > 1, "schedule", "concurrency"), {
        "local": approx(LOCAL_SCHEDULE),
        "argo": approx("`concurrencyPolicy: Allow`, unbounded: Argo bounds a CronWorkflow's runs at one (Forbid) or not "
                       "at all, so more runs than `concurrency` overlap where each lasts longer than the schedule's "
                       "interval (a workflow-level semaphore on a ConfigMap would bound them: orch makes none)"),
    }),
    Feature("labels", "`labels`", "W859", _pipeline(lambda p: bool(p.labels), "labels"), {
        "local": approx(IGNORED_HERE),
        "prefect": approx("ignored: a flow has no labels"),
        "airflow": approx("DAG tags `key:value`"),
    }),
    Feature("retry-on", "`retries.on` (`failure` or `error`: which failed attempts are retried)", "W888",
            _steps(lambda s: s.retries is not None and s.retries.on != "any", "retries", "on"), {
        "airflow/kubernetes": approx("a pod that never started or vanished is an error; the shipped code its pod cannot "
                                     "fetch fails its container, which Airflow sees as a failure"),
    }),
)


# ---- the check ------------------------------------------------------------------------------

def check(graph: PipelineGraph, backend: str, target: str | None = None) -> Report:
    """Every feature `graph` uses that `backend` (with Airflow's `target`) refuses or approximates,
    all at once and located. A backend the table does not know (a third party's) gets an empty report."""
    columns = [c for c in COLUMNS if c == backend or (c == "airflow/kubernetes" and backend == "airflow" and target == "kubernetes")]
    report, seen = Report(), set()
    for feature in FEATURES:
        if feature.uses is None or all(feature.on(c).level == EXACT for c in columns):
            continue  # most features map exactly: never look for their uses
        for use in feature.uses(graph):
            support = feature.on(_column(graph, backend, target, use.path))
            if support.level == EXACT:
                continue
            diagnostic = _diagnostic(graph, feature, support, use, backend, target)
            key = (diagnostic.code, diagnostic.path, diagnostic.message)
            if key not in seen:  # a default's use, once
                seen.add(key)
                (report.refused if support.level == REFUSED else report.approximated).append(diagnostic)
    report.approximated.sort(key=lambda d: (d.line or 0, d.col or 0))  # as the spec reads, like errors
    return report


def _column(graph: PipelineGraph, backend: str, target: str | None, path: tuple) -> str:
    """The column that judges a use: on `--target kubernetes` a step with an image is a pod, others
    stay python tasks, and the pipeline's own fields are judged as pods when any step is one."""
    if backend != "airflow" or target != "kubernetes":
        return backend
    steps = graph.pipeline.all_steps
    if path[0] in ("steps", "finally") and len(path) > 1 and path[1] in steps:
        pod = steps[path[1]].image is not None
    else:
        pod = any(step.image is not None for step in steps.values())
    return "airflow/kubernetes" if pod else "airflow"


def _diagnostic(graph, feature: Feature, support: Support, use: Use, backend: str, target: str | None) -> Diagnostic:
    path = _written_at(graph, use.path)
    if support.level == REFUSED:
        code, message = support.code, support.text(use.values)
    else:
        where = HEADINGS.get(_column(graph, backend, target, use.path), backend)
        code, message = feature.code, f"approximated on {where}: {support.text(use.values)}"
    hint = support.hint.format(**use.values) if support.hint and use.values else support.hint
    source = graph.source
    if source is None:
        return Diagnostic(code, message, path, hint=hint)
    return source.diagnostic(code, message, path, hint, offset=use.offset if path == use.path else None)


def _written_at(graph: PipelineGraph, path: tuple) -> tuple:
    """A step's field that the step takes from `defaults` is reported where it is written, once."""
    if len(path) < 3 or path[0] not in ("steps", "finally") or graph.source is None:
        return path
    if path[2] not in graph.pipeline.defaults.model_fields_set:
        return path
    written = NestedSource.path_of(path[1]) if path[0] == "steps" else path[:2]  # a step inside a group: as nested
    _, _, depth = graph.source.node_at(written + (path[2],))
    return ("defaults",) + path[2:] if depth < len(written) + 1 else path


def as_warning(diagnostic: Diagnostic) -> str:
    """An approximation as the CLI prints it: like an error, but called a warning."""
    return diagnostic.render().replace(f"error[{diagnostic.code}]", f"warning[{diagnostic.code}]", 1)


# ---- the matrix -----------------------------------------------------------------------------

def matrix() -> tuple[list[str], list[list[str]], list[str]]:
    """(headings, rows, footnotes): a cell is `exact`, `approx. [n]` or `refused E8xx [n]`, footnote n saying how."""
    notes: list[str] = []
    rows = []
    for feature in FEATURES:
        row = [feature.title]
        for column in COLUMNS:
            support = feature.on(column)
            if support.level == EXACT:
                row.append("exact")
                continue
            if support.note not in notes:
                notes.append(support.note)
            mark = f"[{notes.index(support.note) + 1}]"
            row.append(f"approx. {mark}" if support.level == APPROXIMATED else f"refused {support.code} {mark}")
        rows.append(row)
    headings = ["feature", *(HEADINGS.get(c, c) for c in COLUMNS)]
    return headings, rows, [f"[{i}] {note}" for i, note in enumerate(notes, 1)]


def markdown() -> str:
    """The matrix as docs/backends.md shows it, between its matrix markers."""
    headings, rows, notes = matrix()
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"
