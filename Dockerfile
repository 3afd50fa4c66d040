# paystream: one image for every process kind (worker, sink, notify, api, and the one-off
# commands). Multi-stage: the build tools stay in the first stage; the runtime runs as an
# unprivileged user with a read-only root filesystem (deploy/compose, deploy/k8s).
#
#   docker build -t paystream:local .
#   docker run --rm paystream:local --help

FROM rust:1.85-slim-bookworm AS rust

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# native/avro (the compiled Avro bodies) is Rust, built by maturin: the toolchain from the
# official rust image, gcc to link it. None of it reaches the runtime stage.
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python -m venv /opt/paystream
COPY pyproject.toml README.md ./
COPY paystream/ paystream/
COPY streams/ streams/
COPY schemas/ schemas/
COPY agents/ agents/
COPY sinks/ sinks/
COPY api/ api/
COPY loadtest/ loadtest/
COPY native/ native/
RUN /opt/paystream/bin/pip install . ./native/avro

FROM python:3.11-slim-bookworm
# A fixed uid/gid so volumes and Kubernetes' runAsUser agree; /models is the models volume's
# mount point, owned by that user so a fresh named volume is writable by `paystream train`.
RUN groupadd --system --gid 10001 paystream \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/paystream --create-home paystream \
    && mkdir -p /models && chown 10001:10001 /models
COPY --from=build /opt/paystream /opt/paystream
ENV PATH=/opt/paystream/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PAYSTREAM_MODELS_DIR=/models \
    PAYSTREAM_METRICS_HOST=0.0.0.0 \
    PAYSTREAM_METRICS_PORT=9100 \
    PAYSTREAM_API_HOST=0.0.0.0 \
    NUMBA_CACHE_DIR=/tmp/numba
USER 10001:10001
WORKDIR /home/paystream
# 8000: the API; 9100: /metrics (PAYSTREAM_METRICS_PORT) in every process kind.
EXPOSE 8000 9100
# Every long-running process kind serves /metrics: answering is being alive.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/metrics', timeout=4)"]
ENTRYPOINT ["paystream"]
CMD ["--help"]
