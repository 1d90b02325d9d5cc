"""Measure `orch import argo` on Argo's own examples: how many import with nothing unsupported and their
behaviour checked, why the others do not, and the time per file.

    git -C /work/.mirror/argoproj+argo-workflows/repo archive HEAD examples | tar -x -C /tmp/argo-examples
    python bench/import_argo.py /tmp/argo-examples/examples

Each file is imported on its own, its templateRefs resolved among the WorkflowTemplates of the whole folder
(as `orch import argo FOLDER` does). A file counts as clean when every pipeline document in it imports with no unsupported field and its
behaviour checked (approximated fields are allowed, and counted apart). Files that hold no pipeline
(a Pod, a ConfigMap, a Workflow that only refers to a template) are counted as refused.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from orch.backends.argo.importer import import_, library_of, read_all
from orch.core.errors import OrchError


def measure(folder) -> dict:
    """Counts over every *.yaml/*.yml under `folder`: files, documents, clean ones, reasons, seconds."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    library = library_of(read_all(Path(folder)))  # the WorkflowTemplates templateRefs may name, from every file
    result = {"files": len(files), "documents": 0, "clean_files": 0, "clean_documents": 0,
              "approximated_clean_files": 0, "refused_files": 0, "crashed": [], "unsupported": Counter(),
              "behaviour": Counter(), "seconds": [], "rendered": 0, "not_rendered": [],
              "not_rendered_argo": [], "render_seconds": 0.0}
    for file in files:
        start = time.perf_counter()
        try:
            imported = import_(file, library)
        except OrchError:
            result["refused_files"] += 1
            result["seconds"].append(time.perf_counter() - start)
            continue
        except Exception as err:  # noqa: BLE001 - a crash is what the bench exists to find
            result["crashed"].append(f"{file.name}: {type(err).__name__}: {err}")
            continue
        result["seconds"].append(time.perf_counter() - start)
        clean_file = True
        approximated = False
        for one in imported:
            result["documents"] += 1
            report = one.report
            ok = report.nothing_unsupported and report.behaviour.checked
            result["clean_documents"] += ok
            if ok:
                began = time.perf_counter()
                _render_everywhere(one, file, result)
                result["render_seconds"] += time.perf_counter() - began
            clean_file &= ok
            approximated |= any(e.status == "approximated" for e in report.entries)
            for entry in report.entries:
                if entry.status == "unsupported":
                    result["unsupported"][_reason(entry)] += 1
            if not report.behaviour.checked:
                result["behaviour"][report.behaviour.summary().split(":")[0]] += 1
        result["clean_files"] += clean_file
        result["approximated_clean_files"] += clean_file and approximated
    return result


def _render_everywhere(one, file, result) -> None:
    """A clean import's spec rendered for the other two backends, Prefect and Airflow, as a team migrating it would
    (and for Argo again, counted apart: what orch refuses to render back)."""
    from orch.backends.airflow.render import render as airflow
    from orch.backends.argo.render import render as argo
    from orch.backends.prefect.render import render as prefect
    from orch.core.load import parse_spec

    graph = parse_spec(one.text)
    for render, key in ((prefect, "not_rendered"), (airflow, "not_rendered"), (argo, "not_rendered_argo")):
        try:
            render(graph)
        except Exception as err:  # noqa: BLE001 - a refusal or a crash is what this counts
            result[key].append(f"{file.name} ({one.name}): {type(err).__name__}: {str(err)[:120]}")
            if key == "not_rendered":
                return
    result["rendered"] += 1


def _reason(entry) -> str:
    last = [p for p in entry.path.replace("[", ".").replace("]", "").split(".") if not p.isdigit()][-1:]
    return f"{'.'.join(last)}: {entry.note[:90]}"


def main(folder: str) -> None:
    result = measure(folder)
    seconds = sorted(result["seconds"])
    print(f"{result['clean_files']} of {result['files']} files clean (nothing unsupported, behaviour checked; "
          f"{result['approximated_clean_files']} of them with approximations); "
          f"{result['clean_documents']} of {result['documents']} documents; {result['refused_files']} refused "
          f"(not a pipeline); {len(result['crashed'])} crashed")
    print(f"{result['rendered']} of {result['clean_documents']} clean documents render for prefect and airflow; "
          f"{len(result['not_rendered_argo'])} of them orch does not render back for argo "
          f"(rendering took {result['render_seconds']:.2f} s, not counted in the import's time)")
    for failure in result["not_rendered"]:
        print("  not rendered:", failure)
    for failure in result["not_rendered_argo"]:
        print("  not rendered back for argo:", failure)
    if seconds:
        print(f"time per file: median {seconds[len(seconds) // 2] * 1000:.1f} ms, max {seconds[-1] * 1000:.1f} ms")
    print("most common unsupported fields:")
    for reason, count in result["unsupported"].most_common(40):
        print(f"  {count:4d}  {reason}")
    print("behaviour not checked:")
    for reason, count in result["behaviour"].most_common(10):
        print(f"  {count:4d}  {reason}")
    for crash in result["crashed"]:
        print("  crashed:", crash)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/argo-examples/examples")
