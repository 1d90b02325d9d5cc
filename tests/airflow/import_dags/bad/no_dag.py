"""A Python file that makes no DAG."""

VALUE = 1
