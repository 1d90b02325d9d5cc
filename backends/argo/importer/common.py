"""What the importer's parts share: the template kinds and fields they read, why the others have no orch
form, and the small helpers for names and paths."""

from __future__ import annotations

import re

from orch.core.names import suggest_name

from . import command as cmd
from . import depends as deps
from .tags import Unsupported

LEAF = ("container", "script")

INFORMATIONAL = ("workflows.argoproj.io/version", "workflows.argoproj.io/no-test-reasons",
                 "workflows.argoproj.io/no-test-reason", "workflows.argoproj.io/tags",
                 "workflows.argoproj.io/maintainer", "workflows.argoproj.io/verify.py")

KINDS = ("container", "script", "dag", "steps", "suspend", "resource", "http", "plugin", "containerSet", "data")

TEMPLATE_POD = ("nodeSelector", "tolerations", "serviceAccountName", "metadata", "podSpecPatch", "affinity",
                "securityContext", "priorityClassName", "hostAliases", "dnsConfig", "dnsPolicy", "schedulerName",
                "automountServiceAccountToken", "hostNetwork", "priority", "runtimeClassName", "podResources")

SPEC_POD = ("nodeSelector", "tolerations", "serviceAccountName", "podMetadata", "podSpecPatch", "affinity",
            "securityContext", "imagePullSecrets", "hostAliases", "dnsConfig", "dnsPolicy", "schedulerName",
            "automountServiceAccountToken", "hostNetwork", "runtimeClassName", "podResources")

NOT_KEPT = {"shutdown": "a shutdown is a run-time action",
            "suspend": "a suspended workflow is a run-time state", "volumeClaimTemplates": "orch makes no PVCs per run",
            "executor": "orch sets the executor's service account itself",
            "podPriorityClassName": "use kubernetes.pod_spec_patch.priorityClassName per step",
            "retryStrategy": "a workflow-level retry applies to the whole run; orch retries steps"}

WHY = {
    "initContainers": "orch steps have no init containers", "sidecars": "orch steps have no sidecars",
    "daemon": "a daemon step outlives its step; orch has none", "memoize": "orch memoizes no step",
    "executor": "orch sets the executor itself", "plugin": "executor plugins have no orch form",
    "inline": "inline templates are not imported yet", "templateRef": "a template of another manifest",
}


def value_at(data, path: tuple):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def targeted(tasks: list[dict], targets: list[str], by_name: dict) -> list[dict]:
    """The target tasks and their ancestors (dag.go: a target DAG runs those only), in manifest order."""
    keep: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name in keep or name not in by_name:
            continue
        keep.add(name)
        try:
            todo += deps.names(deps.expression(by_name[name], by_name))
        except Unsupported:
            pass
    return [t for t in tasks if t.get("name") in keep]


def kind_of(template: dict) -> str:
    for kind in KINDS:
        if kind in template:
            return kind
    return "none"


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def local_names(names: list, taken_outside: set[str] = frozenset()) -> dict[str, str]:
    """Argo names -> orch names, unique: a name orch refuses is fixed (suggest_name), a collision (or a name in
    `taken_outside`) numbered."""
    found: dict[str, str] = {}
    taken: set[str] = {t.replace("_", "-") for t in taken_outside}
    for name in names:
        fixed = suggest_name(str(name))
        candidate, n = fixed, 2
        while candidate.replace("_", "-") in taken:
            candidate, n = f"{fixed[:58]}-{n}", n + 1
        taken.add(candidate.replace("_", "-"))
        found[name] = candidate
    return found


def task_names(template: dict) -> list[str]:
    if "dag" in template:
        return [t.get("name") for t in (template["dag"] or {}).get("tasks") or []]
    return [s.get("name") for g in template.get("steps") or [] for s in g or []]


def failing(why: str) -> dict:
    return {"command": ["sh", "-c", f"echo {cmd.quoted('not imported: ' + why)} >&2; exit 1"]}


GO_VERB = re.compile(r"%([-+ 0]*)(\d*)([dxXob%])")


def go_format(fmt: str, n: int) -> str:
    """Go's fmt.Sprintf(fmt, n), as withSequence formats each number (expandSequence): one integer verb (d, x, X,
    o, b) with the flags -, +, space, 0 and a width, `%%` a percent sign; Unsupported for any other format."""
    out, verbs, i = [], 0, 0
    while i < len(fmt):
        if fmt[i] != "%":
            out.append(fmt[i])
            i += 1
            continue
        match = GO_VERB.match(fmt, i)
        if match is None:
            raise Unsupported(f"the sequence format {fmt!r}: only an integer verb (%d, %x, %X, %o, %b) is read")
        flags, width, verb = match.groups()
        if verb == "%":
            out.append("%")
        else:
            verbs += 1
            align = "<" if "-" in flags else ""
            sign = "+" if "+" in flags else " " if " " in flags else ""
            zero = "0" if "0" in flags and not align and width else ""
            out.append(format(n, f"{align}{sign}{zero}{width}{verb}"))
        i = match.end()
    if verbs != 1:
        raise Unsupported(f"the sequence format {fmt!r} has {verbs} integer verbs: Go writes %!(EXTRA…) or "
                          "%!d(MISSING) there")
    return "".join(out)

