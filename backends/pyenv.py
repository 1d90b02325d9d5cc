"""A step's own Python packages: a virtualenv per requirement set, made once and kept.

Standard library only, and copied into rendered flow modules, DAG files and the pod runner, so
`packages: [scikit-learn==1.5.*]` runs on a stock `python:3.12-slim` image or a worker's python.

`ensure_env(requirements, cache)` makes `<cache>/envs/<hash>` once: a venv with the building
interpreter's packages visible (`--system-site-packages`, and a calling venv's own site-packages
through a .pth file), so the env only adds what the step asks and the installer skips what the
base already satisfies. It is built under a temporary name beside the final one, its marker
(`orch-env.json`) written last, then renamed into place: a folder without the marker is a broken
build and is rebuilt; of two processes building the same env at once, the second to rename drops
its copy and uses the first's. Only `<env>/bin/python` and the site-packages dirs are relied on.

The installer is the base interpreter's pip (`pip --python <env>/bin/python install`), or `uv pip
install --python` when uv is on PATH and gives pip's result: uv ignores packages outside the env, so
it is chosen only where the base has no packages but pip (or has no pip at all). Either honours the
index settings of the environment as pip does: PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS,
PIP_NO_INDEX (given to uv as flags); any other PIP_* setting or a pip config file means pip is used.
Requirements go to the installer as argv elements, never through a shell.
"""

import collections
import hashlib
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import time

PYENV_MARKER = "orch-env.json"  # written last: an env folder without it is incomplete
PYENV_MAX_REQUIREMENTS = 100
PYENV_MAX_REQUIREMENT_CHARS = 1_000
PYENV_ERROR_LINES = 20  # the installer's last lines an EnvError quotes
PYENV_STALE_BUILD_SECONDS = 86_400  # a temporary build folder older than this was left by a killed build
PYENV_BASE_PTH = "_orch_base_site.pth"  # in an env made from a venv: that venv's site-packages, after the env's own
# PIP_* settings uv is given as flags; those that change nothing installed; any other one means pip
PYENV_UV_FLAGS = {"PIP_INDEX_URL": "--index-url", "PIP_EXTRA_INDEX_URL": "--extra-index-url", "PIP_FIND_LINKS": "--find-links"}
PYENV_UV_HARMLESS = {"PIP_NO_INDEX", "PIP_NO_INPUT", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_ROOT_USER_ACTION",
                     "PIP_PROGRESS_BAR", "PIP_NO_WARN_SCRIPT_LOCATION", "PIP_CONFIG_FILE", "PIP_CACHE_DIR", "PIP_NO_CACHE_DIR",
                     "PIP_DEFAULT_TIMEOUT", "PIP_TIMEOUT", "PIP_RETRIES"}


class EnvError(Exception):
    """A step's packages could not be installed: bad requirements, no installer, or the installer failed."""


def requirements_hash(requirements):
    """16 hex digits of sha256 over the sorted, stripped requirement lines and the python they are for:
    version, ABI and platform (a venv is not portable across pythons), its prefix (what the env
    sees of the base's packages), and the indexes they come from (PIP_INDEX_URL, ...)."""
    about = {"requirements": sorted({str(r).strip() for r in requirements} - {""}),
             "python": "%d.%d" % sys.version_info[:2], "abi": sysconfig.get_config_var("SOABI") or "",
             "platform": sysconfig.get_platform(), "prefix": sys.prefix,
             "indexes": [os.environ.get(name, "") for name in sorted(PYENV_UV_FLAGS)]}
    return hashlib.sha256(json.dumps(about, sort_keys=True).encode()).hexdigest()[:16]


def ensure_env(requirements, cache, log=print):
    """The folder of a virtualenv holding `requirements`, made once per requirement set under
    `<cache>/envs/<hash>`; the installer's output goes to `log` line by line. EnvError if it cannot be."""
    wanted = _pyenv_checked(requirements)
    key = requirements_hash(wanted)
    envs = os.path.join(os.path.abspath(cache), "envs")
    final = os.path.join(envs, key)
    if os.path.isfile(os.path.join(final, PYENV_MARKER)):
        return final
    try:
        os.makedirs(envs, exist_ok=True)
        if os.path.lexists(final):
            if os.path.isfile(os.path.join(final, PYENV_MARKER)):  # another step renamed its build in meanwhile
                return final
            log(f"packages: {final} is an unfinished build; building it again")
            _pyenv_drop_broken(final)
        _pyenv_drop_stale(envs, key)
        build = tempfile.mkdtemp(prefix=f".{key}-", dir=envs)  # beside the final folder: the rename is atomic
        os.chmod(build, 0o755)  # as a plain folder: others sharing the cache may use it
    except OSError as err:
        raise EnvError(f"cannot make an env in {envs}: {err}") from None
    started = time.monotonic()
    try:
        installer = _pyenv_build(build, final, wanted, log)
        os.rename(build, final)
        log(f"packages: {len(wanted)} requirement(s) installed with {installer} in {time.monotonic() - started:.1f} s")
    except OSError as err:
        if not os.path.isfile(os.path.join(final, PYENV_MARKER)):
            raise EnvError(f"cannot make the env {final}: {err}") from None
        log(f"packages: another step made {final} meanwhile; using it")  # it renamed its build first
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return final


