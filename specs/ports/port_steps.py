"""Step bodies shared by the ports: small standard-library functions whose outputs show the data flow."""

from __future__ import annotations


def flip(coin: str) -> str:
    """A coin that lands as it is told (the originals flip a random one)."""
    if coin not in ("heads", "tails"):
        raise ValueError(f"a coin lands heads or tails, not {coin!r}")
    return coin


def say(message: str) -> str:
    print(message)
    return message


def first_present(values: list):
    """The first value that is not null: the output of whichever branch ran."""
    return next((v for v in values if v is not None), None)


# --- Airflow: example_task_group_decorator.py and "Mapping over a task group"


def task_start() -> str:
    return "[Task_start]"


def task_1(value: int) -> str:
    return f"[ Task1 {value} ]"


def task_2(value: str) -> str:
    return f"[ Task2 {value} ]"


def task_3(value: str) -> str:
    print(f"[ Task3 {value} ]")
    return f"[ Task3 {value} ]"


def task_end(seen: list) -> int:
    """The last task: how many groups' last tasks it saw."""
    print("[ Task_End  ]")
    return len(seen)


def add_one(value: int) -> int:
    return value + 1


def double(value: int) -> int:
    return value * 2


def consumer(values: list) -> list:
    print(f"consumer got {values}")
    return values


def branch(element: str) -> str:
    """Which of a, b and c the element asks for."""
    return "a" if "a" in element else "b" if "b" in element else "c"


# --- Kubeflow Pipelines: pipeline_in_pipeline_complex.py inside pipeline_as_exit_task.py's ExitHandler


def fail_op(message: str, fail: bool) -> str:
    """Fails (as the original's always does) unless told not to."""
    print(message)
    if fail:
        raise SystemExit(1)
    return message


def get_run_state(status: str, failed: list) -> str:
    print(f"Pipeline status: {status}, failed: {failed}")
    return status
