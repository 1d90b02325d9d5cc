"""What a container or script template runs, as an orch `command`.

A container runs `command + args` (Kubernetes' argv; `$(VAR)` is expanded by Kubernetes in both engines). A
script runs `command + args + [file]`, the file holding `source` (Argo writes it to /argo/staging/script,
workflow/controller/operator.go; here a temporary file). Argo reads an output parameter from the file at its
`valueFrom.path` once the container ends, one trailing newline removed, its `default` where the file is missing
(workflow/executor/executor.go, SaveParameters); orch reads `$ORCH_OUTPUTS/NAME` the same way. Where a template
has outputs, inputs to place or a source, its argv runs inside a short `sh -c` wrapper that places the inputs,
runs the argv, copies each output to `$ORCH_OUTPUTS/NAME` (its default where the file is missing) and exits with
the argv's status -- so the image must hold a `sh`, as every image Argo's script templates run in does.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Plan:
    """The pieces of one call's argv: the template's own argv, its script, what goes in and out."""

    argv: list[str]
    source: str | None = None
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (orch text of a path to copy, Argo path)
    raw: list[tuple[str, str]] = field(default_factory=list)  # (data, Argo path)
    modes: list[tuple[str, str, bool]] = field(default_factory=list)  # (Argo path, octal mode, recursive): chmod-ed
    outputs: list[tuple[str, str, str | None, bool]] = field(default_factory=list)  # (path, name, default, folder)
    workdir: str | None = None  # the container's workingDir


def quoted(text) -> str:
    text = str(text)
    return "'" + text.replace("'", "'\\''") + "'"


def command(plan: Plan) -> list[str]:
    """The orch `command`: the argv itself when nothing is to be placed, else the wrapper around it."""
    if plan.source is None and not plan.inputs and not plan.raw and not plan.outputs and plan.workdir is None \
            and not plan.modes:
        return list(plan.argv)
    lines = []
    for origin, path in plan.inputs:
        lines.append(f"mkdir -p \"$(dirname {quoted(path)})\" && cp -r {quoted(origin)} {quoted(path)} || exit 1")
    for data, path in plan.raw:
        lines.append(f"mkdir -p \"$(dirname {quoted(path)})\" && printf %s {quoted(data)} > {quoted(path)} || exit 1")
    for path, mode, recursive in plan.modes:  # after the copy, as Argo's executor chmods after placing it
        lines.append(f"chmod {'-R ' if recursive else ''}{mode} {quoted(path)} || exit 1")
    if plan.workdir is not None:
        lines.append(f"cd {quoted(plan.workdir)} || exit 1")
    if plan.source is not None:
        lines.append('script=$(mktemp) && printf %s "$1" > "$script" && shift || exit 1')
        lines.append('"$@" "$script"; status=$?')
    else:
        lines.append('"$@"; status=$?')
    for path, name, default, folder in plan.outputs:
        copy = f"cp {'-r ' if folder else ''}{quoted(path)} \"$ORCH_OUTPUTS/{name}\" 2>/dev/null"
        if default is not None:
            copy += f" || printf %s {quoted(default)} > \"$ORCH_OUTPUTS/{name}\""
        lines.append(copy)
    lines.append("exit $status")
    head = ["sh", "-c", "\n".join(lines), "argo"]
    return head + ([plan.source] if plan.source is not None else []) + list(plan.argv)
