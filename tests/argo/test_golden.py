"""Golden files: each example spec's Argo manifests, compared with the committed copies in
tests/golden/<spec>/argo/. A change shows as a reviewable diff; regenerate with
ORCH_REGENERATE=1 (never in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orch.backends.argo.render import render
from orch.core import load_spec

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_argo_manifests_match_their_golden_files(spec):
    folder = GOLDEN / spec.stem / "argo"
    artifacts = render(load_spec(spec))
    if os.environ.get("ORCH_REGENERATE") and not os.environ.get("CI"):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
        for artifact in artifacts:
            (folder / artifact.path).write_text(artifact.text, encoding="utf-8")
    assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(a.path for a in artifacts)
    for artifact in artifacts:
        assert artifact.text == (folder / artifact.path).read_text(encoding="utf-8"), f"{artifact.path} changed"
