"""The argv of a container that gives no `command`, for the images whose ENTRYPOINT and CMD Argo's own repository
builds and pushes -- the only ones whose entrypoint the importer can know rather than guess.

Kubernetes runs the image's ENTRYPOINT when a container has no `command`, followed by the container's `args`, or
by the image's CMD when it has none. Argo's examples use its test image argoproj/argosay, built and pushed by its
Makefile (targets `argosay`, `argosayv1`) from test/e2e/images/argosay/v2/Dockerfile (ENTRYPOINT ["/argosay"],
which also empties the CMD inherited from v1, as Docker does for an image that sets ENTRYPOINT) and
test/e2e/images/argosay/v1/Dockerfile (no ENTRYPOINT, CMD ["cowsay"]).
"""

from __future__ import annotations

KNOWN = {  # image -> (ENTRYPOINT, CMD, where Argo's repository builds it)
    "argoproj/argosay:v2": (["/argosay"], [], "test/e2e/images/argosay/v2/Dockerfile"),
    "argoproj/argosay:v1": ([], ["cowsay"], "test/e2e/images/argosay/v1/Dockerfile"),
}


def entrypoint_argv(image, args: list[str]) -> tuple[list[str], str] | None:
    """The argv Kubernetes runs for `image` with no command and these `args`, and where that is read from; None
    for an image whose entrypoint is not known here."""
    name = str(image or "")
    for prefix in ("docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    known = KNOWN.get(name)
    if known is None:
        return None
    entrypoint, cmd, source = known
    argv = entrypoint + (list(args) if args else cmd)
    if not argv:
        return None
    return argv, (f"no command: {name}'s ENTRYPOINT {entrypoint} and CMD {cmd} ({source} in Argo's repository, "
                  "which its Makefile pushes): Kubernetes runs the ENTRYPOINT, then the args or else the CMD")
