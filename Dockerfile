# humbot: CPU image by default. For a GPU image build with a CUDA runtime base, e.g.
#   docker build --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 -t humbot:cuda .
# (torch from PyPI ships its own CUDA libraries; the base only needs the driver-facing runtime.)
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
    $(command -v python3 >/dev/null || echo python3) python3-venv \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY adapters ./adapters
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip && /opt/venv/bin/pip install .
COPY config.yaml ./config.yaml

ENV PATH=/opt/venv/bin:$PATH HUMBOT_CONFIG=/app/config.yaml
# Catalog, index and models live here: mount a volume. Fetch PANNs once with
#   docker run -v humbot-data:/app/data humbot models download
VOLUME ["/app/data"]
RUN useradd --create-home humbot && mkdir -p /app/data && chown humbot /app/data
USER humbot
ENTRYPOINT ["humbot"]
CMD ["serve"]
