"""An import's fidelity report: every field and task of the source accounted for, located, and the behaviour
of the spec it became compared with the source's on the same draws.

An importer records each source field it reads in a `Ledger` -- mapped (same meaning in the spec), approximated
(what differs, said), unsupported (why) -- and `Ledger.close` records every field it did not read as
unsupported, so nothing is dropped silently. An entry covers its field and everything under it: an importer
marks a subtree whole only where it keeps it whole (a pod spec patch, a label map).
The behaviour check plays the source through its engine's rules and the spec through orch's (play.py) on the
same random draws and lists every step that ended differently.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .play import Draw, Ending

MAPPED, APPROXIMATED, UNSUPPORTED = "mapped", "approximated", "unsupported"
Path = tuple  # keys and list indexes from the document's root
PLAYS = 64  # draws per behaviour check: every task fails, retries and succeeds in some of them
MAX_DIFFERENCES = 20  # a report lists at most this many differing plays (the count says how many there were)


def path_text(path: Path) -> str:
    """`spec.templates[2].retryStrategy`: a path as a reader finds it in the file."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class Entry:
    """One source field: what became of it, where it is, where it went (`target`, a path in the spec)."""

    path: str
    status: str
    line: int | None = None
    col: int | None = None
    target: str | None = None
    note: str = ""


@dataclass
class Behaviour:
    """The behaviour check: `plays` draws played on both sides; `differences` says where they parted."""

    plays: int = 0
    differences: list[str] = field(default_factory=list)
    differing: int = 0  # plays that differed (differences lists at most MAX_DIFFERENCES)
    not_checked: str = ""  # why no play was made
    proved_by: str = ""  # what else holds the spec to the source, where nothing needed playing (a file orch rendered)

    @property
    def checked(self) -> bool:
        return bool(self.proved_by) or (self.plays > 0 and not self.differing and not self.not_checked)

    def summary(self) -> str:
        if self.proved_by:
            return f"behaviour checked: {self.proved_by}"
        if self.not_checked:
            return f"behaviour not checked: {self.not_checked}"
        if self.differing:
            return f"behaviour differs in {self.differing} of {self.plays} plays"
        return f"behaviour checked: {self.plays} plays, every step ended as in the source"


@dataclass
class Report:
    """What `orch import` says about one source pipeline."""

    source: str  # the file
    kind: str  # 'Argo Workflow', 'Argo CronWorkflow', 'Airflow DAG', …
    name: str
    entries: list[Entry]
    behaviour: Behaviour = field(default_factory=Behaviour)

    def count(self, status: str) -> int:
        return sum(1 for e in self.entries if e.status == status)

    @property
    def clean(self) -> bool:
        """Everything mapped and the behaviour checked: exit 0."""
        return all(e.status == MAPPED for e in self.entries) and self.behaviour.checked

    @property
    def nothing_unsupported(self) -> bool:
        return not self.count(UNSUPPORTED)

    def exit_code(self) -> int:
        return 0 if self.clean else 1

    def as_json(self) -> dict:
        return {"source": self.source, "kind": self.kind, "name": self.name,
                "summary": {s: self.count(s) for s in (MAPPED, APPROXIMATED, UNSUPPORTED)},
                "behaviour": {**asdict(self.behaviour), "checked": self.behaviour.checked,
                              "summary": self.behaviour.summary()},
                "entries": [asdict(e) for e in self.entries]}

    def headline(self) -> str:
        return (f"{self.source}: {self.kind} {self.name!r}: {self.count(MAPPED)} mapped, "
                f"{self.count(APPROXIMATED)} approximated, {self.count(UNSUPPORTED)} unsupported; "
                f"{self.behaviour.summary()}")


@dataclass
class Imported:
    """One pipeline an import found: its name, its spec's YAML text (loads with parse_spec), its report."""

    name: str
    text: str
    report: Report


def reports_json(reports: Iterable[Report]) -> str:
    return json.dumps([r.as_json() for r in reports], indent=2, ensure_ascii=False) + "\n"


