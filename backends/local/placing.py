"""Where an attempt of the local backend runs, made inside its forked process (its timeout bounds it):
a fresh copy of the shipped code as its folder, its packages' env."""

from __future__ import annotations

import os
import sys


def prepare(request: dict, launch_path=None):
    """Put the attempt where it runs: its shipped code, its packages' env. The error text, or None."""
    if isinstance(request.get("code"), dict):
        failure = _unpack_code(request, request["code"], launch_path)
        if failure:
            return failure
    if isinstance(request.get("packages"), list) and request["packages"]:
        return _use_packages(request, request["packages"])
    return None


def _unpack_code(request: dict, code: dict, launch_path):
    """The shipped code unpacked fresh for this attempt: its working folder, first on sys.path and PYTHONPATH;
    the folder orch ran in (which `python -m` put on sys.path) is no longer on it."""
    try:
        from orch.backends.workspace import code_folder

        folder = os.path.abspath(code_folder(code["uri"], code["sha"], code["place"]))
    except Exception as err:  # noqa: BLE001 - ArtifactError, a bad sha, an unreadable cache: the attempt's error
        request["not_run"] = True  # its code never came: an error to retries.on, as every engine's code fetch
        return f"cannot get the pipeline's code from {code.get('uri')}: {err}"
    os.chdir(folder)
    sys.path[:] = [p for p in sys.path if p != launch_path]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (folder, os.environ.get("PYTHONPATH")) if p)
    request["path"] = folder
    return None


def _use_packages(request: dict, packages: list):
    """The step's packages' env, made here (its timeout bounds the install; the installer's output is in the
    log) or found in the cache: a command gets its bin first on PATH; a python step, in this forked process,
    its site-packages first on sys.path -- a module the starter had imported already stays the starter's."""
    try:
        from orch.backends.pyenv import EnvError, activate, ensure_env, use_in_process
        from orch.backends.workspace import cache_dir

        env = ensure_env(packages, cache_dir(), lambda line: print(line, flush=True))
    except EnvError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - the attempt's error, never a traceback lost in the starter
        return f"cannot make the step's packages' env: {type(err).__name__}: {err}"
    changed = activate(env, dict(os.environ))
    for name in set(os.environ) - set(changed):
        del os.environ[name]
    os.environ.update(changed)
    if request["kind"] == "python":
        use_in_process(env)
    return None
