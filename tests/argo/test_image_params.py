"""`${{ params.P }}` in an image on Argo: the pod's image is `{{workflow.parameters.P}}` filled by Argo,
in a step's own template (up to 190 steps) and in the shared ones of a larger pipeline alike."""

from __future__ import annotations

import pytest
import yaml

from orch.core import parse_spec

from .test_render import check, validator  # noqa: F401 - the schema fixture


def spec(steps: int) -> str:
    body = {f"s{i}": {"command": ["echo", str(i)], "image": "${{ params.reg }}/busybox:${{ params.tag }}"} for i in range(steps)}
    body["py"] = {"python": "pkg.m:f", "image": "python:${{ params.tag }}-slim"}
    return yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": body,
                           "params": {"tag": {"type": "string", "default": "1.36"}, "reg": {"type": "string", "default": "r.io"}}})


@pytest.mark.parametrize("steps", [2, 200], ids=["own templates", "shared templates"])
def test_an_image_names_workflow_parameters_and_passes_the_schema(steps, validator):
    (workflow, *_) = check(parse_spec(spec(steps)), validator)
    images = {c["image"] for c in _containers(workflow)}
    assert {"{{workflow.parameters.reg}}/busybox:{{workflow.parameters.tag}}", "python:{{workflow.parameters.tag}}-slim"} <= images
    assert not any("${{" in image for image in images)
    assert {p["name"] for p in workflow["spec"]["arguments"]["parameters"]} == {"tag", "reg"}


def _containers(document: dict):
    for template in document["spec"].get("templates", []):
        if "container" in template:
            yield template["container"]
