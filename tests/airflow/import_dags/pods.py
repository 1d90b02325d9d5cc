"""A KubernetesPodOperator with pod settings, written for orch's import tests."""

import pendulum
from kubernetes.client import models as k8s

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG

with DAG("pods", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    train = KubernetesPodOperator(
        task_id="train",
        image="registry.example.com/trainer:1.4",
        cmds=["python", "train.py"],
        arguments=["--epochs", "{{ params.epochs }}", "--date", "{{ ds }}"],
        env_vars={"WANDB_MODE": "offline"},
        labels={"team": "ml"},
        annotations={"owner": "ml-platform"},
        node_selector={"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
        tolerations=[k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
        service_account_name="trainer",
        image_pull_policy="IfNotPresent",
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}, limits={"cpu": "8", "memory": "32Gi"}),
        volumes=[k8s.V1Volume(name="cache", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
            claim_name="dataset-cache"))],
        volume_mounts=[k8s.V1VolumeMount(name="cache", mount_path="/data", read_only=True)],
        image_pull_secrets=[k8s.V1LocalObjectReference(name="registry-creds")],
        retries=2,
        params={"epochs": 10},
    )
