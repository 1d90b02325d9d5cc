"""A run's artifact store, chosen and checked before any step runs, for every backend's `run`."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Optional

from orch.core.artifacts import ENV, choose_store, needs_store, spec_store
from orch.core.errors import BackendUnavailable, UsageError


def run_store(pipeline, flag: Optional[str], run_prefix: Optional[str] = None, check: bool = True) -> Optional[str]:
    """The store's URL (None when no step has artifacts and no code is shipped): a bad URL is exit 2; one that cannot be written
    under `run_prefix` (`<pipeline>/<run id>`, when known before the run; else `<pipeline>`) is exit 3, naming it."""
    if not needs_store(pipeline):
        return None
    store, _ = chosen_store(pipeline, flag)
    if not check:
        return store
    from .transfer import ArtifactError, check_store

    try:
        check_store(store, run_prefix or pipeline.name)
    except ArtifactError as err:
        raise BackendUnavailable(f"{err}\n  hint: check the URL, the credentials (AWS_*, AWS_ENDPOINT_URL) and that "
                                 "the bucket exists; or pick another store with --artifacts") from None
    return store


def chosen_store(pipeline, flag: Optional[str] = None) -> tuple[str, str]:
    """The store (`--artifacts`, else $ORCH_ARTIFACTS, else the spec's, else the default) and where it came from;
    a bad URL is exit 2."""
    try:
        return choose_store(flag, spec_store(pipeline))
    except ValueError as err:
        raise UsageError(str(err)) from None


@contextmanager
def store_in_env(store: Optional[str]):
    """$ORCH_ARTIFACTS set to the run's store while a rendered flow or DAG runs in this process (it reads it first)."""
    if store is None:
        yield
        return
    before = os.environ.get(ENV)
    os.environ[ENV] = store
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
