# syntax=docker/dockerfile:1
# One image for every role: `wcx serve [--role engine|gateway|wallet|admin|all]`, `wcx migrate`,
# `wcx verify`, `wcx audit verify`. Build: docker build -t wcx:dev .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: compilers only here; the runtime stage gets the finished virtualenv ----------------------
FROM ${PYTHON_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libffi-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/wcx
WORKDIR /app
# Dependencies first (exact pins in pyproject.toml): the layer stays cached while only code changes.
COPY pyproject.toml README.md ./
RUN mkdir wcx && touch wcx/__init__.py \
 && /opt/wcx/bin/pip install . \
 && /opt/wcx/bin/pip uninstall -y wcx \
 && rm -rf wcx build ./*.egg-info
COPY wcx ./wcx
COPY config ./config
COPY scripts ./scripts
# Editable: the package stays in /app next to config/ (the defaults resolve config/*.toml from the
# source tree), and the byte code is compiled now because the root filesystem is read-only at run time.
RUN /opt/wcx/bin/pip install --no-deps -e .
# The engine compiled with mypyc, in place (extension modules load before the .py beside them; the
# pure-Python engine stays the reference). Same modules as scripts/build_native.sh (a test checks);
# mypy is a build tool and leaves again. Then the byte code, for the read-only root filesystem.
RUN /opt/wcx/bin/pip install setuptools==80.9.0 mypy==2.4.1 \
 && /opt/wcx/bin/mypyc wcx/engine/orders.py wcx/engine/book.py wcx/engine/state.py wcx/engine/trading.py \
      wcx/engine/money.py wcx/engine/admin.py wcx/engine/snapshot.py wcx/engine/engine.py \
 && /opt/wcx/bin/pip uninstall -y mypy \
 && rm -rf build \
 && /opt/wcx/bin/python -m compileall -q /app/wcx /opt/wcx/lib

# --- runtime: slim, no compiler, non-root, read-only root filesystem ---------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="wcx" \
      org.opencontainers.image.description="WorldClass Crypto Exchange: engine, gateway, wallet and admin in one image" \
      org.opencontainers.image.licenses="Apache-2.0"
# postgresql-client: pg_dump/pg_restore for scripts/backup.sh and restore.sh run as Kubernetes jobs.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 wcx \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/wcx --no-create-home \
      --shell /usr/sbin/nologin wcx \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/wcx
COPY --from=build /opt/wcx /opt/wcx
COPY --from=build /app /app
# Writable state lives only under DATA_DIR (a volume); /tmp is a tmpfs/emptyDir in compose and k8s.
# PYTHONPATH: mypyc's shared runtime module sits at the top of /app, next to the package.
ENV PATH=/opt/wcx/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WCX_ENV=production \
    DATA_DIR=/var/lib/wcx \
    API_HOST=0.0.0.0 \
    API_PORT=8080 \
    ADMIN_HOST=0.0.0.0 \
    ADMIN_PORT=8081
WORKDIR /app
VOLUME ["/var/lib/wcx"]
USER 10001:10001
EXPOSE 8080 8081
# Every role answers /healthz on API_PORT (gateway and all: the API; engine and wallet: their ops
# listener); the admin role answers it on ADMIN_PORT.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-m", "wcx.healthcheck"]
ENTRYPOINT ["wcx"]
CMD ["serve"]
