"""The fidelity report's ledger accounts for every field, and its behaviour check finds a step that ends otherwise;
spec_yaml writes text that reads back as exactly its data, comments where asked."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orch.core.fidelity import (APPROXIMATED, MAPPED, UNSUPPORTED, Behaviour, Ledger, Report, Space, check, draws,
                                leaves, path_text)
from orch.core.play import Draw, Ending
from orch.core.spec_yaml import dump


def test_close_records_every_field_not_read_as_unsupported_and_keeps_the_worst_fate():
    document = {"spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "x"}}],
                         "podGC": {"strategy": "OnPodSuccess"}}}
    ledger = Ledger(lambda path: (len(path), 1))
    ledger.mapped(("spec", "entrypoint"))
    ledger.mapped(("spec", "templates", 0), target="steps.main")
    ledger.approximated(("spec", "templates", 0, "container", "image"), "pinned")
    ledger.mapped(("spec", "templates", 0, "container", "image"))  # read again: stays approximated
    entries = ledger.close(document)
    by_path = {e.path: e for e in entries}
    assert by_path["spec.podGC.strategy"].status == UNSUPPORTED
    assert by_path["spec.templates[0].container.image"].status == APPROXIMATED
    assert by_path["spec.templates[0]"].target == "steps.main"
    assert all(ledger.covered(path) for path in leaves(document))
    assert path_text(("spec", "templates", 2, "retryStrategy")) == "spec.templates[2].retryStrategy"


def test_exit_code_is_0_only_when_all_mapped_and_behaviour_checked():
    ledger = Ledger()
    ledger.mapped(("a",))
    clean = Report("f.yaml", "Argo Workflow", "w", ledger.close({"a": 1}), Behaviour(plays=4))
    assert clean.exit_code() == 0 and clean.as_json()["summary"] == {MAPPED: 1, APPROXIMATED: 0, UNSUPPORTED: 0}
    assert Report("f.yaml", "k", "w", clean.entries, Behaviour(plays=4, differing=1)).exit_code() == 1
    assert Report("f.yaml", "k", "w", clean.entries, Behaviour(not_checked="no player")).exit_code() == 1
    ledger.unsupported(("b",), "no such thing")
    assert Report("f.yaml", "k", "w", ledger.close({"a": 1, "b": 2}), Behaviour(plays=4)).exit_code() == 1


def test_check_lists_the_plays_where_a_step_ends_otherwise():
    def source(draw):  # a step that runs after a failure, as an `all_done` would
        a = "failed" if draw["a"].fails else "succeeded"
        return a, {"a": Ending(a, draw["a"].fails + 1 if a == "failed" else 1), "b": Ending("succeeded", 1)}

    def spec(draw):  # ... imported as a default trigger
        a = "failed" if draw["a"].fails else "succeeded"
        return a, {"a": Ending(a, draw["a"].fails + 1 if a == "failed" else 1),
                   "b": Ending("upstream_failed" if a == "failed" else "succeeded", 0 if a == "failed" else 1)}

    same = lambda x, y: x == y  # noqa: E731
    found = check(source, spec, {"a": Space(max_fails=0)}, {"a": "a", "b": "b"}, same, str.__eq__, plays=40)
    assert found.differing and not found.checked
    assert "b: succeeded after 1 attempt in the source, upstream_failed in the spec" in found.differences[0]
    agreeing = check(source, source, {"a": Space()}, {"a": "a", "b": "b"}, same, str.__eq__, plays=40)
    assert agreeing.checked and agreeing.summary().startswith("behaviour checked: 40 plays")


def test_draws_are_reproducible_and_reach_every_fate():
    spaces = {"t": Space(max_fails=2, errors=True, outputs={"side": ("heads", "tails")})}
    one, two = draws(spaces, 64, seed=7), draws(spaces, 64, seed=7)
    assert one == two
    fails = {d["t"].fails for d in one}
    assert fails == {0, 1, 2, 3} and {d["t"].outputs["side"] for d in one} == {"heads", "tails"}
    assert any(d["t"].error for d in one) and all(isinstance(d["t"], Draw) for d in one)


# what a spec's text may hold (yaml_source.py refuses control characters; YAML reads U+0085/2028/2029 as breaks)
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85\ufeff"),
                max_size=12)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    _text, st.sampled_from(["a\nb", "line\n", "x\n\n", " lead\nx", "tab\tx\ny", "${{ params.p }}", "- x",
                                            "# no", "'q'", '"d"', "yes", "null", "1e3", ":", "{a}"]))
_data = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(_text, inner, max_size=4)), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(_text, _data, min_size=1, max_size=5), commented=st.booleans())
def test_dump_reads_back_as_its_data(data, commented):
    comments = {path: "why\nand more" for path in list(leaves(data))[:3]} if commented else {}
    text = dump(data, comments, "imported by orch")
    assert yaml.safe_load(text) == data
    assert text.startswith("# imported by orch\n")


def test_dump_writes_comments_above_their_fields_and_text_as_blocks():
    text = dump({"steps": {"a": {"command": ["sh", "-c", "echo 1\necho 2\n"], "retries": {"limit": 3}}}},
                {("steps", "a", "retries"): "Argo's maxDuration is a deadline"})
    assert "    # Argo's maxDuration is a deadline\n    retries: {limit: 3}\n" in text
    assert "      - |\n        echo 1\n        echo 2\n" in text
