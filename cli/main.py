"""The `orch` entry point: runs the typer app, maps errors to exit codes once.

0 ok, 1 the pipeline ran and failed, 2 invalid input, 3 backend missing or unreachable,
70 internal error (traceback only with ORCH_DEBUG=1).
"""

from __future__ import annotations

import os
import sys
import traceback

from orch.core.errors import OrchError

from .app import app
from .output import report, warn

INTERNAL_ERROR = 70


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="orch", standalone_mode=False)
    except OrchError as error:
        sys.exit(report(error))
    except SystemExit:
        raise
    except Exception as error:  # click's usage errors arrive here in non-standalone mode
        sys.exit(_unexpected(error))
    sys.exit(code if isinstance(code, int) else 0)


def _unexpected(error: Exception) -> int:
    import click

    if isinstance(error, click.exceptions.Exit):
        return error.exit_code
    if isinstance(error, click.ClickException):
        error.show()
        return 2
    if isinstance(error, click.exceptions.Abort):
        warn("aborted")
        return 130
    if os.environ.get("ORCH_DEBUG"):
        traceback.print_exc()
    else:
        warn(f"internal error: {type(error).__name__}: {error}\n(set ORCH_DEBUG=1 for the traceback, and please report it)")
    return INTERNAL_ERROR


if __name__ == "__main__":  # pragma: no cover
    main()
