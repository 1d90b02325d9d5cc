"""`orch import airflow SOURCE`: the DAGs Airflow itself loads from a file or folder, each as an orch spec with
its fidelity report -- every non-default field of the DAG and of each task mapped, approximated or unsupported,
located in the DAG file, and the spec's behaviour compared with Airflow's on random draws.

Airflow loads the files in a child process (load.py); everything after works on the data it printed.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from orch.core.errors import Diagnostic, SpecError
from orch.core.fidelity import APPROXIMATED, Entry, Imported, Report

SPEC_CONSTANT = "ORCH_SPEC"  # the spec a DAG file orch rendered carries (backends/roundtrip.py)

KIND = "Airflow DAG"
LOAD_SECONDS = 600  # the whole load of a file or folder (Airflow bounds each file by its dagbag_import_timeout, 30 s)


def import_(path: Path) -> list[Imported]:
    """Every DAG in `path` (a DAG file or a folder of them), as specs with their reports."""
    path = Path(path)
    if not path.exists():
        raise SpecError([Diagnostic("E950", f"no such file or folder: {path}", file=str(path))])
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    problems = [problem for file in files for problem in unparsable(file)]
    if problems:
        raise SpecError(problems)
    rendered, edited = orch_rendered(files)
    if path.is_file() and path.resolve() in rendered:
        return [rendered[path.resolve()]]
    found = []
    for one in imported_all(load([path])[0]):
        file = Path(one.report.source).resolve()
        if file in rendered:
            continue
        if file in edited:  # orch rendered it, someone changed it since: read the general way, and say so
            line, reason = edited[file]
            one.report.entries.insert(0, Entry(SPEC_CONSTANT, APPROXIMATED, line, 1, note=reason))
        found.append(one)
    return [*rendered.values(), *found]


def orch_rendered(files: list[Path]) -> tuple[dict[Path, Imported], dict[Path, tuple[int, str]]]:
    """The DAG files orch rendered and nobody edited since, as the spec each carries (backends/roundtrip.py); and
    those edited since, with the line of their ORCH_SPEC and what changed."""
    from orch.backends.roundtrip import recover_python, recovered

    rendered, edited = {}, {}
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        match = re.search(rf"^{SPEC_CONSTANT} = ", text, re.MULTILINE)
        if match is None:
            continue
        line = text.count("\n", 0, match.start()) + 1
        pipeline, reason = recover_python(text)
        if pipeline is None:
            edited[file.resolve()] = (line, reason)
        else:
            rendered[file.resolve()] = recovered(pipeline, str(file), KIND, {(SPEC_CONSTANT,): (line, 1)})
    return rendered, edited


def imported_all(loaded: dict) -> list[Imported]:
    """The DAGs of one path's load (load.py's record of it) as specs, or its problems refused."""
    path = Path(loaded["path"])
    refuse_import_errors(loaded)
    if not loaded["dags"]:
        raise SpecError([Diagnostic("E951", "no DAG found: Airflow's DagBag loaded none from it", file=str(path),
                                    line=1, col=1, hint="a DAG file makes a DAG object (with DAG(...) or @dag)")])
    folder = path.resolve().parent if path.is_file() else path.resolve()
    return [imported(dag, folder) for dag in loaded["dags"]]


def imported(dag: dict, folder: Path) -> Imported:
    """One described DAG as its spec text and report."""
    from orch.core.load import parse_spec
    from orch.core.spec_yaml import dump

    from .behaviour import behaviour_of
    from .dag import document_of, read_dag

    reading = read_dag(dag, folder)
    entries = reading.ledger.close(document_of(dag))
    comments = {path: "\n".join(texts) for path, texts in reading.comments.items()}
    source = dag["fileloc"]
    header = "\n".join([f"Imported from the Airflow DAG {dag['dag_id']!r} in {Path(source).name} by `orch import "
                        "airflow`.", *reading.header])
    text = dump(reading.spec, comments, header)
    graph = parse_spec(text, file=f"<import of {dag['dag_id']}>")
    names = {task["task_id"]: reading.names[task["task_id"]] for task in dag["tasks"]}
    behaviour = behaviour_of(dag, graph, names)
    report = Report(source=source, kind=KIND, name=dag["dag_id"], entries=entries, behaviour=behaviour)
    return Imported(name=reading.spec["name"], text=text, report=report)


def load(paths: list[Path]) -> list[dict]:
    """Airflow's reading of each path (load.py in a child process, with orch's Airflow home)."""
    from orch.backends.airflow.run import airflow_env, airflow_home

    env = airflow_env(airflow_home(), None)
    try:
        done = subprocess.run([sys.executable, "-m", "orch.backends.airflow.importer.load", *map(str, paths)],
                              env=env, capture_output=True, text=True, timeout=LOAD_SECONDS)
    except subprocess.TimeoutExpired:
        raise SpecError([Diagnostic("E950", f"Airflow did not finish loading it in {LOAD_SECONDS} s", file=str(paths[0]),
                                    hint="a DAG file that runs work when imported: move that work into tasks")]) from None
    if done.returncode != 0 or not done.stdout.strip():
        raise SpecError([Diagnostic("E950", "Airflow could not load it: " + (done.stderr.strip().splitlines() or
                                                                             ["no output"])[-1], file=str(paths[0]))])
    return json.loads(done.stdout.strip().splitlines()[-1])


def unparsable(file: Path) -> list[Diagnostic]:
    """Why `file` is not Python, located (none if it is)."""
    try:
        ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except SyntaxError as err:
        return [Diagnostic("E950", f"not a DAG file: {err.msg}", file=str(file), line=err.lineno or 1,
                           col=err.offset or 1, source_line=(err.text or "").rstrip("\n") or None)]
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return [Diagnostic("E950", f"not a DAG file: {err}", file=str(file), line=1, col=1)]
    return []


FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def refuse_import_errors(loaded: dict) -> None:
    """Airflow's import errors, each located at the deepest line of its own file in the traceback."""
    problems = []
    for file, error in loaded["errors"].items():
        lines = [int(line) for name, line in FRAME.findall(error) if Path(name).resolve() == Path(file).resolve()]
        message = error.strip().splitlines()[-1] if error.strip() else "import error"
        problems.append(Diagnostic("E950", f"Airflow could not import the DAG file: {message}", file=file,
                                   line=lines[-1] if lines else 1, col=1))
    if problems:
        raise SpecError(problems)
