"""core/play.py plays a spec as orch runs it: random specs with triggers, conditions on outputs, retries, groups
and finally steps, played on random draws and run for real on the local backend with steps that fail exactly
the drawn attempts and return the drawn values -- every step's state and attempts, and the run's status, agree."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.backends.local.run import run
from orch.core.load import parse_spec
from orch.core.play import Draw, Ending, play

TRIGGERS = ["all_succeeded", "none_failed", "all_done", "any_failed"]
STEPS = textwrap.dedent('''
    """Steps of the play tests: fail the first `fails` attempts (counted in NAME.tries), then return `value`."""
    from pathlib import Path


    def act(name, fails, value):
        tries = Path(f"{name}.tries")
        count = len(tries.read_text()) + 1 if tries.exists() else 1
        tries.write_text("x" * count)
        if count <= fails:
            raise RuntimeError(f"attempt {count} fails on purpose")
        return value
''')


@st.composite
def cases(draw):
    """A spec of 2-7 steps, one maybe inside a group, with the draws that drive it."""
    count = draw(st.integers(2, 7))
    names = [f"s{i}" for i in range(count)]
    grouped = draw(st.sets(st.sampled_from(names[1:]), max_size=2)) if count > 2 else set()
    steps, group, draws = {}, {}, {}
    for i, name in enumerate(names):
        fails = draw(st.sampled_from([0, 0, 0, 1, 2, 3]))
        limit = draw(st.sampled_from([0, 0, 1, 2]))
        value = draw(st.sampled_from(["heads", "tails"]))
        qualified = f"g.{name}" if name in grouped else name
        draws[qualified] = (fails, value)
        step = {"python": "play_steps:act", "args": {"name": qualified, "fails": fails, "value": value},
                "outputs": {"side": "string"}}
        if limit:
            step["retries"] = limit
        earlier = [n for n in names[:i] if (n in grouped) == (name in grouped)]
        after = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
        if after:
            step["after"] = after
            step["trigger"] = draw(st.sampled_from(TRIGGERS))
            if draw(st.booleans()):
                step["when"] = f"steps.{after[0]}.outputs.side == 'heads'"
        (group if name in grouped else steps)[name] = step
    if group:
        outer = [n for n in names if n not in grouped and n < min(grouped)]
        steps["g"] = {"steps": group, **({"after": [outer[-1]], "trigger": draw(st.sampled_from(TRIGGERS))} if outer else {})}
    spec = {"apiVersion": "orch/v1", "name": "play", "steps": steps, "state_from": draw(st.sampled_from(["steps", "leaves"])),
            "finally": {"tell": {"python": "play_steps:act", "args": {"name": "tell", "fails": 0, "value": "x"},
                                 "when": "run.status == 'failed'"}}}
    return spec, draws


@pytest.fixture
def here(tmp_path, monkeypatch):
    (tmp_path / "play_steps.py").write_text(STEPS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    return tmp_path


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_play_agrees_with_a_real_local_run(here, case):
    spec, drawn = case
    import yaml

    graph = parse_spec(yaml.safe_dump(spec))
    for stale in here.glob("*.tries"):
        stale.unlink()
    result = run(graph, {}, home=here / ".orch")
    played = play(graph, {name: Draw(fails, outputs={"side": value}) for name, (fails, value) in drawn.items()})
    real = {name: Ending(step.status, step.attempts) for name, step in result.steps.items()}
    assert {n: e for n, e in played.ends.items()} == real
    assert played.status == result.status


def test_fail_fast_stops_every_step_after_the_first_failure_in_order():
    graph = parse_spec(textwrap.dedent("""\
        apiVersion: orch/v1
        name: ff
        fail_fast: true
        steps:
          a: {command: [x]}
          b: {command: [x], retries: 1}
          c: {command: [x], trigger: all_done, after: [a]}
        finally:
          f: {command: [x]}
        """))
    played = play(graph, {"b": Draw(fails=2)})
    assert played.ends == {"a": Ending("succeeded", 1), "b": Ending("failed", 2), "c": Ending("upstream_failed"),
                           "f": Ending("succeeded", 1)}
    assert played.status == "failed"


def test_an_empty_fan_out_succeeds_without_attempts():
    graph = parse_spec(textwrap.dedent("""\
        apiVersion: orch/v1
        name: empty
        steps:
          each: {command: [x], foreach: []}
          g: {foreach: [], steps: {inner: {command: [x]}}}
          next: {command: [x], after: [each, g]}
        """))
    assert play(graph, {}).ends == {"each": Ending("succeeded"), "g": Ending("succeeded"), "g.inner": Ending("succeeded"),
                                    "next": Ending("succeeded", 1)}


def test_a_group_written_before_the_step_it_waits_for_plays_after_it():
    graph = parse_spec(textwrap.dedent("""\
        apiVersion: orch/v1
        name: order
        steps:
          g:
            steps:
              x: {command: [x]}
              y: {command: [x], after: [a]}
          a: {command: [x], outputs: {r: string}}
        """))
    assert play(graph, {"a": Draw(fails=1)}).ends == {
        "a": Ending("failed", 1), "g": Ending("upstream_failed"), "g.x": Ending("upstream_failed"),
        "g.y": Ending("upstream_failed")}


def test_fail_fast_stops_the_later_members_of_the_failed_members_scope_only():
    """Per scope (docs/semantics.md#failure): a failure stops what follows it in its own group, a failed group what
    follows it in the group holding it; a group's own fail_fast overrides the one it inherits."""
    graph = parse_spec(textwrap.dedent("""\
        apiVersion: orch/v1
        name: scopes
        fail_fast: true
        steps:
          outer:
            steps:
              lenient:
                fail_fast: false
                steps:
                  breaks: {command: [x]}
                  goes-on: {command: [x], after: [breaks], trigger: all_done}
              after-lenient: {command: [x], after: [lenient], trigger: all_done}
          tail: {command: [x], after: [outer], trigger: all_done}
        """))
    assert play(graph, {"outer.lenient.breaks": Draw(fails=1)}).ends == {
        "outer": Ending("failed"), "outer.lenient": Ending("failed"), "outer.lenient.breaks": Ending("failed", 1),
        "outer.lenient.goes-on": Ending("succeeded", 1), "outer.after-lenient": Ending("upstream_failed"),
        "tail": Ending("upstream_failed")}
    graph = parse_spec(textwrap.dedent("""\
        apiVersion: orch/v1
        name: scopes
        steps:
          g:
            fail_fast: true
            steps:
              a: {command: [x]}
              b: {command: [x], after: [a], trigger: all_done}
          after-g: {command: [x], after: [g], trigger: all_done}
        """))
    assert play(graph, {"g.a": Draw(fails=1)}).ends == {
        "g": Ending("failed"), "g.a": Ending("failed", 1), "g.b": Ending("upstream_failed"),
        "after-g": Ending("succeeded", 1)}
