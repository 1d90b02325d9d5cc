"""Where artifacts live: the store a run uses, and the keys every backend writes in it.

Pure and standard library only: choosing the store and naming keys needs no object-store
client (moving bytes is `orch.backends.transfer`). A run's store is, in this order,
`orch run --artifacts URL`, `$ORCH_ARTIFACTS`, the spec's `artifacts.store`, and else the
folder `artifacts` under `$ORCH_HOME` (`.orch`). Keys are the same on every backend:

    <store>/<pipeline>/<run id>/<step>/<output>            a file, stored as it is
    <store>/<pipeline>/<run id>/<step>/<output>.tar        a folder, as one POSIX tar
    .../<step>/<output>/<item index>[.tar]                 one item of a fan-out

No name orch takes holds a '.', so `.tar` can never meet another output's key.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import urlsplit

ENV = "ORCH_ARTIFACTS"
FOLDER_SUFFIX = ".tar"
PARAMS_FOLDER = ".params"  # under an attempt's inputs: artifact params' copies (no step name starts with '.')
PROBE = ".orch-probe"  # written and removed under the run's prefix to check the store before any step runs

_SCHEME_ONLY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/?[^/]")  # s3:/bucket, gs:bucket: a URL that lost its '//'
_CREDENTIALS_HINT = "give credentials the way the engine expects them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " \
                    "an Airflow connection, Argo's artifact repository), never in the URL"


def store_problem(store: str) -> Optional[tuple[str, str]]:
    """Why `store` cannot be an artifact store URL, with a hint; None if it can."""
    if not store.strip():
        return "an artifact store cannot be empty", "s3://bucket/prefix, or a folder"
    if "${{" in store:
        return ("an artifact store cannot hold references",
                "the store is chosen before any step runs; use --artifacts or $ORCH_ARTIFACTS")
    if "{{" in store or "{%" in store:
        return ("an artifact store cannot hold '{{' or '{%'", "Argo and Airflow would read it as their own templating")
    if "://" not in store:
        if _SCHEME_ONLY.match(store):
            return f"{store!r} is a URL missing its '//'", "s3://bucket/prefix, file:///folder"
        return None  # a folder on this machine
    parts = urlsplit(store)
    if parts.username is not None or parts.password is not None:
        return f"the artifact store {redacted(store)!r} holds credentials", _CREDENTIALS_HINT
    if parts.query or parts.fragment:  # (a query may hold a token: not repeated)
        return (f"the artifact store {store.split('?')[0].split('#')[0]!r} has a query or a fragment (not shown)",
                "give the store as scheme://bucket/prefix; " + _CREDENTIALS_HINT)
    if not parts.scheme.isascii() or not parts.scheme[:1].isalpha():
        return f"{store!r} is not a URL orch can read", "s3://bucket/prefix, gs://bucket/prefix, file:///folder"
    if parts.scheme != "file" and not parts.netloc:
        return f"the artifact store {store!r} names no bucket", "s3://bucket/prefix"
    return None


def shown(uri: str) -> str:
    """`uri` as a message may show it: no credentials, no query or fragment (a presigned URL's signature)."""
    return redacted(uri.split("?")[0].split("#")[0])


def redacted(store: str) -> str:
    """`store` without what stands before an '@' in its authority, for messages."""
    scheme, sep, rest = store.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}***@{authority.rpartition('@')[2]}{slash}{path}" if "@" in authority else store


def normalized(store: str) -> str:
    """The store as a URL without a trailing '/': a folder becomes `file://` and absolute."""
    if "://" not in store:
        return "file://" + str(Path(store).expanduser().resolve())
    if store.startswith("file://"):
        return "file://" + str(Path(store[len("file://"):] or "/").expanduser().resolve())
    return store.rstrip("/")


def default_store(environ: Mapping[str, str] = os.environ) -> str:
    return str(Path(environ.get("ORCH_HOME") or ".orch") / "artifacts")