class Ledger:
    """Where an importer writes down what became of each source field. `locate(path)` gives (line, col)."""

    def __init__(self, locate: Callable[[Path], tuple[int | None, int | None]] | None = None):
        self.locate = locate or (lambda path: (None, None))
        self.entries: dict[Path, Entry] = {}

    def mapped(self, path: Path, target: str | None = None, note: str = "") -> None:
        self._add(path, MAPPED, target, note)

    def approximated(self, path: Path, note: str, target: str | None = None) -> None:
        self._add(path, APPROXIMATED, target, note)

    def unsupported(self, path: Path, note: str) -> None:
        self._add(path, UNSUPPORTED, None, note)

    def _add(self, path: Path, status: str, target: str | None, note: str) -> None:
        path = tuple(path)
        known = self.entries.get(path)
        if known is not None and _RANK[known.status] >= _RANK[status]:
            return  # a field read twice keeps its worst fate
        line, col = self.locate(path)
        self.entries[path] = Entry(path_text(path), status, line, col, target, note)

    def covered(self, path: Path) -> bool:
        """Whether an entry accounts for `path`: one for it or for a field above it."""
        return any(tuple(path[:i]) in self.entries for i in range(len(path), 0, -1))

    def close(self, document: Any, root: Path = ()) -> list[Entry]:
        """Every field of `document` (at `root`) no entry covers, recorded unsupported; the entries in file order."""
        for path in leaves(document, root):
            if not self.covered(path):
                self.unsupported(path, "not read by the importer")
        return sorted(self.entries.values(), key=lambda e: (e.line or 0, e.col or 0, e.path))


_RANK = {MAPPED: 0, APPROXIMATED: 1, UNSUPPORTED: 2}


def leaves(document: Any, root: Path = ()) -> Iterable[Path]:
    """The path of every key and list item of `document` that holds a scalar, or an empty mapping or list."""
    if isinstance(document, dict) and document:
        for key, value in document.items():
            yield from leaves(value, (*root, key))
    elif isinstance(document, list) and document:
        for i, value in enumerate(document):
            yield from leaves(value, (*root, i))
    elif root:
        yield root


# --- the behaviour check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    """What a task's draws range over: failed attempts 0..max_fails, errors or failures, and for each output a
    condition reads, the values it may take (the literals it is compared with, and one that is none of them)."""

    max_fails: int = 0
    errors: bool = False  # whether the source tells an error from a failure (Argo's retryPolicy)
    outputs: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


def draws(spaces: Mapping[str, Space], plays: int = PLAYS, seed: int = 0) -> list[dict[str, Draw]]:
    """`plays` random draws over `spaces`, reproducible from `seed`: about one task in four fails some attempts."""
    rng = random.Random(seed)
    found = []
    for _ in range(plays):
        one = {}
        for task, space in spaces.items():
            fails = rng.randint(1, space.max_fails + 1) if rng.random() < 0.25 else 0
            outputs = {name: rng.choice(values) for name, values in space.outputs.items() if values}
            one[task] = Draw(fails, bool(space.errors and fails and rng.random() < 0.5), outputs)
        found.append(one)
    return found


def compare(source: Mapping[str, Ending], spec: Mapping[str, Ending], names: Mapping[str, str],
            same: Callable[[Ending, Ending], bool]) -> list[str]:
    """The steps that ended differently: `names` maps each source task to its step; `same` says whether a source
    end and a spec end agree (engines name states differently: Argo's Omitted is orch's not run)."""
    differing = []
    for task, step in names.items():
        ours, theirs = spec.get(step, Ending("not played")), source.get(task, Ending("not played"))
        if not same(theirs, ours):
            differing.append(f"{task}: {_end(theirs)} in the source, {_end(ours)} in the spec")
    return differing


def _end(ending: Ending) -> str:
    return f"{ending.state} after {ending.attempts} attempt{'s' * (ending.attempts != 1)}" if ending.attempts else ending.state


def check(play_source: Callable[[dict[str, Draw]], tuple[str, Mapping[str, Ending]]],
          play_spec: Callable[[dict[str, Draw]], tuple[str, Mapping[str, Ending]]],
          spaces: Mapping[str, Space], names: Mapping[str, str], same: Callable[[Ending, Ending], bool],
          same_status: Callable[[str, str], bool], seed: int = 0, plays: int = PLAYS) -> Behaviour:
    """Both sides played on the same draws; every play where a step, or the run, ended differently, described."""
    behaviour = Behaviour(plays=plays)
    for i, draw in enumerate(draws(spaces, plays, seed)):
        source_status, source_ends = play_source(draw)
        spec_status, spec_ends = play_spec(draw)
        differing = compare(source_ends, spec_ends, names, same)
        if not same_status(source_status, spec_status):
            differing.append(f"the run: {source_status} in the source, {spec_status} in the spec")
        if differing:
            behaviour.differing += 1
            if len(behaviour.differences) < MAX_DIFFERENCES:
                failing = ", ".join(f"{t} fails {d.fails}" for t, d in draw.items() if d.fails) or "nothing fails"
                behaviour.differences.append(f"play {i + 1} ({failing}): " + "; ".join(differing))
    return behaviour
