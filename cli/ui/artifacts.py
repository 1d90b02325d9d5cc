"""A step's artifacts as the step page lists them, and the one way a file of a run is read for download.

A run's artifacts are under `<store>/<pipeline>/<run id>/` (core/artifacts.py); the UI serves files from
there only, for a store that is a folder on this machine. Every path is resolved (symlinks followed) and
must stay inside that folder: `..`, absolute paths and links leading out name no file.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import quote, unquote, urlsplit

PREVIEW_BYTES = 64 << 10  # what a preview reads of a file, at most
PREVIEW_LIMIT = 1 << 20  # a file larger than this is not previewed (images: 4 MiB)
IMAGE_LIMIT = 4 << 20
CSV_ROWS = 20
IMAGES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
          (b"GIF89a", "image/gif"))


@dataclass
class Artifact:
    output: str
    item: str  # "" for one file; the item's index for a fan-out's
    uri: str
    size: Optional[int] = None
    href: Optional[str] = None  # the download link, when the UI can serve it
    kind: str = ""  # text, json, csv, image, or "" (no preview)
    text: str = ""  # the preview's text (text, json)
    rows: Optional[list] = None  # the preview's rows (csv)
    data_uri: Optional[str] = None  # an image inlined (the single-file report)


def run_folder(store_url: Optional[str], pipeline: str, run_id: str) -> Optional[Path]:
    """The run's folder in its artifact store, when that store is a folder here; None otherwise."""
    if not store_url or not store_url.startswith("file://"):
        return None
    root = Path(unquote(urlsplit(store_url).path))
    if run_id in ("", ".", "..") or "/" in run_id or pipeline in ("", ".", "..") or "/" in pipeline:
        return None
    return root / pipeline / run_id


def inside(base: Optional[Path], relative: str) -> Optional[Path]:
    """The regular file `relative` names inside `base`, or None: never a path that leaves it."""
    if base is None or not relative or "\x00" in relative or relative.startswith("/") or "\\" in relative:
        return None
    if any(part in ("..", ".", "") for part in relative.split("/")):
        return None
    try:
        root = base.resolve(strict=True)
        target = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a loop of links
        return None
    if not target.is_relative_to(root) or target == root or not target.is_file():
        return None
    return target


def step_artifacts(outputs: dict, declared: dict, folder: Optional[Path], run_id: str) -> list[Artifact]:
    """Each artifact output's files (a fan-out's: one per item, a group's fan-out: nested lists flattened)."""
    found = []
    for name, kind in declared.items():
        if kind != "artifact" or name not in outputs:
            continue
        for item, uri in _flat(outputs[name]):
            if isinstance(uri, str):
                found.append(_artifact(name, item, uri, folder, run_id))
    return found


def _flat(value, prefix: str = ""):
    if isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _flat(inner, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, value


def _artifact(output: str, item: str, uri: str, folder: Optional[Path], run_id: str) -> Artifact:
    artifact = Artifact(output, item, uri)
    if folder is None or not uri.startswith("file://"):
        return artifact
    path = Path(unquote(urlsplit(uri).path))
    try:
        relative = path.relative_to(folder).as_posix()
    except ValueError:
        return artifact
    target = inside(folder, relative)
    if target is None:
        return artifact
    artifact.size = target.stat().st_size
    artifact.href = f"/runs/{quote(run_id, safe='')}/files/{quote(relative)}"
    _preview(artifact, target)
    return artifact


def _preview(artifact: Artifact, path: Path) -> None:
    size = artifact.size or 0
    if path.name.endswith(".tar") or size == 0:
        return
    with open(path, "rb") as handle:
        head = handle.read(PREVIEW_BYTES)
    image = content_type(head)
    if image.startswith("image/"):
        if size <= IMAGE_LIMIT:
            artifact.kind = "image"
        return
    if size > PREVIEW_LIMIT or b"\x00" in head:
        return
    text = _decoded(head)
    if text is None:
        return
    cut = size > len(head)
    if not cut:
        try:
            artifact.kind, artifact.text = "json", json.dumps(json.loads(text), indent=2, ensure_ascii=False)[:PREVIEW_BYTES]
            return
        except ValueError:
            pass
    rows = _csv_rows(text)
    if rows:
        artifact.kind, artifact.rows = "csv", rows
        return
    artifact.kind, artifact.text = "text", text + ("\n…" if cut else "")


def _decoded(head: bytes) -> Optional[str]:
    """`head` as UTF-8 text, allowing its last character to be cut (a prefix of a file); None if not text."""
    for back in (0, 1, 2, 3):
        try:
            return head[:len(head) - back].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _csv_rows(text: str) -> Optional[list]:
    """The first rows of a table: at least two lines, each with the same number (>1) of comma-separated cells."""
    lines = text.splitlines()[: CSV_ROWS + 1]
    if len(lines) < 2:
        return None
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
    except csv.Error:
        return None
    widths = {len(row) for row in rows if row}
    return rows if len(widths) == 1 and widths.pop() > 1 else None


def content_type(head: bytes) -> str:
    """What a served file is said to be: an image by its magic bytes, text when it decodes, else bytes."""
    for magic, kind in IMAGES:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if b"\x00" not in head[:PREVIEW_BYTES] and _decoded(head[:PREVIEW_BYTES]) is not None:
        return "text/plain; charset=utf-8"
    return "application/octet-stream"
