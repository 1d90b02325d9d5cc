"""Pipelines written in Python: what the CLI accepts as SPEC, errors at the user's lines, outputs from return
annotations, args against signatures, `orch export` and its round trip, and specs/python_only through every command."""

import dataclasses
import json
import os
import re
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Annotated, Any, Dict, List, NamedTuple, Optional, TypedDict

import pytest

from orch.core.builder import Artifact, PipelineBuilder, outputs_of
from orch.core.errors import SpecError
from orch.core.load import load_spec, parse_spec

from .conftest import SPECS

EXAMPLE = SPECS / "python_only" / "pipeline.py"
BUILT_IN_PYTHON = sorted(p for p in SPECS.rglob("*.py") if "PipelineBuilder(" in p.read_text(encoding="utf-8"))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder, the working folder, with orch's state inside it; `write(path, text)` adds a file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / ".cache"))

    def write(path: str, text: str = "") -> None:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    return write


TWO_STEPS = """
    from orch.core.builder import PipelineBuilder
    {imports}

    pipe = PipelineBuilder("p")
    prepare = pipe.step({module}.prepare, args={{"n": 3}})
    pipe.step({module}.report, args={{"rows": prepare.outputs.result}})
    built = pipe.build()
"""
STEPS = """
    def prepare(n: int) -> int:
        return n * 2

    def report(rows: int) -> None:
        print(rows)
"""


@pytest.mark.parametrize("spec, target", [
    ("flat/pipeline.py", "helpers:prepare"), ("flat/pipeline.py:pipe", "helpers:prepare"),
    ("pkg/pipeline.py", "pkg.steps:prepare"), ("pkg/pipeline.py:built", "pkg.steps:prepare"),
    ("pkg.pipeline:pipe", "pkg.steps:prepare"),
])
def test_a_python_file_or_module_is_a_spec(orch, project, spec, target):
    project("flat/pipeline.py", TWO_STEPS.format(imports="import helpers", module="helpers"))
    project("flat/helpers.py", STEPS)
    project("pkg/__init__.py")
    project("pkg/pipeline.py", TWO_STEPS.format(imports="from . import steps", module="steps"))
    project("pkg/steps.py", STEPS)
    assert orch("validate", spec) == (0, f"ok: {spec}: pipeline 'p', 2 steps\n", "")
    pipeline = load_spec(spec).pipeline
    assert pipeline.steps["prepare"].python == target and pipeline.steps["prepare"].outputs == {"result": "integer"}


def test_two_specs_with_sibling_modules_of_one_name_each_get_their_own(orch, project):
    flat = TWO_STEPS.format(imports="import helpers", module="helpers")
    project("a/pipeline.py", flat.replace('"p"', '"a"'))
    project("a/helpers.py", STEPS)
    project("b/pipeline.py", flat.replace('"p"', '"b"').replace("report", "summary"))  # a's helpers has no summary
    project("b/helpers.py", STEPS.replace("report", "summary"))
    code, out, _ = orch("validate", "a/pipeline.py", "b/pipeline.py")
    assert (code, out) == (0, "ok: a/pipeline.py: pipeline 'a', 2 steps\nok: b/pipeline.py: pipeline 'b', 2 steps\n")
    assert "pipeline" not in sys.modules and "helpers" not in sys.modules  # forgotten once loaded


@pytest.mark.parametrize("more, spec, message", [
    (None, "f.py", "f.py: error[E121] f.py holds no pipeline\n  hint: define a module-level PipelineBuilder"),
    ("other = PipelineBuilder('q')", "f.py", "f.py: error[E121] f.py holds 2 pipelines: pipe, other\n"
                                             "  hint: name one: f.py:pipe"),
    ("", "f.py:nope", "f.py: error[E121] f.py has no 'nope'\n  hint: the pipelines in it: pipe"),
    ("", "f.py:prepare", "f.py: error[E121] f.py:prepare is a StepHandle, not a pipeline"),
], ids=["none", "two", "unknown-name", "not-a-pipeline"])
def test_no_pipeline_or_several_or_a_wrong_name_is_exit_2_naming_them(orch, project, more, spec, message):
    two_steps = TWO_STEPS.format(imports="import helpers", module="helpers")
    project("f.py", "x = 1\n" if more is None else f"{two_steps}    {more}\n")
    project("helpers.py", STEPS)
    code, out, err = orch("validate", spec)
    assert (code, out) == (2, "") and err.startswith(message)


