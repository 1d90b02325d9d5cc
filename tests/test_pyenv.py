"""A step's own packages (orch.backends.pyenv) with the real pip, offline: a hand-made wheel goes
into a cached virtualenv made once, seen by the env's python, a command's PATH and a forked child,
never by the base; concurrent and killed builds leave one complete env; failures say pip's words."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from orch.backends import pyenv
from orch.backends.pyenv import EnvError, activate, ensure_env, env_python, requirements_hash, site_dirs

NAME = "orchtestpkg"


def make_wheel(folder: Path, version: str = "1.0") -> Path:
    """A pure-Python wheel written by hand: the package, its metadata, a console script, a RECORD."""
    info = f"{NAME}-{version}.dist-info"
    files = {
        f"{NAME}/__init__.py": f"VERSION = {version!r}\n\ndef main():\n    print('orchtestpkg', VERSION)\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: orch-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[console_scripts]\n{NAME} = {NAME}:main\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    path = folder / f"{NAME}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    _offline(monkeypatch)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return make_wheel(tmp_path_factory.mktemp("wheel"))


def requirement(wheel: Path) -> str:
    return f"{NAME} @ {wheel.as_uri()}"


@pytest.fixture(scope="module")
def built(tmp_path_factory, wheel):
    """One env holding the wheel, for the tests that only read it: (env, cache, log lines)."""
    cache = tmp_path_factory.mktemp("cache")
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        _offline(patch)
        env = ensure_env([requirement(wheel)], cache, log=lines.append)
    return env, cache, lines


def _offline(patch):
    """pip and uv reach no index and read no configuration but the test's."""
    patch.setenv("PIP_NO_INDEX", "1")
    patch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONSTRAINT"):
        patch.delenv(name, raising=False)