def env_python(env):
    """The env's interpreter."""
    return os.path.join(env, "Scripts", "python.exe") if os.name == "nt" else os.path.join(env, "bin", "python")


def activate(env, environ):
    """The environment a command step runs with in `env`: VIRTUAL_ENV set, the env's bin folder first on
    PATH (so `python` is the env's), PYTHONHOME dropped as venv's activate does; the rest as in `environ`."""
    changed = dict(environ)
    changed.pop("PYTHONHOME", None)
    changed["VIRTUAL_ENV"] = env
    rest = environ.get("PATH", os.defpath)
    changed["PATH"] = os.pathsep.join([os.path.dirname(env_python(env))] + ([rest] if rest else []))
    return changed


def site_dirs(env):
    """The env's site-packages folders (purelib, then platlib where it differs)."""
    scheme = "venv" if "venv" in sysconfig.get_scheme_names() else ("nt" if os.name == "nt" else "posix_prefix")
    where = {"base": env, "platbase": env, "installed_base": env, "installed_platbase": env}
    found = []
    for kind in ("purelib", "platlib"):
        path = sysconfig.get_path(kind, scheme, where)
        if os.path.isdir(path) and all(not os.path.samefile(path, seen) for seen in found):
            found.append(path)
    return found


def use_in_process(env):
    """Make the env's packages importable in this process, ahead of everything else on sys.path, as
    `site.addsitedir` does (.pth files honoured): for a forked child that cannot exec the env's python.
    A module this process already imported stays the one it has."""
    before = list(sys.path)
    for path in site_dirs(env):
        site.addsitedir(path)
    known = set(before)
    added = [path for path in sys.path if path not in known]
    sys.path[:] = added + before
    importlib.invalidate_caches()


def _pyenv_checked(requirements):
    """The requirement lines, stripped and without repeats, or EnvError naming what is wrong."""
    if isinstance(requirements, (str, bytes)):
        raise EnvError("packages must be a list of requirements, not one string")
    wanted = []
    for item in requirements:
        if not isinstance(item, str):
            raise EnvError(f"a requirement must be a string, not {type(item).__name__}: {item!r}")
        line = item.strip()
        if not line:
            raise EnvError("a requirement is empty")
        if len(line) > PYENV_MAX_REQUIREMENT_CHARS:
            raise EnvError(f"a requirement is {len(line)} characters long, over {PYENV_MAX_REQUIREMENT_CHARS}: {line[:60]!r}...")
        if line.startswith("-"):
            raise EnvError(f"a requirement cannot be an installer option: {line!r}")
        if line not in wanted:
            wanted.append(line)
    if len(wanted) > PYENV_MAX_REQUIREMENTS:
        raise EnvError(f"{len(wanted)} requirements, over {PYENV_MAX_REQUIREMENTS}")
    return wanted


def _pyenv_build(build, final, wanted, log):
    """Make the env in `build` (to be renamed `final`), its marker last; the installer's name."""
    import venv  # only a build needs it

    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=os.name != "nt").create(build)
    if sys.prefix != sys.base_prefix:  # a venv: the base the env builds on is this venv, not its python's
        _pyenv_see_base(build)
    installer, argv = _pyenv_installer(env_python(build), wanted, os.environ)
    if wanted:
        log(f"packages: installing {len(wanted)} requirement(s) with {installer} into {final}")
        _pyenv_install(argv, installer, log)
    _pyenv_retarget_scripts(build, final)
    about = {"requirements": wanted, "installer": installer, "python": sys.executable, "made": time.time()}
    with open(os.path.join(build, PYENV_MARKER), "w", encoding="utf-8") as handle:
        json.dump(about, handle, indent=1)
    return installer


def _pyenv_see_base(build):
    """A .pth file making this venv's own site-packages visible to the env, after the env's own."""
    own = []
    for path in (sysconfig.get_path("purelib"), sysconfig.get_path("platlib")):
        if os.path.isdir(path) and path not in own:
            own.append(path)
    lines = "".join(f"import site; site.addsitedir({path!r})\n" for path in own)
    with open(os.path.join(site_dirs(build)[0], PYENV_BASE_PTH), "w", encoding="utf-8") as handle:
        handle.write(lines)


