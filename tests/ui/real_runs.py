"""Real runs for the UI's tests: small specs run by the real `orch run` (local backend) in a private ORCH_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SECRET = "s3cr3t-UI-value-Qw7"  # distinctive: a test looks for it where it must never be
HOSTILE = '<script>alert("x")</script>'
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082")

MAKE = f'''
import json, os
out = os.environ["ORCH_OUTPUTS"]
print("token is", os.environ["TOKEN"])
print({HOSTILE!r})
open(os.path.join(out, "text"), "w").write("hello from make\\n")
open(os.path.join(out, "data"), "w").write(json.dumps({{"accuracy": 0.93, "note": {HOSTILE!r}}}))
open(os.path.join(out, "table"), "w").write("name,score\\nalpha,1\\nbeta,2\\n")
open(os.path.join(out, "picture"), "wb").write(bytes.fromhex({PNG.hex()!r}))
open(os.path.join(out, "count"), "w").write("5")
'''

SHOWCASE = f"""
apiVersion: orch/v1
name: showcase
params:
  note: {{type: string, default: '{HOSTILE}'}}
  size: {{type: integer, default: 3}}
steps:
  make:
    command: [{sys.executable}, make.py]
    env: {{TOKEN: {{secret: api, key: token}}}}
    outputs: {{text: artifact, data: artifact, table: artifact, picture: artifact, count: integer}}
  fan:
    command: [sh, -c, 'echo "item $ITEM"']
    env: {{ITEM: "${{{{ item }}}}"}}
    foreach: [1, 2, 3]
    after: [make]
  flaky:
    command: [sh, -c, 'echo "try $N"; echo "$BAD" >&2; exit 1']
    env: {{N: "${{{{ steps.make.outputs.count }}}}", BAD: "${{{{ params.note }}}}"}}
    retries: {{limit: 1, delay: 1s}}
  down:
    command: [sh, -c, 'echo never']
    after: [flaky, fan]
"""

GROUPS = """
apiVersion: orch/v1
name: grouped
steps:
  first:
    command: [sh, -c, 'echo first']
  sweep:
    foreach: [1, 2]
    after: [first]
    steps:
      train:
        command: [sh, -c, 'echo 0.5 > "$ORCH_OUTPUTS/acc"']
        outputs: {acc: number}
      evaluate:
        command: [sh, -c, 'echo "acc $A"']
        env: {A: "${{ steps.train.outputs.acc }}"}
finally:
  report:
    command: [sh, -c, 'echo done']
"""

BLOCKING = """
apiVersion: orch/v1
name: blocking
steps:
  before:
    command: [sh, -c, 'echo ready']
  wait:
    command: [sh, -c, 'echo started; while [ -e block ]; do sleep 0.05; done; echo finished']
    after: [before]
  after:
    command: [sh, -c, 'echo after']
    after: [wait]
"""


def project(root: Path) -> Path:
    """A folder with the specs and the step script; its records in root/.orch."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "make.py").write_text(MAKE, encoding="utf-8")
    for name, text in (("showcase", SHOWCASE), ("grouped", GROUPS), ("blocking", BLOCKING)):
        (root / f"{name}.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def env(root: Path) -> dict:
    return {**os.environ, "ORCH_HOME": str(root / ".orch"), "ORCH_SECRET_API_TOKEN": SECRET}


def orch(root: Path, *args: str, check_codes=(0, 1)) -> subprocess.CompletedProcess:
    """`orch ARGS` run for real in `root`."""
    done = subprocess.run([sys.executable, "-m", "orch.cli.main", *args], cwd=root, env=env(root),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in check_codes, done.stderr
    return done


def run_ids(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".orch" / "runs").iterdir())


def http_client(app, **kwargs):
    """starlette's TestClient (its note that httpx is deprecated for it is not this project's to act on)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    return TestClient(app, **kwargs)
