"""steprun's attempts in a Place, as Prefect's and Airflow's tasks run them: a step gets the secrets it names
only, masked in what it prints and in its error; a shipped step works in its copy of the code."""

from __future__ import annotations

import sys

import pytest

from orch.backends import codepack
from orch.backends.stepplace import Place
from orch.backends.steprun import StepError, call_command, call_python
from orch.core.artifacts import code_uri

VALUE = "s3cr3t-Held-0ut"


def test_a_step_sees_no_secret_it_does_not_name(monkeypatch):
    monkeypatch.setenv("ORCH_SECRET_HF_TOKEN_TOKEN", VALUE)
    monkeypatch.setenv("AIRFLOW_VAR_HF-TOKEN", '{"token": "%s"}' % VALUE)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgres://u:%s@h/db" % VALUE)
    monkeypatch.setenv("ORCH_PLAIN", "kept")
    printed = []
    script = "import os; print(sorted(k for k in os.environ if k.startswith(('ORCH_SECRET_', 'AIRFLOW_'))), os.environ['ORCH_PLAIN'])"
    call_command([sys.executable, "-c", script], {}, log=printed.append)
    assert printed == ["[] kept"]


def test_a_secret_is_the_steps_variable_masked_in_its_log_and_its_error():
    printed = []
    script = ("import os, sys; v = os.environ['TOKEN']; print('got', v); sys.stdout.flush(); "
              "print(repr(v), file=sys.stderr); raise SystemExit('bad ' + v)")
    with Place(secrets={"TOKEN": VALUE}) as place:
        with pytest.raises(StepError) as failed:
            call_command([sys.executable, "-c", script], {}, log=printed.append, place=place)
    assert VALUE not in "".join(printed) + str(failed.value)
    assert "got ***" in printed[0] and str(failed.value).endswith("bad ***")


def test_a_shipped_step_imports_from_its_copy_only(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "shipped").mkdir(parents=True)
    (project / "shipped" / "__init__.py").write_text("import os\ndef where():\n    return __file__, os.getcwd()\n")
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    pack = codepack.pack(project)
    store = f"file://{tmp_path / 'store'}"
    codepack.upload_once(pack, store)
    (project / "shipped" / "__init__.py").write_text("def where():\n    return 'the source folder', ''\n")
    monkeypatch.syspath_prepend(str(project))  # the engine's process can import the source: the step must not
    with Place(code=(code_uri(store, pack.sha256), pack.sha256)) as place:
        module, cwd = call_python("shipped:where", {}, {"where": "json"}, place=place)["where"]
    assert module == f"{place.cwd}/shipped/__init__.py" and cwd == place.cwd
