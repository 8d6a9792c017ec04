# resizer-tfx pipeline image: what every Kubeflow v2 / Vertex AI Pipelines step runs in.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/resizer-tfx:$(git rev-parse --short HEAD) .
#   python pipeline_runner.py compile --image THAT_TAG --output pipeline.json --pipeline-root gs://BUCKET/root ...
#
# Same pinned package set as the local .venv (requirements/constraints.txt, resolved for
# manylinux <= 2.36, i.e. Debian 12). CPU TensorFlow; training on GPUs needs a CUDA base image
# (see docs/deploy.md).
FROM python:3.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The project's Keras policy (trainer/environment.py): set before any process imports TensorFlow,
    # so TFX executors, Beam workers and subprocesses all agree on what tf.keras means.
    TF_USE_LEGACY_KERAS=1 \
    KERAS_BACKEND=tensorflow \
    TF_CPP_MIN_LOG_LEVEL=2 \
    TF_ENABLE_ONEDNN_OPTS=1 \
    TF_FORCE_GPU_ALLOW_GROWTH=true

WORKDIR /pipeline

# 1. Dependencies first (cached until setup.py or the lock changes).
COPY requirements/ requirements/
COPY setup.py README.md ./
RUN pip install -c requirements/constraints.txt -r requirements/requirements.in

# 2. The project code, installed so the compiled pipeline's dotted paths import
#    (trainer.run.run_fn, trainer.preprocessing.preprocessing_fn,
#    components.image_folder_example_gen.Executor, pipeline.kubeflow.RuntimeConfig_Executor, ...).
COPY pipeline/ pipeline/
COPY components/ components/
COPY trainer/ trainer/
COPY serving/ serving/
COPY pipeline_runner.py ./
RUN pip install --no-deps -c requirements/constraints.txt . \
    && python -c "import trainer.run, trainer.preprocessing, components.comparison_report, components.tfds_example_gen, components.image_folder_example_gen, pipeline.kubeflow, serving.client"

# The compiled pipeline sets each container's command itself (KubeflowV2DagRunner's default,
# the same as below); this entrypoint only matters when the image is run without one.
ENTRYPOINT ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
