"""`import orch.core` (and `orch validate`) must not load any orchestrator."""

import subprocess
import sys

HEAVY = ("prefect", "airflow", "hera", "networkx")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


CLOUD = ("fsspec", "s3fs", "boto3", "botocore", "aiobotocore")


def test_core_imports_no_orchestrator():
    loaded = loaded_after("import orch.core\nimport orch.core.artifacts")
    assert not loaded & {"prefect", "airflow", "hera", *CLOUD}
    assert "pydantic" in loaded  # the probe does see imports


def test_validate_needs_no_networkx(tmp_path):
    from .conftest import SPECS

    loaded = loaded_after(f"from orch.core import load_spec\nload_spec({str(SPECS / 'ml-training.yaml')!r})")
    assert not loaded & set(HEAVY)


def test_backends_listing_imports_no_engine():
    loaded = loaded_after("from orch.backends.registry import all_backends\nall_backends()")
    assert not loaded & {"prefect", "airflow", "hera"}


def test_rendering_imports_no_engine(tmp_path):
    """Every renderer writes text only: a team can render without the engine installed (Argo: hera only runs)."""
    from .conftest import SPECS

    for backend in ("argo", "prefect", "airflow"):
        code = ("from orch.cli.main import main\nimport contextlib, io\n"
                f"with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
                f"    main(['render', {str(SPECS / 'ml-training.yaml')!r}, '-b', {backend!r}, '-o', {str(tmp_path / backend)!r}])")
        assert not loaded_after(code) & {"prefect", "airflow", "hera"}, backend
        assert any((tmp_path / backend).iterdir()), backend


def test_no_test_puts_bench_on_the_import_path():
    """bench/ holds scripts named after the engines (bench/prefect.py, bench/airflow.py): on sys.path they would
    shadow the real packages for every later test of the session."""
    import sys
    from pathlib import Path

    bench = (Path(__file__).resolve().parents[1] / "bench").resolve()
    assert all(Path(p or ".").resolve() != bench for p in sys.path)
