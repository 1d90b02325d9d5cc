"""An Argo artifact's location in a store (s3, gcs, azure, http) as the URI of an orch artifact param.

Read in Argo's source (pkg/apis/workflow/v1alpha1/workflow_types.go, workflow/executor/executor.go):
- The executor downloads the location to `<path>.tmp`, then (unarchiveArtifact) unpacks it when `archive` says
  tar or zip, or, with no `archive`, when it finds a gzipped tarball (isTarball); `archive: none` keeps it as it
  is -- what orch's copy always is. `mode` is chmod-ed onto the path (recursively with `recurseMode`).
- An S3 key that names no object but a prefix is downloaded as a folder (s3.go, IsDirectory); orch fetches a
  folder when the URI ends in '/', so a key ending in '/' becomes one.
- A key-only location (`s3: {key}`, nothing else) is relative to the cluster's default artifact repository
  (ArtifactLocation.Relocate): orch's equivalent is the pipeline's artifact store, which the Argo file does not
  name, so such a location keeps the Argo form unconverted (the caller decides what it means).
Credentials, endpoints and regions are never part of an orch URI: orch reaches the store the ecosystem's way
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS,
AZURE_STORAGE_ACCOUNT_NAME/AZURE_STORAGE_KEY) wherever the step runs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from orch.core.artifacts import param_uri_problem

STORES = ("s3", "gcs", "azure", "http")  # the locations orch fetches through fsspec (s3fs, gcsfs, adlfs, aiohttp)
NO_FSSPEC = ("git", "oss", "hdfs", "artifactory", "plugin")  # no fsspec client orch installs reaches these
ECOSYSTEM = {
    "s3": "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL and AWS_REGION where the step runs",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS where the step runs (and gcsfs installed)",
    "azure": "AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_KEY (or a managed identity) where the step runs "
             "(and adlfs installed)",
}


class NotAUri(Exception):
    """The location has no orch URI: the reason, said as the report's note."""


def store_of(artifact: dict):
    """Which location key the artifact has (s3, gcs, ...), or None."""
    return next((key for key in (*STORES, *NO_FSSPEC, "raw") if key in artifact), None)


def is_key_only(artifact: dict) -> bool:
    """`s3: {key: ...}` and nothing else: a key in the cluster's default artifact repository."""
    location = artifact.get("s3")
    return isinstance(location, dict) and set(location) == {"key"}


def uri_of(artifact: dict, where: tuple, ledger) -> str:
    """The URI of the artifact's location, each of the location's fields written in the ledger; NotAUri if none."""
    kind = store_of(artifact)
    location = artifact.get(kind)
    if kind in NO_FSSPEC:
        raise NotAUri(f"an input artifact from {kind} has no orch form: orch fetches an artifact param through "
                      "fsspec (s3, gcs, azure, http), and no fsspec client for it is installed")
    if kind not in STORES or not isinstance(location, dict):
        raise NotAUri("an input artifact with no location has no orch form here")
    if any("{{" in str(value) for value in location.values()):
        raise NotAUri("a location computed from tags has no orch form: an artifact param's URI is a literal")
    at = (*where, kind)
    if kind == "http":
        uri = str(location.get("url", ""))
        for key in location:
            if key == "url":
                ledger.mapped((*at, key), note="the param's URI")
            else:  # headers, auth: what the request carries
                raise NotAUri(f"an http artifact's {key!r} has no orch form: orch fetches the URL with no headers "
                              "and no credentials")
    else:
        if kind == "s3":
            bucket, key = location.get("bucket"), location.get("key")
            scheme = "s3"
        elif kind == "gcs":
            bucket, key = location.get("bucket"), location.get("key")
            scheme = "gs"
        else:
            bucket, key = location.get("container"), location.get("blob")
            scheme = "az"
        if not bucket or not key:
            raise NotAUri(f"a {kind} location without its {'container and blob' if kind == 'azure' else 'bucket and key'}"
                          " has no orch URI")
        uri = f"{scheme}://{bucket}/{str(key).lstrip('/')}"
        named = ("container", "blob") if kind == "azure" else ("bucket", "key")
        for field in location:
            if field == named[1] and not str(key).endswith("/"):
                ledger.approximated((*at, field), "part of the param's URI; a key that names no object but a prefix "
                                                  "is a folder to Argo, and to orch only once its URI ends in '/'")
            elif field in named:
                ledger.mapped((*at, field), note="part of the param's URI")
            elif kind == "azure" and field == "endpoint":
                account = urlsplit(str(location[field])).hostname or ""
                ledger.approximated((*at, field), f"the storage account ({account.split('.')[0]!r}) is not part of an "
                                                  "az:// URI: adlfs reads it from AZURE_STORAGE_ACCOUNT_NAME")
            else:  # endpoint, region, secrets, insecure, useSDKCreds, encryption, ...
                ledger.approximated((*at, field), f"{field}: orch reaches the store the ecosystem's way, not from the "
                                                  f"spec: {ECOSYSTEM[kind]}")
    problem = param_uri_problem(uri)
    if problem:
        raise NotAUri(f"the location is not a URI orch fetches: {problem}")
    return uri


def copy_notes(artifact: dict, where: tuple, ledger) -> None:
    """How the location's object becomes the copy (archive) and whether it may be missing (optional), in the
    ledger: the fields of the artifact that holds the location (an argument's, when one is passed)."""
    archive = artifact.get("archive")
    if isinstance(archive, dict) and "none" in archive:
        ledger.mapped((*where, "archive"), note="kept as it is, as orch's copy always is")
    elif archive is not None:
        ledger.approximated((*where, "archive"), "Argo unpacks it (tar or zip) into the path; orch's copy is the "
                                                 "object as it is")
    else:
        ledger.approximated((*where, kind_key(artifact)), "Argo unpacks a gzipped tarball it finds there "
                                                          "(isTarball); orch's copy is the object as it is")
    if artifact.get("optional"):
        ledger.approximated((*where, "optional"), "a missing optional artifact is skipped by Argo; the orch step "
                                                  "fails to fetch it")
    elif "optional" in artifact:
        ledger.mapped((*where, "optional"))


def mode_of(artifact: dict, where: tuple, ledger, modes: list) -> None:
    """The input's `mode` (and `recurseMode`) as (path, octal text, recursive) in `modes`, for the wrapper to chmod
    once the copy is in place, as Argo's executor does (chmod, after unarchiveArtifact)."""
    if "mode" in artifact:
        try:
            mode = int(artifact["mode"])
        except (TypeError, ValueError):
            ledger.unsupported((*where, "mode"), f"mode {artifact['mode']!r} is not a number")
            return
        modes.append((artifact["path"], format(mode & 0o7777, "o"), bool(artifact.get("recurseMode"))))
        ledger.mapped((*where, "mode"), "command", "chmod-ed onto the path before the command, as Argo does")
        if "recurseMode" in artifact:
            ledger.mapped((*where, "recurseMode"), "command", "chmod -R" if artifact["recurseMode"] else "")
    elif "recurseMode" in artifact:
        ledger.mapped((*where, "recurseMode"), note="without a mode, nothing to apply")


def kind_key(artifact: dict) -> str:
    return store_of(artifact) or "name"
