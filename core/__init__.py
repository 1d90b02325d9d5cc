"""orch's core: the spec, its loading and validation, and the pipeline graph.

Imports no orchestrator (prefect, airflow, hera): backends are loaded lazily.
"""

from .errors import BackendUnavailable, Diagnostic, OrchError, SpecError, UsageError
from .graph import Edge, PipelineGraph
from .load import load_spec, parse_spec
from .result import RunResult, StepResult
from .spec import (
    API_VERSION,
    Kubernetes,
    Param,
    Pipeline,
    Resources,
    Retries,
    Schedule,
    Step,
    StepDefaults,
    Toleration,
)
from .validate import check

__all__ = [
    "API_VERSION", "BackendUnavailable", "Diagnostic", "Edge", "Kubernetes", "OrchError", "Param",
    "Pipeline", "PipelineGraph", "Resources", "Retries", "RunResult", "Schedule", "SpecError", "Step",
    "StepDefaults", "StepResult", "Toleration", "UsageError", "check", "load_spec", "parse_spec",
]
