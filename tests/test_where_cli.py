"""`code`, `--secrets` and the new spec fields through the CLI: located refusals (exit 2) before anything
is packed, written or run; one packed archive named alike in every backend's files."""

from __future__ import annotations

import re

import pytest

from orch.core.units import parse_bytes

SHIPPING = """apiVersion: orch/v1
name: shipping
code: {{ship: true, max_size: {size}}}
steps:
  a: {{python: "work.steps:run", image: "python:3.12-slim"}}
"""


def project(tmp_path, size="100MB"):
    root = tmp_path / "project"
    (root / "work").mkdir(parents=True)
    (root / "work" / "__init__.py").write_text("")
    (root / "work" / "steps.py").write_text("def run():\n    return None\n")
    (root / "weights.bin").write_bytes(b"w" * 5_000)
    spec = root / "spec.yaml"
    spec.write_text(SHIPPING.format(size=size))
    return spec


def test_a_project_past_max_size_is_refused_at_code_before_anything_is_packed(orch, tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    spec = project(tmp_path, size="4KB")
    for args in (("run", spec), ("render", spec, "-b", "all", "-o", tmp_path / "out")):
        code, _, err = orch(*args)
        assert code == 2, err
        assert re.search(r"spec\.yaml:3:7: error\[E232\] code: the code to ship is 5\.2 KB, over the limit of 4 KB; "
                         r"the largest files: weights\.bin \(5 KB\)", err), err
        assert err.count("hint: add patterns to code.exclude, or raise code.max_size") == 1
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()
    assert not list((tmp_path / ".orch").glob("runs/*"))  # no run recorded


def test_render_names_one_archive_in_every_backends_files(orch, tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    code, _, err = orch("render", project(tmp_path), "-b", "all", "-o", tmp_path / "out")
    assert code == 0, err
    sha = re.search(r"code: 4 files, .* sha256 ([0-9a-f]{12})", err).group(1)  # the listing, work/ x2, weights.bin
    archives = list((tmp_path / "cache" / "code").glob("*.tar.gz"))
    assert len(archives) == 1 and archives[0].name.startswith(sha)
    full = archives[0].name[:64]
    for backend in ("argo", "prefect", "airflow"):
        texts = [p.read_text() for p in (tmp_path / "out" / backend).iterdir()]
        assert any(full in text for text in texts), backend


def test_an_unreadable_secrets_file_is_exit_2_naming_it(orch, tmp_path):
    code, _, err = orch("run", project(tmp_path), "--secrets", tmp_path / "absent.env")
    assert code == 2 and f"--secrets {tmp_path / 'absent.env'}: cannot read it" in err


@pytest.mark.parametrize("text, size", [("1KB", 1000), ("100MB", 10**8), ("2GiB", 2 * 2**30), ("512Mi", 512 * 2**20),
                                        (4096, 4096), ("10B", 10)])
def test_sizes_read_as_people_write_them(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["1m", "x", "1.5", "-1KB", True])
def test_sizes_that_are_not_whole_bytes_are_refused(text):
    with pytest.raises(ValueError, match="invalid size"):
        parse_bytes(text)


def test_a_patch_of_the_job_container_is_refused_for_prefect_only(orch, tmp_path):
    spec = tmp_path / "patch.yaml"
    spec.write_text("apiVersion: orch/v1\nname: patch\ndefaults:\n  kubernetes:\n    pod_spec_patch:\n"
                    "      containers: [{name: main, securityContext: {privileged: true}}]\n"
                    "steps:\n  a: {command: [echo], image: alpine}\n")
    code, _, err = orch("render", spec, "-b", "prefect", "-o", tmp_path / "out")
    assert code == 2 and "patch.yaml:6:19: error[E830] defaults.kubernetes.pod_spec_patch.containers" in err, err
    assert not (tmp_path / "out").exists()
    code, out, err = orch("render", spec, "-b", "argo")
    assert code == 0 and "podSpecPatch" in out, err


def test_a_steps_pod_mappings_merge_with_the_defaults_and_its_lists_replace_them():
    from orch.core.spec import Pipeline

    pipeline = Pipeline.model_validate({"name": "merge", "defaults": {"kubernetes": {
        "labels": {"team": "ml"}, "node_selector": {"pool": "gpu"}, "pod_spec_patch": {"priority": 1},
        "volumes": [{"name": "shm", "mount_path": "/dev/shm", "empty_dir": True}]}},
        "steps": {"a": {"command": ["x"], "kubernetes": {
            "labels": {"role": "trainer"}, "pod_spec_patch": {"hostIPC": True},
            "volumes": [{"name": "data", "mount_path": "/data", "pvc": "cache"}]}}}})
    pod = pipeline.steps["a"].kubernetes
    assert pod.labels == {"team": "ml", "role": "trainer"} and pod.node_selector == {"pool": "gpu"}
    assert pod.pod_spec_patch == {"hostIPC": True} and [v.name for v in pod.volumes] == ["data"]


def test_a_typo_in_a_secret_is_told_what_was_meant(orch, tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text("apiVersion: orch/v1\nname: typo\nsteps:\n  a: {command: [echo], env: {T: {secret: s, kye: k}}}\n")
    code, _, err = orch("validate", spec)
    assert code == 2 and "steps.a.env.T.kye: unknown field 'kye'" in err and "did you mean 'key'?" in err
