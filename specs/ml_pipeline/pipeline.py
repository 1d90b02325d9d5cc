"""specs/ml-training.yaml built in Python with orch's builder API (the two are equal: tested)."""

from orch.core.builder import RUN_DATE, PipelineBuilder

from . import steps

pipe = PipelineBuilder(
    "ml-training-pipeline",
    description="Nightly training of the model",
    schedule={"cron": "0 2 * * *", "timezone": "UTC"},
    defaults={"image": "my-ml-pipeline:latest", "retries": {"limit": 2, "delay": "30s", "factor": 2, "max_delay": "10m"}},
)
bucket = pipe.param("bucket", default=".orch/data-bucket", description="folder standing in for the data bucket")
registry = pipe.param("registry", default=".orch/model-registry", description="folder standing in for the model registry")
threshold = pipe.param("threshold", "number", 0.85, description="minimum accuracy to deploy")

ingest = pipe.step(steps.ingest, args={"bucket": bucket}, env={"S3_BUCKET": bucket},
                   resources={"cpu": "100m", "memory": "512Mi"}, outputs={"dataset": "artifact"})
features = pipe.step(steps.features, args={"data_path": ingest.outputs.dataset},
                     resources={"cpu": "500m", "memory": "1Gi"}, outputs={"features": "artifact"})
train = pipe.step(steps.train, args={"features_path": features.outputs.features},
                  resources={"cpu": 4, "memory": "16Gi", "gpu": 1}, timeout="2h",
                  outputs={"accuracy": "number", "model": "artifact"})
evaluate = pipe.step(steps.evaluate, args={"model_path": train.outputs.model, "features_path": features.outputs.features},
                     outputs={"report": "json"})
deploy = pipe.step(steps.deploy, after=[evaluate], when=train.outputs.accuracy > threshold,
                   args={"model_path": train.outputs.model, "registry": registry, "run_date": RUN_DATE},
                   outputs={"deployed_path": "string"})

pipeline = pipe.build()
