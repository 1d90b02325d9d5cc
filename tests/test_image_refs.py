"""`${{ params.P }}` inside a step's `image`: what validation accepts and refuses, located.

How each backend renders it is tested beside that backend (tests/argo, tests/airflow).
"""

from __future__ import annotations

import pytest

from orch.core.errors import SpecError
from orch.core.load import parse_spec

H = "apiVersion: orch/v1\nname: p\nparams:\n  tag: {type: string, default: '1.36'}\n  reg: {type: string, default: r.io}\n"


def problems(steps: str, defaults: str = "") -> list[tuple]:
    text = H + defaults + "steps:\n" + steps
    with pytest.raises(SpecError) as error:
        parse_spec(text, "p.yaml")
    return [(d.code, d.field, d.line, d.col) for d in error.value.diagnostics]


@pytest.mark.parametrize("image", ["busybox:${{ params.tag }}", "${{ params.reg }}/app:1", "${{params.reg}}/x:${{ params.tag }}",
                                   "reg/app@sha256:${{ params.tag }}"])
def test_params_in_an_image_validate_and_the_image_is_kept_as_written(image):
    graph = parse_spec(H + f"steps:\n  a: {{image: '{image}', command: [true]}}\n", "p.yaml")
    assert graph.pipeline.steps["a"].image == image


def test_an_output_or_item_in_an_image_is_refused_at_its_column():
    found = problems("  a: {command: [true], outputs: {o: string}}\n"
                     "  b: {image: 'x/${{ steps.a.outputs.o }}:1', command: [true]}\n"
                     "  c: {image: 'x:${{ item }}', command: [true], foreach: [1]}\n")
    assert found == [("E226", "steps.b.image", 8, 17), ("E226", "steps.c.image", 9, 17)]


def test_an_unknown_param_in_an_image_is_located_and_so_is_a_malformed_reference():
    found = problems("  a: {image: 'x:${{ params.tga }}', command: [true]}\n  b: {image: 'x:${{ params.tag', command: [true]}\n")
    assert [f[:2] for f in found] == [("E502", "steps.a.image"), ("E501", "steps.b.image")]


def test_the_rest_of_the_image_must_still_be_kubernetes_syntax_and_the_error_quotes_it_as_written():
    with pytest.raises(SpecError) as error:
        parse_spec(H + "steps:\n  a: {image: 'bad name:${{ params.tag }}', command: [true]}\n", "p.yaml")
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == "E223" and "'bad name:${{ params.tag }}'" in diagnostic.message


def test_a_default_image_is_reported_once_where_it_is_written():
    found = problems("  a: {command: [true]}\n  b: {command: [true]}\n", defaults="defaults:\n  image: 'x:${{ params.nope }}'\n")
    assert [f[:3] for f in found] == [("E502", "defaults.image", 7)]
