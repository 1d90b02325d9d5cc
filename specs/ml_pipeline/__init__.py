"""A small, real ML pipeline for orch's examples: scikit-learn's bundled breast-cancer data.

Folders stand in for the cloud: a data "bucket" and a model "registry" on local disk.
"""
