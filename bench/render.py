"""Benchmark: `orch render --backend argo` against hand-written hera, whole processes, same run.

    python bench/render.py

(1) 4,000 steps: `orch render SPEC -b argo -o DIR` vs a hand-written hera script using the
    context-manager API with one template per step (the way hera's docs build a DAG),
    writing its YAML (goal <= 0.3x);
(2) 10,000 steps: `orch render` wall time (goal <= 1.5 s);
and, for each, the manifests' total size, file count and template count.
The spec is bench/generate.py's: each step consumes the previous one's output, every 7th
also waits on an older step, every 5th has a condition.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import write_spec  # noqa: E402

HERA_SCRIPT = '''
import sys
from hera.workflows import DAG, Container, Parameter, Workflow

steps = int(sys.argv[1])
with Workflow(generate_name="bench-", entrypoint="main", arguments=[Parameter(name="threshold", value="0.5")]) as w:
    templates = [Container(name=f"s{i}", image="python:3.12-slim", command=["python3", "-c", "import pkg.module; pkg.module.work()"],
                           inputs=[Parameter(name="x", default="")], outputs=[Parameter(name="out", value_from={"path": "/tmp/out"}),
                           Parameter(name="n", value_from={"path": "/tmp/n"})]) for i in range(steps)]
    with DAG(name="main"):
        tasks = []
        for i in range(steps):
            args = {"x": "literal"} if i % 10 == 0 else {"x": "{{tasks.s%d.outputs.parameters.out}}" % (i - 1)}
            task = templates[i](name=f"s{i}", arguments=args)
            if i % 10:
                tasks[i - 1] >> task
            if i % 7 == 6 and i >= 3:
                tasks[i - 3] >> task
            if i % 5 == 4:
                task.when = "{{tasks.s%d.outputs.parameters.n}} > 0" % (i - 1)
            tasks.append(task)
print(w.to_yaml())
'''


def timed(argv: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def orch_render(folder: Path, steps: int) -> tuple[float, int, int, int]:
    spec = write_spec(folder, steps)
    out = folder / f"out-{steps}"
    orch = str(Path(sys.executable).parent / "orch")
    elapsed, _ = timed([orch, "render", str(spec), "--backend", "argo", "--out", str(out)], folder)
    files = sorted(out.glob("*.yaml"))
    size = sum(f.stat().st_size for f in files)
    templates = sum(len(yaml.safe_load(f.read_text())["spec"].get("templates", [])) for f in files)
    return elapsed, size, len(files), templates


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "hera_bench.py").write_text(HERA_SCRIPT)
        orch_4k, size_4k, files_4k, templates_4k = orch_render(folder, 4000)
        hera_4k, hera_yaml = timed([sys.executable, "hera_bench.py", "4000"], folder)
        hera_templates = len(yaml.safe_load(hera_yaml)["spec"]["templates"])
        print(f"4,000 steps: orch render {orch_4k:.2f} s ({files_4k} files, {size_4k / 1e6:.2f} MB, {templates_4k} templates); "
              f"hand-written hera {hera_4k:.2f} s ({len(hera_yaml.encode()) / 1e6:.2f} MB, {hera_templates} templates) "
              f"-> {orch_4k / hera_4k:.2f}x")
        orch_10k, size_10k, files_10k, templates_10k = orch_render(folder, 10_000)
        print(f"10,000 steps: orch render {orch_10k:.2f} s ({files_10k} files, {size_10k / 1e6:.2f} MB, {templates_10k} templates)")
        print()
        print(f"(1) <= 0.3x hera: {'met' if orch_4k / hera_4k <= 0.3 else 'MISSED'}")
        print(f"(2) 10,000 steps <= 1.5 s: {'met' if orch_10k <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
