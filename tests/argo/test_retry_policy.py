"""`retries.on` rendered for Argo (retryPolicy Always / OnFailure / OnError), played by Argo's rules
(backends/argo/play.py, processNodeRetries) against orch's (core/play.py) on the same draws -- failures and
errors, within and past the limit -- and the manifest against Argo's published schema."""

from __future__ import annotations

import itertools

import yaml

from orch.backends.argo.importer.behaviour import same
from orch.backends.argo.play import play as argo_play
from orch.backends.argo.render import render
from orch.core.load import parse_spec
from orch.core.play import Draw, play

from .test_render import check, validator  # noqa: F401 - the schema's validator, a fixture

SPEC = """\
apiVersion: orch/v1
name: policies
steps:
  fails: {command: [sh, -c, "exit 1"], retries: {limit: 2, on: failure}}
  errs: {command: [sh, -c, "exit 1"], retries: {limit: 2, on: error}}
  both: {command: [sh, -c, "exit 1"], retries: {limit: 2}}
  after: {command: [sh, -c, "true"], after: [fails, errs, both], trigger: all_done}
"""


def _manifest() -> dict:
    artifacts = render(parse_spec(SPEC, "policies.yaml"))
    return yaml.safe_load(next(a.text for a in artifacts if a.path.endswith(".workflow.yaml")))


def test_each_policy_is_argos_and_the_manifest_is_schema_valid(validator):
    (manifest,) = check(parse_spec(SPEC, "policies.yaml"), validator)  # Argo's schema, and orch's lint
    templates = {t["name"]: t for t in manifest["spec"]["templates"]}
    tasks = {t["name"]: t["template"] for t in templates["Main"]["dag"]["tasks"] if t["name"] in ("fails", "errs", "both")}
    policies = {task: templates[template]["retryStrategy"]["retryPolicy"] for task, template in tasks.items()}
    assert policies == {"fails": "OnFailure", "errs": "OnError", "both": "Always"}


def test_argo_and_orch_end_every_step_alike_on_every_draw():
    graph, manifest = parse_spec(SPEC, "policies.yaml"), _manifest()
    outcomes = [Draw(), *(Draw(fails, error) for fails in (1, 2, 3) for error in (False, True))]
    for fails, errs, both in itertools.product(outcomes, repeat=3):
        draws = {"fails": fails, "errs": errs, "both": both}
        theirs, ours = argo_play(manifest, draws), play(graph, draws)
        for name in draws:
            assert same(theirs.ends[name], ours.ends[name]), (name, draws[name], theirs.ends[name], ours.ends[name])
        assert (theirs.status == "Succeeded") == (ours.status == "succeeded"), draws