def choose_store(flag: Optional[str], spec_store: Optional[str],
                 environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The run's store URL and where it came from (flag > env > spec > default); ValueError if unusable."""
    for origin, store in (("--artifacts", flag), (f"${ENV}", environ.get(ENV)), ("artifacts.store", spec_store)):
        if store:
            problem = store_problem(store)
            if problem:
                raise ValueError(f"{origin}: {problem[0]}\n  hint: {problem[1]}")
            return normalized(store), origin
    return normalized(default_store(environ)), "the default"


def artifact_key(pipeline: str, run_id: str, step: str, output: str, item=None) -> str:
    """The key of an artifact under the store, before `.tar` for a folder. Each part is one segment: a run id an
    engine lets a user pick (Airflow's) cannot climb out of the run's prefix. `item`: a fan-out's index, or the
    indexes of the fan-outs around a step in groups, outermost first (a step's own last)."""
    items = [] if item is None else list(item) if isinstance(item, (list, tuple)) else [item]
    parts = [pipeline, str(run_id), step, output] + [str(i) for i in items]
    for part in parts:
        if part in ("", ".", "..") or "/" in part:
            raise ValueError(f"{part!r} cannot be part of an artifact's key")
    return "/".join(parts)


def is_folder(uri: str) -> bool:
    """Whether the artifact at `uri` is a folder (stored as a tar)."""
    return uri.endswith(FOLDER_SUFFIX)


def artifact_outputs(outputs: Mapping[str, str]) -> list[str]:
    """The names of the artifact outputs among declared `outputs` (name -> type)."""
    return [name for name, kind in outputs.items() if kind == "artifact"]


def is_artifact(pipeline, step: str, output: str) -> bool:
    """Whether `steps.<step>.outputs.<output>` is a declared artifact."""
    return (step, output) in artifact_names(pipeline)


_NAMES: "OrderedDict[int, tuple]" = OrderedDict()  # id -> (pipeline, its artifacts): the last few pipelines asked about


def artifact_names(pipeline) -> frozenset:
    """(step, output) of every artifact output: asked once per step and reference by renderers, so kept for the
    last few pipelines (the pipeline is held with it, so its id cannot be another's meanwhile)."""
    kept = _NAMES.get(id(pipeline))
    if kept is None or kept[0] is not pipeline:
        names = {(name, output) for name, step in pipeline.all_steps.items()
                 for output, kind in step.outputs.items() if kind == "artifact"}
        if pipeline.groups:
            from .groups import leaf_source

            names |= {(group, output) for group, spec in pipeline.groups.items() for output in spec.outputs
                      if leaf_source(pipeline, group, output) in names}
        names = frozenset(names)
        kept = _NAMES[id(pipeline)] = (pipeline, names)
        while len(_NAMES) > 8:
            _NAMES.popitem(last=False)
    return kept[1]


def spec_store(pipeline) -> Optional[str]:
    """The store the spec names (`artifacts.store`), or None."""
    return pipeline.artifacts.store if pipeline.artifacts else None


def uses_artifacts(pipeline) -> bool:
    """Whether any step of the pipeline outputs an artifact."""
    return bool(artifact_names(pipeline))


def code_uri(store, sha):
    """Where the packed code `sha` (its sha256) lies in a store: `<store>/code/<sha>.tar.gz`, content-addressed."""
    return f"{store.rstrip('/')}/code/{sha}.tar.gz"


def ships_code(pipeline) -> bool:
    """Whether the pipeline's code travels through the store (`code: {ship: true}`)."""
    return bool(pipeline.code and pipeline.code.ship)


def needs_store(pipeline) -> bool:
    """Whether a run needs a store: for artifacts, or for the code it ships."""
    return uses_artifacts(pipeline) or ships_code(pipeline)


def artifacts_read(pipeline, step) -> list:
    """The references to artifacts in a step's args, env and command (the copies it fetches before it runs)."""
    from .refs import find_refs, iter_strings

    if not artifact_names(pipeline):
        return []
    refs = [ref for _, text in iter_strings([step.args, step.env, step.command or []]) for ref in find_refs(text)]
    return [r for r in refs if r.kind == "output" and is_artifact(pipeline, r.step, r.name)]


def params_read(pipeline, step) -> list:
    """The names of the artifact params a step's args, env and command read (copies it fetches before it runs)."""
    from .refs import find_refs, iter_strings

    names = artifact_params(pipeline)
    if not names:
        return []
    refs = [ref for _, text in iter_strings([step.args, step.env, step.command or []]) for ref in find_refs(text)]
    return list(dict.fromkeys(r.name for r in refs if r.kind == "param" and r.name in names))


# An artifact param (`params: {data: {type: artifact, default: URI}}`): data from outside the pipeline, by URI.
# The schemes orch fetches through fsspec (s3fs, gcsfs, adlfs, aiohttp serve them) and renders as Argo's own
# input-artifact locations; a URI ending in '/' is a folder, anything else a file, fetched as it is (no tar).
PARAM_SCHEMES = ("s3", "gs", "az", "http", "https", "file")
PARAM_URI_HINT = "s3://bucket/key, gs://bucket/key, az://container/blob, https://host/path, file:///path or /path " \
                 "(a '/' at the end: a folder)"


def param_uri_problem(uri) -> Optional[str]:
    """Why `uri` cannot be an artifact param's value (the hint is PARAM_URI_HINT); None if it can."""
    if not isinstance(uri, str):
        return f"an artifact param's value is a URI, not {type(uri).__name__}"
    if "${{" in uri or "{{" in uri or "{%" in uri:
        return "an artifact param's URI cannot hold references or '{{'"
    if uri.startswith("/"):
        return None if uri.strip("/") else "'/' is not a file or a folder to fetch"
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in PARAM_SCHEMES:  # lower case, as fsspec knows its protocols
        return f"{shown(uri)!r} is not a URI orch can fetch"
    parts = urlsplit(uri)
    if scheme == "file" and parts.netloc:  # file://data/x would read data/x from the cwd
        return f"the URI {shown(uri)!r} names a host; a file URI is file:///absolute/path"
    if parts.username is not None or parts.password is not None:
        return f"the URI {shown(uri)!r} holds credentials; " + _CREDENTIALS_HINT
    if scheme not in ("http", "https") and (parts.query or parts.fragment):
        return f"the URI {shown(uri)!r} has a query or a fragment (not shown)"
    if scheme != "file" and not parts.netloc:
        return f"the URI {shown(uri)!r} names no bucket or host"
    if scheme not in ("file", "http", "https") and not parts.path.strip("/"):
        return f"the URI {shown(uri)!r} names a bucket but no key in it"
    if scheme == "file" and not parts.path.strip("/"):
        return f"the URI {shown(uri)!r} names no file or folder"
    return None


def artifact_params(pipeline) -> frozenset:
    """The names of the pipeline's artifact params."""
    return frozenset(name for name, param in pipeline.params.items() if param.type == "artifact")

