"""Where one attempt of a step runs: its shipped code, its packages, its secrets.

Standard library only, and copied into rendered flow modules and DAG files (after steprun's
helpers), so a worker needs nothing of orch. With shipped code the attempt works in a fresh copy
of it -- its working folder, first on its import path -- as a pod works in its own container, and
never sees the folder the spec came from; with packages it runs the env's interpreter (a command:
the env's bin first on PATH); its secrets arrive as environment variables and are masked in what
it prints.
"""

import os
import shutil
import sys
import tempfile

from orch.backends.pyenv import activate, ensure_env, env_python  # embedded: pyenv
from orch.backends.workspace import cache_dir, code_folder  # embedded: workspace
from orch.core.secrets import Masker  # embedded: secrets


class Place:
    """`with Place(code=(uri, sha), packages=[...], secrets={VAR: value}) as place:` -- then `place.cwd`
    (None: where the caller is), `place.path` (to put first on sys.path), `place.python`, `place.env`
    (to add to the attempt's environment) and `place.mask` (a Masker over the secrets' values)."""

    def __init__(self, code=None, packages=(), secrets=None, connect=None, log=print):
        self.code, self.packages, self.secrets, self.connect, self.log = code, list(packages), dict(secrets or {}), connect, log
        self.folder, self.cwd, self.path, self.python = None, None, [], sys.executable
        self.env = dict(self.secrets)
        self.mask = Masker(self.secrets.values())

    def __enter__(self):
        if self.code:
            self.folder = tempfile.mkdtemp(prefix="orch-code-")
            self.cwd = code_folder(self.code[0], self.code[1], os.path.join(self.folder, "code"), self.connect)
            self.path = [self.cwd]
            self.env["PYTHONPATH"] = os.pathsep.join(p for p in (self.cwd, os.environ.get("PYTHONPATH")) if p)
        if self.packages:
            venv = ensure_env(self.packages, cache_dir(), self.log)
            self.python = env_python(venv)
            base = dict(os.environ, **self.env)
            self.env.update((k, v) for k, v in activate(venv, base).items() if base.get(k) != v)
        return self

    def __exit__(self, *_):
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
