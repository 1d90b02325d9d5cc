"""The seed spec's Workflow beside the one an Argo user would write by hand (issue #11):
the hand-written file is a valid Workflow of the same pipeline, orch's is at most 3x its
lines, and docs/argo-side-by-side.md quotes both files as they are. When orch's rendering
changes, ORCH_REGENERATE=1 (never in CI) rewrites the doc's numbers and its copy of orch's file;
the prose around them is for a person to check."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from orch.backends.argo.render import render
from orch.core import load_spec

from .test_render import lint, validator  # noqa: F401 - the schema fixture

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "ml-training.yaml"
HANDWRITTEN = ROOT / "specs" / "handwritten" / "ml-training.argo.yaml"
DOC = ROOT / "docs" / "argo-side-by-side.md"
RENDERED_NAME = "ml-training-pipeline.workflow.yaml"


@pytest.fixture(scope="module")
def rendered() -> str:
    (artifact,) = render(load_spec(SPEC), kind="workflow")
    assert artifact.path == RENDERED_NAME
    if os.environ.get("ORCH_REGENERATE") and not os.environ.get("CI"):
        DOC.write_text(regenerated(DOC.read_text(encoding="utf-8"), artifact.text), encoding="utf-8")
    return artifact.text


def lines(text: str) -> int:
    """What `wc -l` counts: newline characters."""
    return text.count("\n")


def _runner_line(rendered: str) -> str:
    return next(line for line in rendered.splitlines(keepends=True) if line.lstrip().startswith("orch/runner:"))


def numbers(rendered: str) -> dict[str, float]:
    """The sizes (KB) and ratios the doc quotes, by their markers."""
    document = yaml.safe_load(rendered)
    runner = document["spec"]["workflowMetadata"]["annotations"]["orch/runner"]
    hand, ours = len(HANDWRITTEN.read_bytes()), len(rendered.encode())
    return {"size:handwritten": hand / 1000, "size:rendered": ours / 1000, "size:runner": len(runner.encode()) / 1000,
            "size:rest": (ours - len(_runner_line(rendered).encode())) / 1000,
            "ratio": lines(rendered) / lines(HANDWRITTEN.read_text(encoding="utf-8")), "ratio:bytes": ours / hand}


def shown(rendered: str) -> str:
    """orch's file as the doc shows it: the runner's line cut after a few lines of its Python."""
    line = _runner_line(rendered)
    return rendered.replace(line, "\\n".join(line.split("\\n")[:6]) + '\\n…"\n')


def regenerated(doc: str, rendered: str) -> str:
    hand = lines(HANDWRITTEN.read_text(encoding="utf-8"))
    doc = re.sub(r"^(\s*)\d+ (specs/handwritten/ml-training\.argo\.yaml)$", rf"\g<1>{hand} \2", doc, flags=re.M)
    doc = re.sub(rf"^(\s*)\d+ (rendered/{re.escape(RENDERED_NAME)})$", rf"\g<1>{lines(rendered)} \2", doc, flags=re.M)
    doc = re.sub(r"^(\s*)\d+ total$", rf"\g<1>{hand + lines(rendered)} total", doc, flags=re.M)
    for key, value in numbers(rendered).items():
        digits = 2 if key == "ratio" else 1
        doc = re.sub(rf"(<!-- {key} -->)[0-9.]+", lambda m: f"{m.group(1)}{value:.{digits}f}", doc)
    doc = re.sub(r"other \d+ lines", f"other {lines(rendered) - 1} lines", doc)
    head, _, rest = doc.rpartition("```yaml\n")
    return head + "```yaml\n" + shown(rendered) + rest[rest.index("```"):]


def test_handwritten_workflow_is_valid(validator):  # noqa: F811 - the fixture
    document = yaml.safe_load(HANDWRITTEN.read_text(encoding="utf-8"))
    errors = sorted(validator.iter_errors(document), key=str)
    assert not errors, errors[0]
    assert document["kind"] == "Workflow"
    problems = [p for p in lint(document) if not p.startswith("a tag orch did not write")]
    assert problems == []


def _seconds(duration) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", str(duration)))


def _steps(document: dict) -> dict:
    """Per step: what an Argo user checks the pipeline by (not how values travel)."""
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    main = templates[document["spec"]["entrypoint"]]
    out = {}
    for task in main["dag"]["tasks"]:
        if task["name"] not in templates or "container" not in templates[task["template"]]:
            continue
        template = templates[task["template"]]
        retry = template.get("retryStrategy", {})
        backoff = retry.get("backoff", {})
        container = template["container"]
        if task["name"].startswith("Orch-"):
            continue
        out[task["name"]] = {
            "image": container["image"],
            "resources": container.get("resources"),
            "outputs": [p["name"] for p in template.get("outputs", {}).get("parameters", [])],
            "artifacts": [a["name"] for a in template.get("outputs", {}).get("artifacts", [])],
            "inputs": len(template.get("inputs", {}).get("artifacts", [])),
            "deadline": template.get("activeDeadlineSeconds"),
            "retry": (retry.get("limit"), retry.get("retryPolicy"), _seconds(backoff.get("duration")),
                      backoff.get("factor"), _seconds(backoff.get("cap"))),
            "when": "when" in task,
        }
    return out


def test_handwritten_is_the_same_pipeline(rendered):
    mine = yaml.safe_load(HANDWRITTEN.read_text(encoding="utf-8"))
    ours = yaml.safe_load(rendered)
    assert _steps(mine) == _steps(ours)
    assert mine["spec"]["arguments"] == ours["spec"]["arguments"]
    # orch's runner sets a python step's env itself; the hand-written containers carry it
    spec = load_spec(SPEC).pipeline
    templates = {t["name"]: t for t in mine["spec"]["templates"]}
    for name, step in spec.steps.items():
        assert sorted(e["name"] for e in templates[name]["container"].get("env", [])) == sorted(step.env)


def test_orch_is_at_most_three_times_the_lines(rendered):
    assert lines(rendered) <= 3 * lines(HANDWRITTEN.read_text(encoding="utf-8"))


def test_doc_quotes_the_files_as_they_are(rendered):
    doc = DOC.read_text(encoding="utf-8")
    quoted = {name: int(count) for count, name in re.findall(r"^\s*(\d+) (\S+\.yaml)$", doc, re.M)}
    assert quoted == {"specs/handwritten/ml-training.argo.yaml": lines(HANDWRITTEN.read_text(encoding="utf-8")),
                      f"rendered/{RENDERED_NAME}": lines(rendered)}
    totals = re.findall(r"^\s*(\d+) total$", doc, re.M)
    assert totals == [str(sum(quoted.values()))]
    # sizes in KB and ratios, rounded: the runner's size follows orch's code, so within 10%
    for key, actual in numbers(rendered).items():
        match = re.search(rf"<!-- {key} -->([0-9.]+)(?: KB|x)", doc)
        assert match, f"no {key} in the doc"
        assert abs(float(match.group(1)) - actual) <= 0.1 * actual, (key, actual)
    assert f"other {lines(rendered) - 1} lines" in doc


def test_doc_shows_both_files(rendered):
    doc = DOC.read_text(encoding="utf-8")
    hand_block, ours_block = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    assert hand_block == HANDWRITTEN.read_text(encoding="utf-8")
    assert ours_block == shown(rendered)
