"""The runner's part that sets up where a pod's step runs: its secrets checked (and masked in what it
prints), its shipped code placed, its packages' env made. Standard library only: carried in the runner
after orch.core.secrets, backends/pyenv.py and backends/codeunpack.py, whose names it uses (script.py);
bootstrap.py's docstring has the environment a pod gives it.
"""

import json
import os
import re
import sys
import tempfile

from orch.backends.codeunpack import CODE_READ, CodeError, check_code_sha, code_digest, unpack_into  # embedded: codeunpack
from orch.backends.codeunpack import write_all  # embedded: codeunpack
from orch.backends.pyenv import ensure_env, env_python, use_in_process  # embedded: pyenv
from orch.core.secrets import Masker  # embedded: secrets

CODE = os.environ.get("ORCH_ARGO_CODE", "/tmp/orch/code")  # where ORCH_CODE_URL's archive is unpacked
CACHE = "/tmp/orch/cache"  # the packages' envs, unless $ORCH_CACHE names another folder (a mounted volume keeps them)
# the kubelet reads it into the container's terminated state, which Argo's node message quotes (operator.go,
# inferFailedReason; argoexec writes none for a command's own exit); present in every container
TERMINATION_LOG = os.environ.get("ORCH_ARGO_TERMINATION_LOG", "/dev/termination-log")


def secret_missing_text(secret, key):
    """What a step whose secret the kubelet did not set fails with: where it was looked for, never a value."""
    return (f"secret {secret!r} (key {key!r}) is not in the Kubernetes Secret {secret!r} of the pod's namespace "
            f"(no such Secret, or no key {key!r} in it): kubectl create secret generic {secret} --from-literal={key}=...")


def missing_secrets():
    """ORCH_SECRETS' [var, secret, key] whose var is not set, each as the text the step fails with."""
    listed = json.loads(os.environ.get("ORCH_SECRETS") or "[]")
    return [secret_missing_text(secret, key) for var, secret, key in listed if var not in os.environ]


def secret_values():
    listed = json.loads(os.environ.get("ORCH_SECRETS") or "[]")
    return [os.environ[var] for var, _, _ in listed if var in os.environ]


def masked_output(values):
    """The process's stdout and stderr (fds 1 and 2: the step's prints, its children's, a traceback) passed through
    pipes whose pumps write them on with each secret value as ***, as orch masks the logs it captures elsewhere
    (core.secrets.Masker); a function that ends it, writing out what is held back. Nothing to mask: nothing done."""
    if not Masker(values):
        return lambda: None
    import threading

    sys.stdout.flush()
    sys.stderr.flush()
    pumps = []
    for fd in (1, 2):
        saved = os.dup(fd)
        read, write = os.pipe()
        os.dup2(write, fd)
        os.close(write)
        thread = threading.Thread(target=_pump, args=(read, saved, Masker(values)), daemon=True)
        thread.start()
        pumps.append((fd, saved, thread))

    def end():
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved, thread in pumps:
            os.dup2(saved, fd)  # the pipe's last write end in this process: its pump reads the end
            thread.join(timeout=30)  # (a child left running may hold it longer)
    return end


def _pump(read, out, masker):
    while True:
        data = os.read(read, 1 << 16)
        if not data:
            break
        write_all(out, masker.feed(data))
    write_all(out, masker.flush())
    os.close(read)


def code_folder():
    """The shipped code's folder: ORCH_CODE_DIR (unpacked there already), or ORCH_CODE_URL's archive fetched and
    unpacked into CODE; None when no code is shipped."""
    if os.environ.get("ORCH_CODE_DIR"):
        return os.environ["ORCH_CODE_DIR"]
    url = os.environ.get("ORCH_CODE_URL")
    return fetch_code(url, os.environ.get("ORCH_CODE_SHA", ""), CODE) if url else None


def fetch_code(url, sha, folder):
    """The archive at `url` (http or https: a presigned GET) into `folder`, its sha256 checked before anything
    is unpacked, unpacked as every backend unpacks it (codeunpack.py: plain files and folders inside it only).
    The URL's query (a presigned signature) is never printed."""
    import urllib.request

    shown = url.split("?")[0]
    try:
        check_code_sha(sha)
    except ValueError:
        raise CodeError(f"ORCH_CODE_SHA {sha[:70]!r} is not a sha256 (64 lowercase hex digits)") from None
    if not url.startswith(("http://", "https://")):
        raise CodeError(f"ORCH_CODE_URL {shown[:200]!r} is not an http(s) URL")
    if os.path.isdir(folder) and os.listdir(folder):
        raise CodeError(f"cannot unpack the code into {folder}: it is not empty")  # (before anything is fetched)
    os.makedirs(folder, exist_ok=True)
    handle, archive = tempfile.mkstemp(prefix="orch-code-", suffix=".tar.gz")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=120) as response:
            for block in iter(lambda: response.read(CODE_READ), b""):
                out.write(block)
    except OSError as err:  # urllib's errors are OSErrors
        os.remove(archive)
        raise CodeError(f"cannot fetch or unpack the step's code from {shown}: {type(err).__name__}: {_without_query(err)}") from None
    try:
        if code_digest(archive) != sha:
            raise CodeError(f"the code at {shown} is not the code this pipeline was rendered with (its sha256 "
                            f"differs from {sha[:12]}): render and run the pipeline again")
        try:
            return unpack_into(archive, folder)
        except CodeError as err:
            raise CodeError(f"cannot fetch or unpack the step's code from {shown}: {err}") from None
    finally:
        os.remove(archive)


def _without_query(err):
    """The error's text, any URL in it cut at its query."""
    return re.sub(r"\?\S*", "", str(err))


def use_code(folder):
    """The code's folder as the step's working folder, first on its import path (PYTHONPATH for a command and
    for the env's interpreter this runner may become)."""
    os.chdir(folder)
    sys.path.insert(0, folder)
    os.environ["ORCH_CODE_DIR"] = folder  # the runner run again in the packages' env finds the code here
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (folder, os.environ.get("PYTHONPATH")) if p)


def packages_env():
    """The env of ORCH_PACKAGES' requirements (made once per set under $ORCH_CACHE or CACHE), or None."""
    wanted = os.environ.get("ORCH_PACKAGES")
    if not wanted:
        return None
    if os.environ.get("ORCH_PACKAGES_ENV"):  # this is the runner run again in it
        return os.environ["ORCH_PACKAGES_ENV"]
    return ensure_env(json.loads(wanted), os.environ.get("ORCH_CACHE") or CACHE, lambda line: print(line, file=sys.stderr))


def run_in_env(env):
    """This runner run again by the env's interpreter, its command line as it was (`python3 -c SOURCE ARGS`, read
    from /proc): the step's imports then see the env's packages first, as on every backend. Without /proc the
    env's folders are put first on this interpreter's sys.path instead."""
    os.environ["ORCH_PACKAGES_ENV"] = env
    try:
        with open("/proc/self/cmdline", "rb") as handle:
            argv = [os.fsdecode(part) for part in handle.read().split(b"\0")[:-1]]
    except OSError:
        use_in_process(env)
        return
    python = env_python(env)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python, [python] + argv[1:])


def failed(text):
    """The step fails before its code runs: `text` to stderr, and as the container's termination message, so the
    run's error says it too. 1, the exit status."""
    print(f"orch: {text}", file=sys.stderr)
    if os.path.exists(TERMINATION_LOG):
        try:
            with open(TERMINATION_LOG, "w", encoding="utf-8") as handle:
                handle.write(text[:4000])  # the kubelet keeps 4096 bytes
        except OSError:
            pass
    return 1