def _pyenv_installer(python, wanted, environ):
    """(name, argv) of the installer to use: uv where it gives pip's result, else pip, else uv."""
    has_pip = importlib.util.find_spec("pip") is not None
    uv = shutil.which("uv", path=environ.get("PATH"))
    uv_flags, followed = _pyenv_uv_flags(environ) if uv else ([], False)
    if uv and (not has_pip or (followed and _pyenv_base_is_bare())):
        return "uv", [uv, "pip", "install", "--python", python] + uv_flags + wanted
    if has_pip:
        if _pyenv_pip_version() >= (22, 3):
            return "pip", [sys.executable, "-m", "pip", "--python", python, "install", "--no-input",
                           "--disable-pip-version-check"] + wanted
        # an older pip has no --python; the env sees the base's pip and installs into itself
        return "pip", [python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"] + wanted
    raise EnvError(f"{sys.executable} has no pip and no uv is on PATH: the image needs pip or uv to install packages")


def _pyenv_uv_flags(environ):
    """pip's index settings in `environ` as uv flags, and whether uv follows all of pip's settings so."""
    followed = environ.get("PIP_CONFIG_FILE") == os.devnull or not any(map(os.path.isfile, _pyenv_pip_configs(environ)))
    flags = []
    for name, value in sorted(environ.items()):
        if name in PYENV_UV_FLAGS:
            flags += [f"{PYENV_UV_FLAGS[name]}={part}" for part in value.split()]
        elif name.startswith("PIP_") and name not in PYENV_UV_HARMLESS:
            followed = False
    if environ.get("PIP_NO_INDEX", "").strip().lower() in ("1", "true", "yes", "on"):
        flags.append("--no-index")
    return flags, followed


def _pyenv_pip_configs(environ):
    """The files pip reads its configuration from, where they may be."""
    home = os.path.expanduser("~")
    xdg = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    dirs = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    return ([environ.get("PIP_CONFIG_FILE", ""), "/etc/pip.conf", os.path.join(xdg, "pip", "pip.conf"),
             os.path.join(home, ".pip", "pip.conf"), os.path.join(sys.prefix, "pip.conf")]
            + [os.path.join(d, "pip", "pip.conf") for d in dirs if d])


def _pyenv_base_is_bare():
    """Whether this interpreter sees no installed distribution but pip (uv would not see them)."""
    from importlib import metadata

    names = {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}
    return names <= {"pip"}


def _pyenv_pip_version():
    from importlib import metadata

    try:
        return tuple(int(part) for part in metadata.version("pip").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return (0, 0)


def _pyenv_install(argv, installer, log):
    """Run the installer, its output to `log` line by line; EnvError with its last lines if it fails."""
    last = collections.deque(maxlen=PYENV_ERROR_LINES)
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace")
    except OSError as err:
        raise EnvError(f"cannot start {installer}: {err}") from None
    with process:
        for line in process.stdout:
            line = line.rstrip("\n")
            last.append(line)
            log(line)
    if process.returncode:
        said = "\n".join(line for line in last if line.strip())
        raise EnvError(f"{installer} could not install the step's packages (exit status {process.returncode}):\n{said}")


def _pyenv_retarget_scripts(build, final):
    """Point the env's scripts (console-script shebangs, activate) at the folder it is renamed to."""
    old, new = build.encode(), final.encode()
    folder = os.path.dirname(env_python(build))
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 1 << 20:
            continue
        with open(path, "rb") as handle:
            text = handle.read()
        if (text.startswith(b"#!") or name.lower().startswith("activate")) and old in text:
            with open(path, "wb") as handle:
                handle.write(text.replace(old, new))


def _pyenv_drop_broken(final):
    """Remove an env folder without its marker, moved aside first so no one sees it half removed; one
    that turns out complete (another process finished it meanwhile) is put back."""
    aside = tempfile.mkdtemp(prefix=".broken-", dir=os.path.dirname(final))
    target = os.path.join(aside, "env")
    try:
        os.rename(final, target)
    except OSError:
        pass
    else:
        if os.path.isfile(os.path.join(target, PYENV_MARKER)):
            try:
                os.rename(target, final)
            except OSError:
                pass
    shutil.rmtree(aside, ignore_errors=True)


def _pyenv_drop_stale(envs, key):
    """Remove this key's temporary build folders left by builds killed long ago."""
    now = time.time()
    for name in os.listdir(envs):
        path = os.path.join(envs, name)
        if name.startswith(f".{key}-") or name.startswith(".broken-"):
            try:
                if now - os.stat(path).st_mtime > PYENV_STALE_BUILD_SECONDS:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass
