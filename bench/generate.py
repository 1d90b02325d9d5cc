"""Synthetic specs for the benchmarks: N steps in a realistic mix of shapes.

Every step declares outputs; most consume the previous step's output; every 7th also
waits on a step further back; every 5th has a condition; every 10th starts a new chain.
"""

from __future__ import annotations

from pathlib import Path


def spec_text(steps: int, name: str = "bench") -> str:
    lines = ["apiVersion: orch/v1", f"name: {name}", "params:", "  threshold: {type: number, default: 0.5}", "steps:"]
    for i in range(steps):
        lines.append(f"  s{i}:")
        lines.append("    python: pkg.module:work")
        if i % 10 == 0:
            lines.append(f"    args: {{x: 'literal {i}', t: '${{{{ params.threshold }}}}'}}")
        else:
            lines.append(f"    args: {{x: '${{{{ steps.s{i - 1}.outputs.out }}}}'}}")
        lines.append("    outputs: {out: string, n: integer}")
        if i % 7 == 6 and i >= 3:
            lines.append(f"    after: [s{i - 3}]")
        if i % 5 == 4:
            lines.append(f"    when: steps.s{i - 1}.outputs.n > 0")
    return "\n".join(lines) + "\n"


def write_spec(folder: Path, steps: int) -> Path:
    path = Path(folder) / f"bench-{steps}.yaml"
    path.write_text(spec_text(steps))
    return path
