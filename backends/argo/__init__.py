"""Argo Workflows: Workflow / CronWorkflow manifests (the data hera's models dump, written without hera), submitted through hera."""

from ..base import Backend

BACKEND = Backend(name="argo", description="Argo Workflows manifests (hera), run on an Argo Server",
                  engine="hera", extra="argo", abilities=("render", "run", "deploy", "import"), module="orch.backends.argo.run",
                  renders_without_engine=True)
