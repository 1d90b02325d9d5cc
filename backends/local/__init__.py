"""The embedded local backend: runs a pipeline on this machine with nothing but orch."""

from ..base import Backend

BACKEND = Backend(name="local", description="this machine, nothing but orch (the default)", abilities=("run",),
                  module="orch.backends.local.run")
