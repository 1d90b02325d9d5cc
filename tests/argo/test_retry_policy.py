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


POLICIES = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: policies-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: on-failure, template: on-failure}
      - {name: on-error, template: on-error}
      - {name: always, template: always}
      - {name: transient, template: transient}
  - {name: on-failure, retryStrategy: {limit: 2}, container: {image: busybox, command: [sh, -c, "exit 1"]}}
  - {name: on-error, retryStrategy: {limit: 2, retryPolicy: OnError}, container: {image: busybox, command: [sh, -c, "exit 1"]}}
  - {name: always, retryStrategy: {limit: 2, retryPolicy: Always}, container: {image: busybox, command: [sh, -c, "exit 1"]}}
  - {name: transient, retryStrategy: {limit: 2, retryPolicy: OnTransientError}, container: {image: busybox, command: [sh, -c, "exit 1"]}}
"""


def test_the_importer_maps_each_retry_policy_to_retries_on(tmp_path):
    from orch.backends.argo.importer import import_
    from orch.core.fidelity import APPROXIMATED, MAPPED

    source = tmp_path / "policies.yaml"
    source.write_text(POLICIES)
    [imported] = import_(source)
    steps = yaml.safe_load(imported.text)["steps"]
    assert {name: step["retries"].get("on", "any") for name, step in steps.items()} == \
        {"on-failure": "failure", "on-error": "error", "always": "any", "transient": "error"}
    status = {e.path: e.status for e in imported.report.entries if "retryStrategy" in e.path}
    assert status["spec.templates[1].retryStrategy"] == MAPPED  # OnFailure, Argo's default
    assert status["spec.templates[2].retryStrategy.retryPolicy"] == MAPPED
    assert status["spec.templates[3].retryStrategy.retryPolicy"] == MAPPED
    assert status["spec.templates[4].retryStrategy.retryPolicy"] == APPROXIMATED  # transient errors alone
    behaviour = imported.report.behaviour
    # errors are drawn (the policies tell them apart); only OnTransientError's may end otherwise than orch's
    assert behaviour.plays == 64 and behaviour.differing > 0 and all(d.count("transient:") == 1 and "on-failure:" not in d and "on-error:" not in d
                                         and "always:" not in d for d in behaviour.differences), behaviour.differences
