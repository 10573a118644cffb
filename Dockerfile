# The one Tawa image. Its entrypoint is the `tawa` command; the three programs and the console are
#   docker run IMAGE operator run [--liveness http://0.0.0.0:8080/healthz] [--metrics-port 9090]
#   docker run IMAGE wallet serve --host 0.0.0.0 --port 8081
#   docker run IMAGE janus serve --port 3000 --wallet-url http://WALLET:8081
#   docker run IMAGE console serve --host 0.0.0.0 --port 8090 --wallet-url http://WALLET:8081 --kubeconfig ""
# (helm/tawa and manifests/ run exactly these).
#
# Build it with `make image`: it fetches the locked dependencies (requirements.lock, hashes
# checked) into build/wheelhouse first, and nothing in this build reaches the network.
# No `# syntax` line: it builds with the classic builder (no frontend image to pull) and
# with BuildKit. PYTHON_IMAGE is any Debian-like base with Python 3.11 and its venv module:
# python:3.11-slim where a registry is reachable, or the Debian base `make image` makes.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build: the venv
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheels \
    PYTHONDONTWRITEBYTECODE=1
# The wheelhouse first: it changes only with requirements.lock, so a source change reuses it.
COPY build/wheelhouse/ /wheels/
RUN python3 -m venv /opt/tawa \
 && /opt/tawa/bin/pip install -q 'setuptools>=77'
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY operator/ operator/
# One install of the real sources (never over a placeholder: setuptools' build/ would keep it).
# Only the wheelhouse is offered, so every dependency is the locked version. The kubernetes
# package ships an asyncio copy of its client (~70 MB) that nothing here imports.
RUN /opt/tawa/bin/pip install -q --no-build-isolation . \
 && /opt/tawa/bin/pip uninstall -q --yes setuptools pip \
 && rm -rf /opt/tawa/lib/python3.11/site-packages/kubernetes/aio \
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
RUN tawa --version
# Janus, wallet, operator liveness, operator metrics.
EXPOSE 3000 8081 8080 9090
ENTRYPOINT ["tawa"]
CMD ["--help"]
