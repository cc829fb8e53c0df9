# The Genascope pipeline on the official Airflow image: the package (include/, as a wheel) with its runtime
# dependencies, the DAGs and the plugin. One image for every component (scheduler, dag-processor,
# triggerer, workers, api-server). Build from the repository root:
#
#   docker build -t registry.example/genascope-airflow:0.1.0 .
#
# Not built in this repository's CI (no Docker engine there): `make test-package` checks the same install
# (the wheel + requirements/runtime.txt into a fresh venv, dags/ and plugins/ copied, no PYTHONPATH:
# no DAG import errors, the plugin loaded). docs/deploying.md has the chart values.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11

# ---- build the wheel (setuptools from PyPI in pip's isolated build environment) --------------------------
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION} AS wheel
WORKDIR /src
COPY --chown=airflow:0 pyproject.toml ./
COPY --chown=airflow:0 include ./include
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/dist .

# ---- the image ------------------------------------------------------------------------------------------
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION
ARG PYTHON_VERSION
# Airflow's constraints for this Airflow and Python decide every version Airflow shares with the package;
# the project's lock (requirements.txt) fixes the versions of what Airflow does not constrain (splink,
# DuckDB, great_expectations, fhir.resources, hl7, …). The wheel's own dependencies are lower bounds, so
# they resolve within both. Override AIRFLOW_CONSTRAINTS_URL for a mirror.
ARG AIRFLOW_CONSTRAINTS_URL=https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt
COPY --chown=airflow:0 requirements.txt /tmp/genascope/lock.txt
COPY --from=wheel /tmp/dist/ /tmp/genascope/dist/
RUN set -eux; \
    curl -fsSL "${AIRFLOW_CONSTRAINTS_URL}" -o /tmp/genascope/airflow-constraints.txt; \
    awk -F'==' 'NR==FNR { if ($0 !~ /^#/ && NF == 2) seen[tolower($1)] = 1; print; next } \
                !/^#/ && NF == 2 && !(tolower($1) in seen)' \
        /tmp/genascope/airflow-constraints.txt /tmp/genascope/lock.txt > /tmp/genascope/constraints.txt; \
    pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /tmp/genascope/dist/*.whl \
        --constraint /tmp/genascope/constraints.txt; \
    rm -rf /tmp/genascope; \
    python -c "import include.core.db, include.ui.app"

# The DAGs and the plugin import `include` from site-packages: no PYTHONPATH, no source tree in the image.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
ENV GX_ANALYTICS_ENABLED=False \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__API__EXPOSE_CONFIG=False
