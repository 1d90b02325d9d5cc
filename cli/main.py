"""The `orch` entry point: runs the typer app, maps errors to exit codes once.

0 ok, 1 the pipeline ran and failed, 2 invalid input (click's usage errors too),
3 backend missing or unreachable, or the machine in the way (a full disk, a folder orch
may not write), 70 internal error (traceback only with ORCH_DEBUG=1).
"""

from __future__ import annotations

import os
import sys
import traceback

from orch.core.errors import OrchError, machine_error

from .app import app
from .output import report, warn

INTERNAL_ERROR = 70


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="orch")  # click handles usage errors and exits itself
    except OrchError as error:
        sys.exit(report(error))
    except Exception as error:
        known = machine_error(error, "use")  # the last net: a full disk or a file in the way anywhere is exit 3
        if known is None:
            _internal(error)
        sys.exit(report(known))


def _internal(error: BaseException) -> None:
    if os.environ.get("ORCH_DEBUG"):
        traceback.print_exc()
    else:
        warn(f"internal error: {type(error).__name__}: {error}\n(set ORCH_DEBUG=1 for the traceback, and please report it)")
    sys.exit(INTERNAL_ERROR)


if __name__ == "__main__":  # pragma: no cover
    main()
