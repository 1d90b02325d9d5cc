"""Invalid specs through the real `orch validate`: exit 2, a located message, never a traceback.

Each case names the error code, the line and column it must point at, and words the
message must contain (the culprit's name, the field). Specs are written inline so their
line numbers can be read off the case.
"""

from __future__ import annotations

import pytest

H = "apiVersion: orch/v1\nname: p\n"  # the two header lines most cases start with

CASES = [
    # --- YAML itself
    ("yaml-unclosed-flow", H + "steps:\n  a: {python: m:f\n", "E101", 4, 6, "invalid YAML"),
    ("yaml-bad-indent", H + "steps:\n  a:\n    python: m:f\n   command: [x]\n", "E101", 6, 4, "invalid YAML"),
    ("yaml-duplicate-key", H + "steps:\n  a: {python: m:f}\n  a: {python: m:g}\n", "E105", 5, 3, "duplicate key 'a'"),
    ("yaml-empty", "# nothing here\n", "E102", 1, 1, "the spec is empty"),
    ("yaml-python-tag", H + "steps:\n  a: !!python/object:os.system {}\n", "E103", 4, 6, "unsupported YAML tag"),
    ("yaml-list-at-top", "- a\n- b\n", "E203", 1, 1, "a spec is a mapping"),
    # --- the pipeline's own fields
    ("missing-api-version", "name: p\nsteps:\n  a: {python: m:f}\n", "E204", 1, 1, "missing 'apiVersion'"),
    ("wrong-api-version", "apiVersion: orch/v2\nname: p\nsteps:\n  a: {python: m:f}\n", "E201", 1, 13, "'orch/v1'"),
    ("missing-name", "apiVersion: orch/v1\nsteps:\n  a: {python: m:f}\n", "E201", 1, 1, "missing required field 'name'"),
    ("name-uppercase", "apiVersion: orch/v1\nname: My_Pipe\nsteps:\n  a: {python: m:f}\n", "E301", 2, 7, "'My_Pipe' must start with a lowercase letter"),
    ("name-too-long", f"apiVersion: orch/v1\nname: {'p' * 64}\nsteps:\n  a: {{python: m:f}}\n", "E301", 2, 7, "64 characters long; the limit is 63"),
    ("scheduled-name-too-long", f"apiVersion: orch/v1\nname: {'p' * 53}\nschedule: '@daily'\nsteps:\n  a: {{python: m:f}}\n",
     "E301", 2, 7, "the limit is 52"),
    ("top-level-typo", H + "step:\n  a: {python: m:f}\n", "E201", 3, 1, "unknown field 'step'"),
    ("no-steps", H + "steps: {}\n", "E202", 3, 1, "needs at least one step"),
    ("label-invalid", H + "labels: {team: 'ml team!'}\nsteps:\n  a: {python: m:f}\n", "E201", 3, 9, "label team='ml team!'"),
    # --- params
    ("param-default-wrong-type", H + "params:\n  threshold: {type: number, default: high}\nsteps:\n  a: {python: m:f}\n",
     "E201", 4, 14, "default 'high' is not of type number"),
    ("param-unknown-type", H + "params:\n  n: {type: int}\nsteps:\n  a: {python: m:f}\n", "E201", 4, 13, "must be one of 'string'"),
    ("param-name-collision", H + "params:\n  max_depth: {type: integer}\n  max-depth: {type: integer}\nsteps:\n  a: {python: m:f}\n",
     "E302", 5, 3, "'max_depth' and 'max-depth' collide"),
    # --- steps: shape
    ("step-neither-python-nor-command", H + "steps:\n  a: {image: x}\n", "E210", 4, 3, "exactly one of 'python'"),
    ("step-both-python-and-command", H + "steps:\n  a:\n    python: m:f\n    command: [x]\n", "E210", 6, 5, "exactly one of 'python'"),
    ("python-path-without-function", H + "steps:\n  a: {python: ml.steps.train}\n", "E201", 4, 15, "string should match pattern"),
    ("command-empty", H + "steps:\n  a: {command: []}\n", "E201", 4, 16, "at least 1 item"),
    ("command-as-one-string", H + "steps:\n  a: {command: python train.py}\n", "E201", 4, 16, "a command is a list of arguments"),
    ("step-not-a-mapping", H + "steps:\n  a: python train.py\n", "E201", 4, 6, "steps.a: must be a mapping of fields"),
    ("args-on-command-step", H + "steps:\n  a:\n    command: [x]\n    args: {n: 1}\n", "E211", 6, 5, "'args' are keyword arguments"),
    ("step-field-typo", H + "steps:\n  a:\n    python: m:f\n    retires: 3\n", "E201", 6, 5, "unknown field 'retires'"),
    ("trigger-typo", H + "steps:\n  a: {python: m:f}\n  b: {python: m:g, after: [a], trigger: all_sucess}\n",
     "E201", 5, 41, "must be one of 'all_succeeded'"),
    ("step-name-invalid", H + "steps:\n  Train: {python: m:f}\n", "E301", 4, 3, "step 'Train' must start with a lowercase letter"),
    ("step-name-collision", H + "steps:\n  load_data: {python: m:f}\n  load-data: {python: m:g}\n", "E302", 5, 3,
     "'load_data' and 'load-data' collide"),
    ("output-name-invalid", H + "steps:\n  a:\n    python: m:f\n    outputs: {Accuracy: number}\n", "E301", 6, 15, "output 'Accuracy'"),
    ("output-type-unknown", H + "steps:\n  a:\n    python: m:f\n    outputs: {n: float}\n", "E201", 6, 18, "must be one of"),
    ("env-name-invalid", H + "steps:\n  a:\n    python: m:f\n    env: {1BAD: x}\n", "E214", 6, 11, "'1BAD' is invalid"),
    ("arg-name-not-identifier", H + "steps:\n  a:\n    python: m:f\n    args: {data-path: x}\n", "E213", 6, 12, "'data-path' is not a Python identifier"),
    # --- steps: values
    ("timeout-bad-duration", H + "steps:\n  a: {python: m:f, timeout: 2 hours}\n", "E201", 4, 29, "invalid duration '2 hours'"),
    ("memory-milli-bytes", H + "steps:\n  a:\n    python: m:f\n    resources: {memory: 512m}\n", "E201", 6, 25, "'512m' is milli-bytes"),
    ("cpu-not-a-quantity", H + "steps:\n  a:\n    python: m:f\n    resources: {cpu: lots}\n", "E201", 6, 22, "invalid Kubernetes quantity 'lots'"),
    ("gpu-negative", H + "steps:\n  a:\n    python: m:f\n    resources: {gpu: -1}\n", "E201", 6, 22, "greater than or equal to 0"),
    ("retries-factor-below-one", H + "steps:\n  a:\n    python: m:f\n    retries: {limit: 2, factor: 0.5}\n", "E201", 6, 33,
     "greater than or equal to 1"),
    ("retries-negative-limit", H + "steps:\n  a:\n    python: m:f\n    retries: {limit: -1}\n", "E201", 6, 22, "greater than or equal to 0"),
    ("pull-policy-typo", H + "steps:\n  a:\n    python: m:f\n    kubernetes: {image_pull_policy: always}\n", "E201", 6, 37,
     "'Always'"),
    ("parallelism-without-foreach", H + "steps:\n  a: {python: m:f, parallelism: 2}\n", "E212", 4, 20, "needs 'foreach'"),
    # --- schedule
    ("cron-invalid", H + "schedule: {cron: '61 * * * *'}\nsteps:\n  a: {python: m:f}\n", "E201", 3, 18, "not a valid cron"),
    ("cron-six-fields", H + "schedule: {cron: '0 0 2 * * *'}\nsteps:\n  a: {python: m:f}\n", "E201", 3, 18, "has 6 fields"),
    ("timezone-unknown", H + "schedule: {cron: '0 2 * * *', timezone: Mars/Olympus}\nsteps:\n  a: {python: m:f}\n", "E201", 3, 41,
     "unknown time zone 'Mars/Olympus'"),
    # --- edges
    ("after-unknown-step", H + "steps:\n  features: {python: m:f}\n  train: {python: m:g, after: [featurs]}\n", "E401", 5, 32,
     "unknown step 'featurs'"),
    ("after-itself", H + "steps:\n  a: {python: m:f, after: [a]}\n", "E402", 4, 28, "cannot come after itself"),
    ("cycle-through-after", H + "steps:\n  a: {python: m:f, after: [c]}\n  b: {python: m:g, after: [a]}\n  c: {python: m:h, after: [b]}\n",
     "E403", 4, 28, "a -> b -> c -> a"),
    ("cycle-through-references", H + "steps:\n  a:\n    python: m:f\n    args: {x: '${{ steps.b.outputs.y }}'}\n    outputs: {x: string}\n"
     "  b:\n    python: m:g\n    args: {x: '${{ steps.a.outputs.x }}'}\n    outputs: {y: string}\n", "E403", 6, 16, "a -> b -> a"),
    # --- references
    ("unknown-param", H + "params:\n  bucket: {default: x}\nsteps:\n  a:\n    python: m:f\n    args: {b: '${{ params.bukcet }}'}\n",
     "E502", 8, 16, "unknown param 'bukcet'"),
    ("unknown-step-in-reference", H + "steps:\n  a:\n    python: m:f\n    args: {x: '${{ steps.ingest.outputs.path }}'}\n", "E503", 6, 16,
     "unknown step 'ingest'"),
    ("unknown-output", H + "steps:\n  a: {python: m:f, outputs: {data_path: string}}\n  b:\n    python: m:g\n"
     "    args: {x: 'in ${{ steps.a.outputs.data_pth }}'}\n", "E505", 7, 19, "step 'a' has no output 'data_pth'"),
    ("own-output", H + "steps:\n  a:\n    python: m:f\n    args: {x: '${{ steps.a.outputs.y }}'}\n    outputs: {y: string}\n", "E504", 6, 16,
     "refers to its own output 'y'"),
    ("reference-not-closed", H + "steps:\n  a: {command: [echo, 'x ${{ params.a']}\n", "E501", 4, 26, "never closed"),
    ("reference-unknown-form", H + "steps:\n  a: {command: [echo, '${{ steps.b.result }}']}\n  b: {python: m:g}\n", "E501", 4, 24,
     "unknown reference 'steps.b.result'"),
    ("item-outside-foreach", H + "steps:\n  a: {command: [echo, '${{ item }}']}\n", "E506", 4, 24, "only defined in a step with 'foreach'"),
    ("foreach-over-string-param", H + "params:\n  grid: {default: a}\nsteps:\n  a: {python: m:f, foreach: '${{ params.grid }}'}\n",
     "E508", 6, 29, "params.grid is of type string"),
    ("foreach-plain-text", H + "steps:\n  a: {python: m:f, foreach: a,b,c}\n", "E507", 4, 29, "foreach takes a list"),
    # --- conditions
    ("when-syntax-error", H + "steps:\n  a: {python: m:f, when: 'params.x >'}\nparams:\n  x: {default: 1}\n", "E601", 4, 37, "invalid condition"),
    ("when-function-call", H + "params:\n  x: {default: 1}\nsteps:\n  a: {python: m:f, when: 'len(params.x) > 1'}\n", "E601", 6, 27,
     "function call is not allowed"),
    ("when-with-braces", H + "params:\n  x: {default: 1}\nsteps:\n  a: {python: m:f, when: '${{ params.x }} > 1'}\n", "E601", 6, 27,
     "without ${{ }}"),
    ("when-number-vs-string", H + "steps:\n  a: {python: m:f, outputs: {acc: number}}\n  b: {python: m:g, when: steps.a.outputs.acc > 'high'}\n",
     "E602", 5, 26, "'>' cannot compare a number with a string"),
    ("when-not-boolean", H + "params:\n  mode: {default: full}\nsteps:\n  a: {python: m:f, when: params.mode}\n", "E602", 6, 26,
     "must be true or false, but this is a string"),
    ("when-orders-json", H + "steps:\n  a: {python: m:f, outputs: {report: json}}\n  b: {python: m:g, when: steps.a.outputs.report >= 1}\n",
     "E602", 5, 26, "cannot order a json value"),
    ("when-item", H + "steps:\n  a: {python: m:f, foreach: [1, 2], when: item > 1}\n", "E601", 4, 43, "'item' cannot be used in a condition"),
    # --- bounds and values no spec may hold (docs/limits.md)
    ("nul-in-description", H + 'description: "a\\0b"\nsteps:\n  a: {python: m:f}\n', "E107", 3, 14, "NUL character"),
    ("nul-in-command", H + 'steps:\n  a: {command: [echo, "x\\x00"]}\n', "E107", 4, 23, "steps.a.command[1]: text holds a NUL"),
    ("nul-in-env-name", H + 'steps:\n  a: {python: m:f, env: {"A\\u0000": x}}\n', "E107", 4, 26, "steps.a.env['A\\x00']: key holds a NUL"),
    ("infinite-timeout", H + "steps:\n  a: {python: m:f, timeout: .inf}\n", "E109", 4, 29, ".inf is not a finite number"),
    ("nan-default", H + "params:\n  x: {type: number, default: .nan}\nsteps:\n  a: {python: m:f}\n", "E109", 4, 30, "not a finite"),
    ("overflowing-float-arg", H + "steps:\n  a: {python: m:f, args: {x: [1.0e+400]}}\n", "E109", 4, 31, "not a finite number"),
    ("huge-integer", H + f"params:\n  n: {{default: {'9' * 5000}}}\nsteps:\n  a: {{python: m:f}}\n", "E110", 4, 16,
     "outside the signed 64-bit range"),
    ("integer-past-64-bits", H + "steps:\n  a: {python: m:f, args: {n: 9223372036854775808}}\n", "E110", 4, 30, "64-bit"),
    ("int-tag-on-text", H + "params:\n  n: {default: !!int abc}\nsteps:\n  a: {python: m:f}\n", "E111", 4, 16, "'abc' is not a valid int"),
    ("recursive-alias", H + "x: &x [*x]\nsteps:\n  a: {python: m:f}\n", "E114", 3, 8, "recursive alias"),
    ("retries-limit-too-high", H + "steps:\n  a:\n    python: m:f\n    retries: {limit: 101}\n", "E215", 6, 22, "more than 100"),
    ("timeout-zero", H + "steps:\n  a: {python: m:f, timeout: 0}\n", "E216", 4, 29, "a timeout must be more than 0"),
    ("pipeline-timeout-zero", H + "timeout: 0s\nsteps:\n  a: {python: m:f}\n", "E216", 3, 10, "a timeout must be more than 0"),
    ("timeout-past-a-year", H + "steps:\n  a: {python: m:f, timeout: 367d}\n", "E217", 4, 29, "longer than 366d"),
    ("delay-past-a-year", H + "steps:\n  a:\n    python: m:f\n    retries: {limit: 1, delay: 400d}\n", "E217", 6, 32, "longer than"),
    ("memory-past-int64", H + "steps:\n  a:\n    python: m:f\n    resources: {memory: 8Ei}\n", "E218", 6, 25, "more than Kubernetes holds"),
    ("cron-never-fires", H + "schedule: {cron: '0 0 31 4 *'}\nsteps:\n  a: {python: m:f}\n", "E222", 3, 18, "never fires"),
    ("image-empty", H + "steps:\n  a: {python: m:f, image: ''}\n", "E201", 4, 27, "an image name cannot be empty"),
    ("when-too-deep", H + f"steps:\n  a: {{python: m:f, when: '{'not ' * 300}true'}}\n", "E603", 4, 155, "nests more than 32 levels"),
    ("when-infinite-literal", H + "params:\n  x: {default: 1}\nsteps:\n  a: {python: m:f, when: params.x < 1e400}\n", "E109", 6, 37,
     "inf is not a finite number"),
    # --- templates, finally steps and groups
    ("template-unknown", H + "templates:\n  train: {python: m:f}\nsteps:\n  a: {uses: trian}\n", "E240", 6, 13, "unknown template 'trian'"),
    ("template-input-unknown", H + "templates:\n  t: {inputs: {lr: number}, python: m:f}\nsteps:\n  a: {uses: t, with: {lr: 1, n: 2}}\n",
     "E241", 6, 30, "template 't' has no input 'n'"),
    ("template-input-missing", H + "templates:\n  t: {inputs: {lr: number}, python: m:f}\nsteps:\n  a: {uses: t}\n",
     "E242", 6, 13, "needs input 'lr'"),
    ("template-input-type", H + "templates:\n  t: {inputs: {lr: number}, python: m:f}\nsteps:\n  a: {uses: t, with: {lr: fast}}\n",
     "E243", 6, 27, "is number, not 'fast'"),
    ("template-undeclared-input", H + "templates:\n  t:\n    python: m:f\n    args: {x: '${{ inputs.lr }}'}\nsteps:\n  a: {uses: t}\n",
     "E244", 6, 16, "has no input 'lr'"),
    ("template-error-located-in-template", H + "templates:\n  t:\n    python: m:f\n    args: {x: '${{ steps.nope.outputs.y }}'}\n"
     "steps:\n  a: {uses: t}\n", "E503", 6, 16, "unknown step 'nope'"),
    ("template-with-value-located", H + "templates:\n  t: {inputs: {w: string}, command: [echo, 'x ${{ inputs.w }}']}\nsteps:\n"
     "  a: {uses: t, with: {w: '${{ params.nope }}'}}\n", "E502", 6, 27, "unknown param 'nope'"),
    ("template-with-text-in-a-condition", H + "params: {env: prod}\ntemplates:\n  t: {inputs: {w: string}, command: ['true'], "
     "when: 'params.env == ${{ inputs.w }}'}\nsteps:\n  a: {uses: t, with: {w: 'a ${{ params.env }}'}}\n", "E243", 7, 26,
     "reaches a condition"),
    ("template-with-steps", H + "templates:\n  t: {python: m:f, uses: u}\nsteps:\n  a: {uses: t}\n", "E245", 4, 20, "cannot have 'uses'"),
    ("finally-name-shared", H + "steps:\n  a: {python: m:f}\nfinally:\n  a: {python: m:g}\n", "E303", 6, 3, "names both a step and a finally step"),
    ("run-status-outside-finally", H + "steps:\n  a: {python: m:f, args: {s: '${{ run.status }}'}}\n", "E510", 4, 31, "in a finally step"),
    ("step-after-finally-step", H + "steps:\n  a: {python: m:f, after: [b]}\nfinally:\n  b: {python: m:g}\n", "E511", 4, 28,
     "cannot depend on the finally step 'b'"),
    ("finally-group", H + "steps:\n  a: {python: m:f}\nfinally:\n  g: {steps: {b: {python: m:g}}}\n", "E248", 6, 7, "cannot be a group"),
    ("group-empty", H + "steps:\n  g: {steps: {}}\n", "E247", 4, 7, "needs at least one step"),
    ("group-step-name-invalid", H + "steps:\n  g:\n    steps:\n      a: {python: m:f, outputs: {x: string}}\n      B: {python: m:f}\n", "E301", 7, 7, "step 'B'"),
    ("group-refers-to-itself", H + "steps:\n  g:\n    steps:\n      a: {python: m:f, outputs: {x: string}}\n      b: {python: m:f, args: {v: '${{ steps.g.outputs.o }}'}}\n    outputs: {o: '${{ steps.a.outputs.x }}'}\n",
     "E512", 7, 35, "inside the group 'g'"),
    ("group-inner-step-hidden", H + "steps:\n  g:\n    steps:\n      a: {python: m:f, outputs: {x: string}}\n  b: {python: m:f, args: {v: '${{ steps.a.outputs.x }}'}}\n", "E503", 7, 31, "unknown step 'a'"),
    ("group-output-not-a-reference", H + "steps:\n  g:\n    steps:\n      a: {python: m:f, outputs: {x: string}}\n    outputs: {o: text}\n", "E513", 7, 18, "one reference to an output of a step"),
    ("group-output-unknown-step", H + "steps:\n  g:\n    steps:\n      a: {python: m:f, outputs: {x: string}}\n    outputs: {o: '${{ steps.z.outputs.x }}'}\n", "E503", 7, 18, "group 'g' has no step 'z'"),
    ("group-no-such-output", H + "steps:\n  g:\n    steps:\n      a: {python: m:f, outputs: {x: string}}\n  b: {python: m:f, args: {v: '${{ steps.g.outputs.o }}'}}\n", "E505", 7, 31, "group 'g' has no output 'o'"),
    ("group-field-typo", H + "steps:\n  g:\n    forach: [1]\n    steps: {a: {python: m:f}}\n", "E201", 5, 5, "unknown field 'forach'"),
    ("item-when-outside-fan-out", H + "steps:\n  a: {python: m:f, when: item == 1}\n", "E601", 4, 26, "only defined inside a fan-out"),
    ("groups-too-deep", H + "steps:\n" + "".join(" " * (2 + 4 * i) + f"g{i}:\n" + " " * (4 + 4 * i) + "steps:\n" for i in range(9))
     + " " * 38 + "a: {python: m:f}\n", "E246", 20, 35, "nested more than 8 deep"),
]