def imports(python: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-c", f"import {NAME}; print({NAME}.__file__)"], capture_output=True, text=True, env=env)


def test_the_env_sees_the_package_and_the_base_does_not(built):
    env, cache, lines = built
    assert env == str(Path(cache) / "envs" / requirements_hash([requirement_of(lines)]))
    seen = imports(env_python(env))
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.strip().startswith(env)
    assert imports(sys.executable).returncode != 0
    assert any("with pip" in line for line in lines) and any("Successfully installed orchtestpkg-1.0" in line for line in lines)
    assert sorted(os.listdir(Path(cache) / "envs")) == [os.path.basename(env)]  # no build folder left


def requirement_of(lines: list[str]) -> str:
    """The requirement the module fixture installed, read back from pip's 'Processing' line."""
    path = next(line.split("Processing ", 1)[1].strip() for line in lines if line.startswith("Processing "))
    return f"{NAME} @ {Path(path).as_uri()}"


def test_the_base_packages_stay_visible(built):
    """What the base venv holds (pytest here) is importable in the env without being installed in it."""
    env, _, _ = built
    probe = subprocess.run([env_python(env), "-c", "import pytest; print(pytest.__file__)"], capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    assert not probe.stdout.startswith(env)


def test_a_second_call_builds_nothing(built, wheel):
    env, cache, _ = built
    inode = os.stat(env).st_ino
    lines: list[str] = []
    started = time.perf_counter()
    again = ensure_env([f"  {requirement(wheel)}  ", requirement(wheel)], cache, log=lines.append)
    took = time.perf_counter() - started
    assert again == env and os.stat(env).st_ino == inode and lines == []
    assert took < 0.05, took


def test_use_in_process_puts_the_env_first_in_a_base_child(built):
    env, _, _ = built
    code = ("import sys; from orch.backends.pyenv import use_in_process, site_dirs\n"
            f"use_in_process({env!r}); use_in_process({env!r})\n"
            f"import {NAME}; print({NAME}.__file__); print(sys.path.index(site_dirs({env!r})[0]))")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    where, index = child.stdout.split()
    assert where.startswith(env) and index == "0"


def test_activate_gives_a_command_the_envs_python_and_scripts(built):
    env, _, _ = built
    environ = activate(env, {**os.environ, "PYTHONHOME": "/nowhere"})
    assert environ["VIRTUAL_ENV"] == env and "PYTHONHOME" not in environ
    assert environ["PATH"].split(os.pathsep)[0] == os.path.dirname(env_python(env))
    which = subprocess.run(["python", "-c", f"import sys, {NAME}; print(sys.prefix)"], capture_output=True, text=True, env=environ)
    assert which.returncode == 0, which.stderr
    assert which.stdout.strip() == env
    script = subprocess.run([NAME], capture_output=True, text=True, env=environ)  # its shebang names the renamed env
    assert (script.returncode, script.stdout) == (0, "orchtestpkg 1.0\n"), script.stderr


def test_a_folder_without_the_marker_is_rebuilt(tmp_path, wheel):
    env = ensure_env([requirement(wheel)], tmp_path, log=lambda line: None)
    os.remove(Path(env) / pyenv.PYENV_MARKER)  # what a build killed after its rename would leave
    (Path(env) / "left-by-the-killed-build").write_text("")  # (an inode number may be reused: a file says more)
    lines: list[str] = []
    assert ensure_env([requirement(wheel)], tmp_path, log=lines.append) == env
    assert "unfinished build" in lines[0] and not (Path(env) / "left-by-the-killed-build").exists()
    assert (Path(env) / pyenv.PYENV_MARKER).is_file() and imports(env_python(env)).returncode == 0
    assert sorted(os.listdir(tmp_path / "envs")) == [os.path.basename(env)]


BUILD = """
import sys, time
from pathlib import Path
from orch.backends.pyenv import ensure_env
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
print(ensure_env([sys.argv[1]], sys.argv[2], log=lambda line: print("log:", line)))
"""


def test_two_processes_building_at_once_leave_one_env(tmp_path, wheel):
    go = tmp_path / "go"
    argv = [sys.executable, "-c", BUILD, requirement(wheel), str(tmp_path / "cache"), str(go)]
    children = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    results = [child.communicate(timeout=120) + (child.returncode,) for child in children]
    assert [rc for _, _, rc in results] == [0, 0], [err for _, err, _ in results]
    envs = {out.splitlines()[-1] for out, _, _ in results}
    assert len(envs) == 1
    env = envs.pop()
    assert os.listdir(tmp_path / "cache" / "envs") == [os.path.basename(env)]
    assert imports(env_python(env)).returncode == 0


def test_the_second_to_finish_drops_its_build_and_uses_the_first(tmp_path, wheel):
    """Another process builds the same env to the end while this one's pip is about to run."""
    cache = tmp_path / "cache"
    other = [sys.executable, "-c", "import sys; from orch.backends.pyenv import ensure_env; print(ensure_env([sys.argv[1]], sys.argv[2]))",
             requirement(wheel), str(cache)]
    lines: list[str] = []

    def log(line):
        lines.append(line)
        if line.startswith("packages: installing"):
            subprocess.run(other, check=True, capture_output=True)

    env = ensure_env([requirement(wheel)], cache, log=log)
    assert any("another step made" in line for line in lines)
    assert os.listdir(cache / "envs") == [os.path.basename(env)]
    assert imports(env_python(env)).returncode == 0


def test_a_requirement_pip_cannot_install_says_pips_words(tmp_path):
    missing = tmp_path / f"{NAME}-9.0-py3-none-any.whl"
    with pytest.raises(EnvError) as caught:
        ensure_env([f"{NAME} @ {missing.as_uri()}"], tmp_path / "cache", log=lambda line: None)
    text = str(caught.value)
    assert text.startswith("pip could not install the step's packages (exit status 1):")
    assert str(missing) in text and "No such file or directory" in text
    assert "Traceback" not in text and caught.value.__context__ is None
    assert os.listdir(tmp_path / "cache" / "envs") == []  # its build is gone


@pytest.mark.parametrize("requirements, said", [
    ("numpy", "a list of requirements"),
    (["numpy", ""], "is empty"),
    (["--index-url=https://elsewhere.example/simple", "numpy"], "cannot be an installer option"),
    (["x" * 1001], "1001 characters long, over 1000"),
    ([f"p{i}" for i in range(101)], "101 requirements, over 100"),
    ([3], "must be a string"),
])
def test_bad_requirements_are_refused_before_anything_runs(tmp_path, requirements, said):
    with pytest.raises(EnvError, match=said):
        ensure_env(requirements, tmp_path)
    assert not (tmp_path / "envs").exists()


def test_the_hash_is_the_requirement_set():
    assert requirements_hash(["b==1", " a>=2 "]) == requirements_hash(["a>=2", "b==1", "b==1"])
    assert requirements_hash(["a>=2"]) != requirements_hash(["a>=3"])
    assert len(requirements_hash([])) == 16


def test_uv_is_told_pips_settings_or_not_used():
    flags = pyenv._pyenv_uv_flags({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "yes",
                                   "PIP_FIND_LINKS": "/w1 /w2", "PIP_INDEX_URL": "https://i.example/simple"})
    assert flags == (["--find-links=/w1", "--find-links=/w2", "--index-url=https://i.example/simple", "--no-index"], True)
    assert pyenv._pyenv_uv_flags({"PIP_CONFIG_FILE": os.devnull, "PIP_PRE": "1"}) == ([], False)  # one uv would not follow


def test_activate_keeps_an_empty_path_empty():
    assert activate("/e", {"PATH": ""})["PATH"] == os.path.join("/e", "bin")


def test_a_base_without_pip_or_uv_is_told_what_it_needs(monkeypatch):
    monkeypatch.setattr(pyenv.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EnvError, match="the image needs pip or uv"):
        pyenv._pyenv_installer("/env/bin/python", ["x"], {"PATH": ""})


def test_uv_gives_the_same_env(tmp_path, wheel, monkeypatch):
    import uv  # the dev extra's: its binary, wherever pip put it, first on PATH

    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(uv.find_uv_bin()), os.environ.get("PATH", "")]))
    monkeypatch.setattr(pyenv, "_pyenv_base_is_bare", lambda: True)  # here, where uv is chosen
    for name in [n for n in os.environ if n.startswith("PIP_") and n not in pyenv.PYENV_UV_HARMLESS]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    lines: list[str] = []
    env = ensure_env([requirement(wheel)], tmp_path / "cache", log=lines.append)
    assert any("with uv" in line for line in lines)
    assert imports(env_python(env)).stdout.strip().startswith(site_dirs(env)[0])
    script = subprocess.run([NAME], capture_output=True, text=True, env=activate(env, os.environ))
    assert script.stdout == "orchtestpkg 1.0\n", script.stderr


def test_its_bounds_are_the_specs():
    """pyenv.py is copied into pods and imports nothing of orch: its bounds are core.limits', written again."""
    from orch.core import limits

    assert (pyenv.PYENV_MAX_REQUIREMENTS, pyenv.PYENV_MAX_REQUIREMENT_CHARS) == (limits.MAX_PACKAGES, limits.MAX_REQUIREMENT_CHARS)
