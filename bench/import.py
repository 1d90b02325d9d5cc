"""Benchmark `orch import` on the anchors' own material, both halves in one run:

    git -C /work/.mirror/argoproj+argo-workflows/repo archive HEAD examples | tar -x -C /tmp/argo-examples
    python bench/import.py [/tmp/argo-examples/examples]

Argo: every upstream example manifest (bench/import_argo.py): files that import with nothing unsupported and their
behaviour checked, the reasons for the rest, the time per file -- and, measured in the same run, the time hera (the
Argo Python SDK) takes to read the same files into its models, the native reader (ratio orch / hera).
Airflow: every example DAG its wheels ship (bench/import_airflow.py), against Airflow's own DagBag load.
Each half runs in its own process, as `orch import` does.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def hera_seconds(folder: Path) -> list[float]:
    """Per file, hera reading every Workflow-like document of it (what a native tool does with the manifest)."""
    import yaml
    from hera.workflows import CronWorkflow, Workflow, WorkflowTemplate

    kinds = {"Workflow": Workflow, "WorkflowTemplate": WorkflowTemplate, "CronWorkflow": CronWorkflow,
             "ClusterWorkflowTemplate": WorkflowTemplate}
    found = []
    for file in sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()):
        start = time.perf_counter()
        try:
            for document in yaml.safe_load_all(file.read_text()):
                if isinstance(document, dict) and document.get("kind") in kinds:
                    kinds[document["kind"]].from_dict(document)
        except Exception:  # noqa: BLE001 - a file hera cannot read still took its time
            pass
        found.append(time.perf_counter() - start)
    return found


def main(folder: str) -> None:
    root = Path(folder)
    start = time.perf_counter()
    argo = subprocess.run([sys.executable, str(HERE / "import_argo.py"), str(root)], capture_output=True, text=True)
    argo_total = time.perf_counter() - start
    rendered = re.search(r"rendering took ([\d.]+) s", argo.stdout)  # bench/import_argo.py says so
    argo_total -= float(rendered.group(1)) if rendered else 0.0  # the specs rendered again: not the import's time
    print("== Argo: upstream examples ==")
    print(argo.stdout.rstrip() or argo.stderr.rstrip())
    native = hera_seconds(root)
    files = len(native)
    print(f"whole process: orch import {argo_total:.2f} s for {files} files ({argo_total / max(files, 1) * 1000:.1f} ms a "
          f"file); hera reading the same files: {sum(native):.2f} s (median {statistics.median(native) * 1000:.1f} ms); "
          f"ratio orch/hera {argo_total / max(sum(native), 1e-9):.1f}x (orch also plays 64 draws on both sides)")
    print("\n== Airflow: example DAGs in the wheels ==")
    airflow = subprocess.run([sys.executable, str(HERE / "import_airflow.py")], capture_output=True, text=True)
    print(airflow.stdout.rstrip() or airflow.stderr.rstrip())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/argo-examples/examples")