def test_what_the_import_raises_is_located_at_the_users_line(orch, project):
    project("raises.py", "import helper\n")
    project("helper.py", "def f():\n    return {}['k']\n\n\nX = f()\n")
    project("broken.py", "x = (\n")
    raised, broken = orch("validate", "raises.py"), orch("validate", "broken.py")
    assert raised[0] == 2 and raised[2].startswith("helper.py:2:5: error[E120] KeyError: 'k'\n  2 |     return {}['k']\n")
    assert broken[0] == 2 and broken[2].startswith("broken.py:1:5: error[E120] SyntaxError: ")
    assert "Traceback" not in raised[2] + broken[2]
    assert orch("validate", "nowhere:pipe")[::2] == (2, "no module 'nowhere' on the import path (the working folder "
                                                        "first)\n")
    assert orch("validate", "missing.py")[::2] == (2, "spec file not found: missing.py\n")


def test_validation_errors_are_at_the_builder_calls_that_made_them(orch, project):
    project("pipeline.py", """
        from orch.core.builder import PipelineBuilder

        pipe = PipelineBuilder("p", timeout=0)
        n = pipe.param("n", "integer", "three")
        pipe.command("a", ["echo"], after=["nope"])


        @pipe.step(args={"x": n}, when="x >")
        def b(x):
            return x
    """)
    code, _, err = orch("validate", "pipeline.py")
    located = [line for line in err.splitlines() if ": error[" in line]
    assert code == 2 and [line.split(" ")[0:2] for line in located] == [
        ["pipeline.py:3:1:", "error[E216]"], ["pipeline.py:4:1:", "error[E201]"],
        ["pipeline.py:5:1:", "error[E401]"], ["pipeline.py:8:1:", "error[E601]"]]
    assert '  5 | pipe.command("a", ["echo"], after=["nope"])\n      ^' in err


class Record(TypedDict):
    rows: int
    name: str


class Pair(NamedTuple):
    score: float
    ok: bool


@dataclasses.dataclass
class Files:
    model: Path
    report: dict
    sizes: List[int]


class Lonely(TypedDict):
    model: Path


class Loose(TypedDict):
    rows: Optional[int]
    name: str


NO_ANNOTATION = object()


def returning(annotation):
    """A function with `annotation` as its return annotation (none for NO_ANNOTATION)."""
    def function():
        return None
    function.__annotations__ = {} if annotation is NO_ANNOTATION else {"return": annotation}
    return function


@pytest.mark.parametrize("annotation, outputs", [
    (Record, {"rows": "integer", "name": "string"}), (Pair, {"score": "number", "ok": "boolean"}),
    (Files, {"model": "artifact", "report": "json", "sizes": "json"}),
    ("Record", {"rows": "integer", "name": "string"}),  # an annotation as text (from __future__ import annotations)
    (str, {"result": "string"}), (int, {"result": "integer"}), (float, {"result": "number"}),
    (bool, {"result": "boolean"}), (dict, {"result": "json"}), (list, {"result": "json"}),
    (Dict[str, Any], {"result": "json"}), (list[int], {"result": "json"}), (Any, {"result": "json"}),
    (Path, {"result": "artifact"}), (os.PathLike, {"result": "artifact"}), (Artifact, {"result": "artifact"}),
    (Annotated[float, "metres"], {"result": "number"}), (None, {}), (NO_ANNOTATION, {}),
], ids=lambda value: "no annotation" if value is NO_ANNOTATION else repr(value))
def test_outputs_come_from_the_return_annotation(annotation, outputs):
    assert outputs_of(returning(annotation)) == outputs


