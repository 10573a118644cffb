# syntax=docker/dockerfile:1
# The one Tawa image. Its entrypoint is the `tawa` command; the three programs are
#   docker run IMAGE operator run [--liveness http://0.0.0.0:8080/healthz] [--metrics-port 9090]
#   docker run IMAGE wallet serve --host 0.0.0.0 --port 8081
#   docker run IMAGE janus serve --port 3000 --wallet-url http://WALLET:8081
# (helm/tawa and manifests/ run exactly these). Build: docker build -t REGISTRY/tawa:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build: wheel + venv
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/tawa
# Dependencies first (only pyproject.toml), so that a source change reuses this layer.
COPY pyproject.toml README.md ./
RUN mkdir -p operator/tawa && touch operator/tawa/__init__.py \
 && /opt/tawa/bin/pip install . \
 && /opt/tawa/bin/pip uninstall --yes tawa
COPY operator/ operator/
RUN /opt/tawa/bin/pip install --no-deps . \
 && /opt/tawa/bin/python -m compileall -q /opt/tawa/lib \
 && /opt/tawa/bin/tawa --version

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tawa" \
      org.opencontainers.image.description="Tawa gas platform: Component operator, wallet and Janus" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 tawa \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/tawa --create-home --shell /usr/sbin/nologin tawa \
 && mkdir -p /var/lib/tawa \
 && chown 10001:10001 /var/lib/tawa
COPY --from=build /opt/tawa /opt/tawa
ENV PATH=/opt/tawa/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/tawa \
    TAWA_DATA_DIR=/var/lib/tawa
WORKDIR /home/tawa
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# Janus, wallet, operator liveness, operator metrics.
EXPOSE 3000 8081 8080 9090
ENTRYPOINT ["tawa"]
CMD ["--help"]
