"""Benchmark: orch -> Airflow against a hand-written Airflow DAG of the same pipeline, run the same
way (`dag.test()` on one SQLite Airflow home, migrated beforehand), same run.

    python bench/airflow.py [--rounds 3] [--steps 10]

The pipeline: a chain of N python steps, each adding one to its upstream's output. Three
whole processes:

  native   a hand-written TaskFlow DAG (one @task per step, XComArgs between them), run by
           a short script with DagBag + dag.test()
  file     the DAG file `orch render --backend airflow` wrote, run by the same script
  orch     `orch run --backend airflow`: render, dag.test() in its driver, read the records back

Prints the median seconds of each and the ratios to native (goal for orch: <= 1.10x).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from measure import NATIVE_DAG, STEPS_MODULE, arguments, chain_spec, compare

RUN_DAG = '''
import sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
assert bag.get_dag(sys.argv[2]).test().state == "success"
'''


def main() -> None:
    options = arguments(__doc__)
    folder = Path(tempfile.mkdtemp(prefix="orch-bench-airflow-"))
    (folder / "bench_steps.py").write_text(STEPS_MODULE)
    (folder / "run_dag.py").write_text(RUN_DAG)
    (folder / "chain.yaml").write_text(yaml.safe_dump(chain_spec(options.steps), sort_keys=False))

    from orch.backends.airflow.run import airflow_env, migrate_once

    home = folder / "airflow-home"
    (home / "dags").mkdir(parents=True)
    env = airflow_env(home, folder)
    env.update(ORCH_AIRFLOW_HOME=str(home), PYTHONPATH=str(folder))
    migrate_once(home, env)  # once, for all three: not measured
    (home / "dags" / "native_dag.py").write_text(NATIVE_DAG.format(steps=options.steps))  # dag.test() needs them
    # in the DAGs folder it parses: the DAG must be serialized there
    orch = [sys.executable, "-m", "orch.cli.main"]
    subprocess.run(orch + ["render", "chain.yaml", "-b", "airflow", "-o", str(home / "dags")], cwd=folder, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    commands = {
        "native": [sys.executable, "run_dag.py", str(home / "dags" / "native_dag.py"), "native-chain"],
        "file": [sys.executable, "run_dag.py", str(home / "dags" / "chain_dag.py"), "chain"],
        "orch": orch + ["run", "chain.yaml", "-b", "airflow", "--json"],
    }
    compare(commands, folder, env, options.rounds, f"{options.steps}-step chain (dag.test(), SQLite)", "orch -> Airflow vs the hand-written DAG")

if __name__ == "__main__":
    main()