@pytest.mark.parametrize("annotation, words", [
    (Optional[int], "returns Optional[int], which is no output type"),
    (tuple[int, str], "several outputs: return a NamedTuple or a TypedDict"),
    (set, "returns set, which is no output type"),
    (Loose, "returns Loose, whose field 'rows' is Optional[int], which is no output type"),
    (Lonely, "returns Lonely, a record of one field; a step with one output returns the value itself"),
    ("Undefined", "cannot be read: NameError"),
], ids=repr)
def test_an_annotation_no_output_type_fits_is_an_error_at_the_step(annotation, words):
    pipe = PipelineBuilder("p")
    with pytest.raises(SpecError) as refused:
        pipe.step(returning(annotation), name="s")
    (problem,) = refused.value.diagnostics
    assert (problem.code, problem.field) == ("E122", "steps.s.outputs")
    assert words in problem.message and ".returning.<locals>.function" in problem.message
    assert problem.file.endswith("test_python_first.py") and problem.source_line.strip().startswith("pipe.step(")


def test_args_must_fit_the_function_and_outputs_given_win():
    def train(features, epochs=3):
        return None

    def anything(**kwargs):
        return None

    pipe = PipelineBuilder("p")
    with pytest.raises(SpecError) as refused:
        pipe.step(train, args={"feature": 1})
    assert [(d.code, d.field, d.message, d.hint) for d in refused.value.diagnostics] == [
        ("E123", "steps.train.args", "'feature' is not a parameter of "
         "test_args_must_fit_the_function_and_outputs_given_win.<locals>.train()", "did you mean 'features'?"),
        ("E123", "steps.train.args", "test_args_must_fit_the_function_and_outputs_given_win.<locals>.train() needs "
         "'features', which args does not give", "args={'features': ...}, or give the parameter a default")]
    pipe.step(train, args={"features": 1})
    pipe.step(anything, args={"x": 1, "y": 2})
    pipe.step(returning(Optional[int]), name="given", outputs={"n": "integer"})
    assert pipe.build().steps["given"].outputs == {"n": "integer"}


def test_a_step_defined_twice_is_an_error_at_the_second():
    pipe = PipelineBuilder("p")
    pipe.command("a", ["echo"])
    with pytest.raises(SpecError, match=r"test_python_first.py:\d+:\d+: error\[E124\] steps.a: step 'a' is defined "
                                        r"twice \(first at line \d+\)"):
        pipe.command("a", ["true"])


def test_there_are_examples_built_in_python():
    assert {p.relative_to(SPECS).as_posix() for p in BUILT_IN_PYTHON} >= {"ml_pipeline/pipeline.py",
                                                                          "python_only/pipeline.py"}


@pytest.mark.parametrize("path", BUILT_IN_PYTHON, ids=lambda p: p.relative_to(SPECS).as_posix())
def test_export_reads_back_as_the_same_pipeline(orch, path):
    code, out, err = orch("export", path)
    assert (code, err) == (0, "") and out.startswith(f"# written by orch export from {path}\napiVersion: orch/v1\n")
    assert parse_spec(out).pipeline.model_dump() == load_spec(path).pipeline.model_dump()


def test_export_writes_a_file_whole(orch, project):
    code, out, _ = orch("export", EXAMPLE, "-o", "out/house-prices.yaml")
    assert (code, out) == (0, "wrote out/house-prices.yaml\n") and os.listdir("out") == ["house-prices.yaml"]
    text = Path("out/house-prices.yaml").read_text(encoding="utf-8")
    assert "  train:\n    python: steps:train\n" in text  # what a step does first
    assert "    outputs:\n      model: artifact\n      val_rmse: number\n" in text  # from its TypedDict
    assert orch("validate", "out/house-prices.yaml")[0] == 0


def test_the_python_only_example_validates_draws_and_renders(orch, project):
    assert orch("validate", EXAMPLE) == (0, f"ok: {EXAMPLE}: pipeline 'house-prices', 6 steps\n", "")
    code, out, _ = orch("graph", EXAMPLE)
    assert code == 0 and '  s2["train<br/>steps:train<br/>foreach (parallelism 2)"]' in out
    assert '  s4 -->|"r2"| s5' in out
    code, out, _ = orch("render", EXAMPLE, "-b", "all", "-o", "rendered")
    assert code == 0 and sorted(p.as_posix() for p in Path("rendered").rglob("*.*")) == [
        "rendered/airflow/house_prices_dag.py", "rendered/argo/house-prices.workflow.yaml",
        "rendered/prefect/house_prices_flow.py"]


