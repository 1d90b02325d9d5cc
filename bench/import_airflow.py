"""`orch import airflow` over Airflow's own example DAGs (the installed wheel's airflow/example_dags and the
providers' example_dags): how many import with nothing unsupported and their behaviour checked, why the others
do not (by feature, most common first), and the time per file.

    .venv/bin/python -m orch.bench.import_airflow [FOLDER ...]
"""

from __future__ import annotations

import collections
import json
import re
import sys
import time
from pathlib import Path

from orch.backends.airflow.importer.examples import example_files
from orch.core.errors import SpecError


def measure(folder: Path | None = None) -> dict:
    """Every DAG file under `folder` (else Airflow's examples) imported; counts, reasons and times."""
    from orch.backends.airflow.importer import imported_all, load

    files = sorted(Path(folder).rglob("*.py")) if folder else example_files()
    counts = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    held_back: collections.Counter = collections.Counter()  # files each reason keeps from counting (once a file)
    per_file = {}
    not_rendered: list[str] = []
    start = time.perf_counter()
    loaded_all = load(files)  # one Airflow process loads them all: its start is paid once
    loaded_in = time.perf_counter() - start
    loading = loaded_in / max(len(files), 1)
    for file, loaded in zip(files, loaded_all):
        start = time.perf_counter()
        try:
            found = imported_all(loaded)
        except SpecError as err:
            found = []
            reasons[f"not imported: {err.diagnostics[0].message[:80]}"] += 1
        except Exception as err:  # an importer bug: counted, named, and the other files still measured
            found = []
            reasons[f"importer error: {type(err).__name__}: {str(err)[:80]}"] += 1
            if "--raise" in sys.argv:
                raise
        seconds = time.perf_counter() - start + loading
        good = [one for one in found if one.report.nothing_unsupported and one.report.behaviour.checked]
        for one in good:
            refused = _render_elsewhere(one)
            counts["dags_rendered"] += not refused
            not_rendered.extend(f"{file.name} ({one.name}): {why}" for why in refused)
        counts["dags"] += len(found)
        counts["dags_good"] += len(good)
        counts["files"] += 1
        counts["files_good"] += bool(found) and len(good) == len(found)
        before = collections.Counter(reasons)
        for one in found:
            for entry in one.report.entries:
                if entry.status == "unsupported" and not entry.note.startswith("an argument of "):
                    reasons[_feature(entry)] += 1
            if not one.report.behaviour.checked:
                reasons["behaviour: " + (one.report.behaviour.not_checked or "differs")] += 1
        held_back.update({reason: 1 for reason in reasons if reasons[reason] > before[reason]})
        per_file[file.name] = {"seconds": round(seconds, 2), "dags": len(found), "good": len(good)}
    return {"counts": dict(counts), "reasons": reasons.most_common(), "held_back": held_back.most_common(),
            "not_rendered": not_rendered,
            "files": per_file,
            "airflow_load_seconds": round(loaded_in, 2)}


def _render_elsewhere(one) -> list[str]:
    """A clean import's spec rendered for the other two backends, Argo and Prefect; why each one refused it."""
    from orch.backends.argo.render import render as argo
    from orch.backends.prefect.render import render as prefect
    from orch.core.load import parse_spec

    graph, refused = parse_spec(one.text), []
    for name, render in (("argo", argo), ("prefect", prefect)):
        try:
            render(graph)
        except Exception as err:  # noqa: BLE001 - a refusal or a crash is what this counts
            refused.append(f"{name}: {type(err).__name__}: {str(err)[:110]}")
    return refused


def _feature(entry) -> str:
    """An unsupported entry's reason without its names: what a feature count groups."""
    field = entry.path.split(".")[2] if entry.path.startswith("tasks.") and entry.path.count(".") >= 2 else \
        entry.path.split(".")[1] if "." in entry.path else entry.path
    field = re.sub(r"\[\d+\]", "", field)
    if field == "operator":
        return "operator " + entry.note.split(" ")[0]
    note = re.sub(r"'[^']*'|\"[^\"]*\"", "…", entry.note)[:90]
    return f"{field}: {note}"


def main(argv: list[str]) -> None:
    results = [measure(Path(a)) for a in argv] if argv else [measure()]
    for result in results:
        counts, times = result["counts"], [f["seconds"] for f in result["files"].values()]
        print(f"files: {counts.get('files_good', 0)} of {counts.get('files', 0)} with every DAG imported with nothing "
              f"unsupported and its behaviour checked")
        print(f"DAGs: {counts.get('dags_good', 0)} of {counts.get('dags', 0)}; of the clean ones "
              f"{counts.get('dags_rendered', 0)} render for argo and prefect")
        for failure in result["not_rendered"]:
            print("  not rendered:", failure)
        print(f"time per file: mean {sum(times) / max(len(times), 1):.2f} s, max {max(times or [0]):.2f} s "
              f"(Airflow's DagBag load of all {counts.get('files', 0)} files in one process: "
              f"{result['airflow_load_seconds']:.1f} s, shared out)")
        print("files held back, by reason (a file may have several):")
        for reason, n in result["held_back"]:
            print(f"  {n:4d}  {reason}")
        print("the same reasons by occurrence (fields and tasks):")
        for reason, n in result["reasons"]:
            print(f"  {n:4d}  {reason}")
        if "--json" in sys.argv:
            print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main([a for a in sys.argv[1:] if not a.startswith("--")])