@pytest.mark.parametrize("text, code, line, col, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_spec_is_located(orch, spec_file, text, code, line, col, words):
    path = spec_file(text)
    exit_code, out, err = orch("validate", path)
    assert exit_code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert out == ""
    located = f"{path}:{line}:{col}: error[{code}]"
    lines = [ln for ln in err.splitlines() if ln.startswith(located)]
    assert lines, f"expected a line starting {located!r} in:\n{err}"
    assert any(words in ln for ln in lines), f"expected {words!r} in {lines}"


def test_every_problem_is_reported_in_one_run(orch, spec_file):
    path = spec_file(
        H + "params:\n  t: {type: number, default: x}\nsteps:\n"
        "  a: {python: m:f, retires: 1}\n"
        "  b: {python: m:g, after: [nope]}\n"
        "  c: {command: [echo, '${{ params.nope }}'], when: 'steps.a.outputs.z == 1'}\n"
        "  d: {python: m:d, outputs: {n: float}}\n"
        "  e: {python: m:e, args: {n: '${{ steps.d.outputs.n }}'}}\n"
    )
    exit_code, _, err = orch("validate", path)
    assert exit_code == 2
    codes = [ln.split("error[")[1][:4] for ln in err.splitlines() if "error[" in ln]
    # The bad default, the typo'd field, the unknown 'after' step, the unknown param, the
    # unknown output of a (salvaged) step, d's bad output type -- but no second error for
    # e's reference to d's broken outputs.
    assert codes == ["E201", "E201", "E401", "E502", "E505", "E201"], err
    assert err.rstrip().endswith("6 errors found")


def test_a_hint_names_the_closest_choice(orch, spec_file):
    path = spec_file(H + "steps:\n  features: {python: m:f}\n  train: {python: m:g, after: [featurs]}\n")
    _, _, err = orch("validate", path)
    assert "hint: did you mean 'features'?" in err


def test_the_excerpt_points_at_the_culprit(orch, spec_file):
    path = spec_file(H + "steps:\n  a: {python: m:f, after: [nope]}\n")
    _, _, err = orch("validate", path)
    excerpt = err.splitlines()[1:3]
    assert excerpt[0] == "  4 |   a: {python: m:f, after: [nope]}"
    assert excerpt[1].index("^") == excerpt[0].index("nope")


def test_json_diagnostics(orch, spec_file):
    import json

    path = spec_file(H + "steps:\n  a: {python: m:f, after: [b]}\n")
    exit_code, out, _ = orch("validate", path, "--json")
    assert exit_code == 2
    report = json.loads(out)
    assert report["valid"] is False
    assert report["errors"] == [{
        "code": "E401", "message": "unknown step 'b' in 'after'", "field": "steps.a.after[0]",
        "file": str(path), "line": 4, "col": 28, "hint": None,
    }]


def test_missing_file_is_a_usage_error(orch, tmp_path):
    exit_code, _, err = orch("validate", tmp_path / "nope.yaml")
    assert exit_code == 2
    assert err.strip() == f"spec file not found: {tmp_path / 'nope.yaml'}"


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("text", [H + "steps:\n  a: python train.py\n", H + "steps:\n  a: {command: python train.py}\n"])
def test_a_broken_step_gives_one_error_not_a_cascade(orch, spec_file, text):
    _, _, err = orch("validate", spec_file(text))
    assert err.rstrip().endswith("\n1 error found"), err