def test_the_python_only_example_runs_locally(orch, project):
    code, out, _ = orch("run", EXAMPLE, "--json")
    result = json.loads(out)
    steps = result["steps"]
    assert code == 0 and {name: step["status"] for name, step in steps.items()} == dict.fromkeys(
        ["make_dataset", "split", "train", "select", "evaluate", "publish"], "succeeded")
    assert len(steps["train"]["outputs"]["model"]) == len(steps["train"]["outputs"]["val_rmse"]) == 4
    assert steps["select"]["outputs"]["l2"] in (0.0, 1.0, 10.0, 100.0) and steps["evaluate"]["outputs"]["r2"] > 0.9
    published = Path(steps["publish"]["outputs"]["result"])
    assert published == Path(".orch/house-prices-registry") / result["run_id"] / "model.json" and published.is_file()
    assert json.loads(published.read_text())["weights"]


def test_a_python_spec_resumes_from_its_recorded_path(orch, project):
    project("flow/pipeline.py", """
        from pathlib import Path

        from orch.core.builder import PipelineBuilder

        pipe = PipelineBuilder("flaky")


        @pipe.step
        def first() -> int:
            return 7


        @pipe.step(args={"n": first.outputs.result})
        def second(n: int) -> int:
            if not Path("go").exists():
                raise RuntimeError("not yet")
            return n + 1
    """)
    code, out, _ = orch("run", "flow/pipeline.py:pipe", "--json")
    run_id = json.loads(out)["run_id"]
    assert code == 1 and json.loads(out)["steps"]["second"]["error"] == "RuntimeError: not yet"
    Path("go").touch()
    code, out, _ = orch("run", "--resume", run_id, "--json")
    steps = json.loads(out)["steps"]
    assert code == 0 and steps["second"]["outputs"] == {"result": 8} and steps["first"]["attempts"] == 1


RECORDS = """
    from dataclasses import dataclass
    from typing import NamedTuple

    from orch.core.builder import PipelineBuilder


    class Pair(NamedTuple):
        n: int
        label: str


    @dataclass
    class Score:
        value: float
        ok: bool


    pipe = PipelineBuilder("records")


    @pipe.step
    def pair() -> Pair:
        return Pair(2, "two")


    @pipe.step(args={"n": pair.outputs.n})
    def score(n: int) -> Score:
        return Score(n / 4, True)
"""


def test_a_step_returning_a_named_tuple_or_a_dataclass_runs_locally(orch, project):
    project("records.py", RECORDS)
    code, out, _ = orch("run", "records.py", "--json")
    steps = json.loads(out)["steps"]
    assert code == 0 and steps["pair"]["outputs"] == {"n": 2, "label": "two"}
    assert steps["score"]["outputs"] == {"value": 0.5, "ok": True}


SHIPPING = """
    from orch.core.builder import PipelineBuilder
    {imports}

    pipe = PipelineBuilder("shipped", code={{"ship": True}})
    pipe.step({module}.prepare, args={{"n": 3}})
"""
EVERYTHING = ["flow/helpers.py", "flow/pipeline.py", "other.txt", "pkg/__init__.py", "pkg/pipeline.py", "pkg/steps.py"]
PROJECT_FOLDERS = [
    ("flow/pipeline.py", ["helpers.py", "pipeline.py"]),
    ("pkg.pipeline:pipe", EVERYTHING),  # the working folder
    ("flow/pipeline.py:pipe", ["helpers.py", "pipeline.py"]),
    ("pkg/pipeline.py", EVERYTHING),  # a file in a package: the folder above the package (its steps are pkg.steps:fn)
]


@pytest.mark.parametrize("spec, shipped", PROJECT_FOLDERS)
def test_code_shipping_packs_the_project_the_steps_import_from(orch, project, spec, shipped):
    project("flow/pipeline.py", SHIPPING.format(imports="import helpers", module="helpers"))
    project("flow/helpers.py", STEPS)
    project("pkg/__init__.py")
    project("pkg/pipeline.py", SHIPPING.format(imports="from . import steps", module="steps"))
    project("pkg/steps.py", STEPS)
    project("other.txt", "not code")
    code, _, err = orch("render", spec, "-b", "argo")
    archive = re.search(r"code: (\S+\.tar\.gz) must be at", err)[1]
    with tarfile.open(archive) as packed:
        assert code == 0 and sorted(n for n in packed.getnames() if n != ".orch-code.json") == shipped
