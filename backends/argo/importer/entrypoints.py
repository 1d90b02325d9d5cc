"""The entrypoints of the images Argo's own examples run without a `command`: a Kubernetes container without one
runs its image's ENTRYPOINT (with `args` in place of its CMD), which a manifest does not show, and an orch step runs
an argv it names. Only images whose Dockerfile is published beside them are listed, read from that file; any other
image's entrypoint stays unknown (reported unsupported, never guessed)."""

from __future__ import annotations

# image -> (ENTRYPOINT, CMD), from argoproj/argo-workflows test/e2e/images/argosay/v1 and v2/Dockerfile
# (v2 is FROM v1 and sets ENTRYPOINT ["/argosay"], which empties the CMD it inherits)
KNOWN: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "argoproj/argosay:v1": ((), ("cowsay",)),
    "argoproj/argosay:v2": (("/argosay",), ()),
}
SOURCE = "its Dockerfile in argoproj/argo-workflows (test/e2e/images/argosay)"


def argv_of(image: object, args: list[str]) -> list[str] | None:
    """What a container of `image` with no command and these `args` runs (Kubernetes: ENTRYPOINT + args, or +
    CMD when no args are given); None when the image's entrypoint is not known."""
    known = KNOWN.get(image) if isinstance(image, str) else None
    if known is None:
        return None
    entrypoint, default = known
    return [*entrypoint, *(args if args else default)]
