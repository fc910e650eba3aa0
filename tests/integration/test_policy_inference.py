"""The policy-inference service through real gRPC: samples and log-probs equal the in-process
model's, concurrent callers share batches without changing their seeded samples, bad requests get
INVALID_ARGUMENT naming the field, weight pushes are verified before they swap, and SIGTERM drains."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import threading
import time

import grpc
import numpy as np
import pytest
import torch
from safetensors.torch import load as load_safetensors

from rlhf.clients.base import ServiceError
from tests.helpers import metric
from rlhf.clients.policy_inference import PolicyInferenceClient, safetensors_bytes
from rlhf.config import ClientConfig, ServiceConfig
from rlhf.models import load_policy, tokenizer_fingerprint, weights_revision
from rlhf.models.weights import tied_groups
from rlhf.proto.packing import pack_tokens
from rlhf.proto.v1 import common_pb2, policy_inference_pb2 as pb
from services.policy_inference import server as policy_server

SERVICE = "policy-inference"
MAX_LENGTH = 1024       # the tiny models' max_position_embeddings
MAX_BATCH_TOKENS = 512  # the module server's --max-batch-tokens
PROMPTS = ["Say hi.", "List three fruits, all lowercase."]


@pytest.fixture(scope="module")
def server(start_service, tiny_models):
    # A generous batch wait so the concurrent test's callers surely meet in one batch; fp32, so
    # log-probs compare with a direct forward pass to 1e-5.
    proc = start_service(SERVICE, "--no-bf16-autocast", "--model", str(tiny_models["policy"]),
                         "--batch-wait-ms", "100", "--max-batch-tokens", str(MAX_BATCH_TOKENS))
    yield proc
    proc.terminate()


@pytest.fixture(scope="module")
def client(server):
    with PolicyInferenceClient(server.target, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def weights_server(start_service, tiny_models):
    """A server of its own for the tests that push weights, so the others keep the original ones."""
    proc = start_service(SERVICE, "--no-bf16-autocast", "--model", str(tiny_models["policy"]))
    yield proc
    proc.terminate()


@pytest.fixture(scope="module")
def weights_client(weights_server):
    with PolicyInferenceClient(weights_server.target, timeout=60) as client:
        yield client


def perturbed(policy, seed: int):
    """A copy of the policy whose greedy choices surely differ: the final norm is negated (so every
    logit flips sign) and every weight gets a little noise."""
    model = load_policy(policy.name_or_path)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.add_(0.01 * torch.randn(tensor.shape, generator=generator))
        model.model.norm.weight.neg_()
    return model


def direct_logprobs(model, prompt_ids, completion_ids) -> np.ndarray:
    """log pi(completion | prompt) from one unpadded forward pass over prompt + completion."""
    prompt, completion = [int(t) for t in prompt_ids], [int(t) for t in completion_ids]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion])).logits[0]
    steps = logits[len(prompt) - 1:-1].float().log_softmax(-1)
    return steps.gather(1, torch.tensor(completion)[:, None]).squeeze(1).numpy()


def assert_logprobs_match(model, gen, n: int = 1) -> None:
    for index, (completion, logprobs) in enumerate(zip(gen.completion_ids, gen.logprobs)):
        expected = direct_logprobs(model, gen.prompt_ids[index // n], completion)
        diff = float(np.abs(expected - logprobs).max())
        assert diff < 1e-4, f"completion {index}: max abs log-prob diff {diff}"


def samples(gen) -> list[list[int]]:
    return [ids.tolist() for ids in gen.completion_ids]


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
    greedy = client.generate(prompt_ids=prompt_ids, max_new_tokens=6, temperature=0, n=3)
    assert greedy.n == 3 and len(greedy.completion_ids) == 6 and len(greedy.prompt_ids) == 2
    for i, prompt in enumerate(prompt_ids):
        (alone,) = samples(client.generate(prompt_ids=[prompt], max_new_tokens=6, temperature=0))
        assert samples(greedy)[i * 3:(i + 1) * 3] == [alone] * 3
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


def test_logprobs_match_a_direct_forward_pass(client, policy):
    gen = client.generate(PROMPTS, max_new_tokens=8, temperature=0.8, top_k=40, top_p=0.95, n=2, seed=3)
    assert_logprobs_match(policy, gen, n=2)


def test_concurrent_callers_share_batches_and_keep_their_samples(server, client):
    callers = 8
    prompts = [f"Count to {i}." for i in range(callers)]
    batches_before = metric(server.metrics_url, "rlhf_batch_size_count", service=SERVICE)
    singles_before = metric(server.metrics_url, "rlhf_batch_size_bucket", service=SERVICE, le="1.0")
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
    batches = metric(server.metrics_url, "rlhf_batch_size_count", service=SERVICE) - batches_before
    singles = metric(server.metrics_url, "rlhf_batch_size_bucket", service=SERVICE, le="1.0") - singles_before
    assert batches > singles, "no batch of more than one request was observed"
    for i in range(callers):  # a row's samples do not depend on the batch it shared
        assert results[i] == samples(client.generate([prompts[i]], max_new_tokens=8, seed=i))


def test_tokens_are_counted(server, client):
    before_in = metric(server.metrics_url, "rlhf_tokens_total", service=SERVICE, direction="in")
    before_out = metric(server.metrics_url, "rlhf_tokens_total", service=SERVICE, direction="out")
    gen = client.generate(prompt_ids=[[5, 6, 7], [8, 9]], max_new_tokens=4, n=2, seed=4)
    assert metric(server.metrics_url, "rlhf_tokens_total", service=SERVICE, direction="in") == before_in + 2 * (3 + 2)
    assert (metric(server.metrics_url, "rlhf_tokens_total", service=SERVICE, direction="out")
            == before_out + sum(len(ids) for ids in gen.completion_ids))


def test_get_info(client, tiny_models, policy, tokenizer):
    info = client.info()
    assert info.service == SERVICE
    assert info.model_name == str(tiny_models["policy"])
    assert info.revision == weights_revision(policy)
    assert info.tokenizer_fingerprint == tokenizer_fingerprint(tokenizer)
    assert info.version == 0
    assert info.vocab_size == len(tokenizer)
    assert info.max_sequence_length == MAX_LENGTH


def sampling(**overrides) -> pb.SamplingParams:
    return pb.SamplingParams(**{"temperature": 1.0, "max_new_tokens": 4, **overrides})


@pytest.mark.parametrize("request_, field", [
    (pb.GenerateRequest(sampling=sampling()), "prompts: no prompts given"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([]), sampling=sampling()), "prompt_ids: no prompts given"),
    (pb.GenerateRequest(prompts=["Hi"], prompt_ids=pack_tokens([[5]]), sampling=sampling()), "prompts, prompt_ids"),
    (pb.GenerateRequest(prompts=["Hi", ""], sampling=sampling()), "prompts[1]: empty prompt"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[5], []]), sampling=sampling()), "prompt_ids[1]: empty prompt"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[5, 49152]]), sampling=sampling()), "prompt_ids[0]: token id 49152"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[-1]]), sampling=sampling()), "prompt_ids[0]: token id -1"),
    (pb.GenerateRequest(prompt_ids=common_pb2.TokenBatch(ids=b"\x05\x00\x00", lengths=[1]), sampling=sampling()),
     "prompt_ids: 3 bytes"),
    (pb.GenerateRequest(prompt_ids=common_pb2.TokenBatch(ids=bytes(8), lengths=[3]), sampling=sampling()),
     "prompt_ids: lengths add up to 3"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(max_new_tokens=0)), "sampling.max_new_tokens: must be"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[5] * 30]), sampling=sampling(max_new_tokens=MAX_LENGTH)),
     f"exceed max_sequence_length {MAX_LENGTH}"),
    (pb.GenerateRequest(prompt_ids=pack_tokens([[5] * 30]), sampling=sampling(max_new_tokens=MAX_BATCH_TOKENS)),
     f"exceed the server's max_batch_tokens {MAX_BATCH_TOKENS}"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(temperature=-0.5)), "sampling.temperature"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(temperature=float("nan"))), "sampling.temperature"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(top_p=1.5)), "sampling.top_p"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(top_p=-0.1)), "sampling.top_p"),
    (pb.GenerateRequest(prompts=["Hi"], sampling=sampling(n=65)), "sampling.n: at most 64"),
])
def test_bad_request_is_invalid_argument_naming_the_field(client, request_, field):
    with pytest.raises(grpc.RpcError) as caught:
        client.stub.Generate(request_, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    assert len(client.generate(["Hi"], max_new_tokens=2).completion_ids) == 1  # still serving


# ---- weights -------------------------------------------------------------------------------------

def greedy(client):
    return client.generate(prompt_ids=[[5, 6, 7], [100, 200, 300, 400]], max_new_tokens=8, temperature=0)


def test_update_weights_changes_output_and_bumps_version(weights_client, policy):
    before, info = greedy(weights_client), weights_client.info()
    new = perturbed(policy, seed=1)
    assert weights_client.update_weights(new.state_dict(), version=info.version + 1, chunk_size=64 << 10) \
        == info.version + 1
    after, info_after = greedy(weights_client), weights_client.info()
    assert samples(after) != samples(before)
    assert after.policy_version == info_after.version == info.version + 1
    assert info_after.revision == weights_revision(new) != info.revision
    assert_logprobs_match(new, after)


def test_update_weights_defaults_to_the_next_version_and_casts(weights_client, policy):
    info = weights_client.info()
    new = perturbed(policy, seed=4)
    assert weights_client.update_weights(new.state_dict(), dtype="bfloat16") == info.version + 1
    # What the server holds: the weights rounded to bf16, cast back to its own fp32.
    with torch.no_grad():
        for tensor in new.state_dict().values():
            tensor.copy_(tensor.to(torch.bfloat16))
    after, info_after = greedy(weights_client), weights_client.info()
    assert after.policy_version == info_after.version == info.version + 1
    assert info_after.revision == weights_revision(new)
    assert_logprobs_match(new, after)
    with pytest.raises(ValueError, match="dtype"):
        weights_client.update_weights(safetensors_bytes(new.state_dict()), dtype="bfloat16")


def test_pushes_without_a_version_ask_get_info_only_when_they_must(weights_server, weights_client, policy):
    """GetInfo makes the server hash new weights, so a client asks it for the version only before
    its first push, and after another caller pushed (the server refuses the stale guess with
    FAILED_PRECONDITION, having installed nothing)."""
    def count(method: str, code: str = "OK") -> float:
        return metric(weights_server.metrics_url, "rlhf_rpc_requests_total", service=SERVICE, method=method, code=code)

    state = policy.state_dict()
    serving = weights_client.info().version
    infos, refused = count("GetInfo"), count("UpdateWeights", "FAILED_PRECONDITION")
    with PolicyInferenceClient(weights_server.target, timeout=60) as trainer:
        assert trainer.update_weights(state) == serving + 1
        assert trainer.update_weights(state) == serving + 2
        assert (count("GetInfo"), count("UpdateWeights", "FAILED_PRECONDITION")) == (infos + 1, refused)
        assert weights_client.update_weights(state, version=serving + 5) == serving + 5
        assert trainer.update_weights(state) == serving + 6
        assert (count("GetInfo"), count("UpdateWeights", "FAILED_PRECONDITION")) == (infos + 2, refused + 1)
    assert weights_client.info().version == serving + 6


def test_safetensors_bytes_sends_a_tied_weight_once_and_casts_it_once(policy):
    state = policy.state_dict()
    groups = tied_groups(state)
    assert [group for group in groups if len(group) > 1] == [["model.embed_tokens.weight", "lm_head.weight"]]
    sent = load_safetensors(safetensors_bytes(state, torch.bfloat16))
    assert sorted(sent) == sorted(group[0] for group in groups)
    assert {tensor.dtype for tensor in sent.values()} == {torch.bfloat16}
    assert len(safetensors_bytes(state, "bfloat16")) < 0.6 * len(safetensors_bytes(state))
    with pytest.raises(ValueError, match="dtype 'int8'"):
        safetensors_bytes(state, "int8")


def test_the_revision_is_hashed_by_get_info_once_per_version_not_by_the_swap(tiny_models, tokenizer, monkeypatch):
    model = load_policy(tiny_models["policy"])
    servicer = policy_server.PolicyInferenceServicer(model, tokenizer, ServiceConfig(model=str(tiny_models["policy"])))
    hashed: list[int] = []

    def counting_revision(m):
        hashed.append(servicer.version)
        return weights_revision(m)

    monkeypatch.setattr(policy_server, "weights_revision", counting_revision)
    payload = safetensors_bytes(model.state_dict())
    header = pb.WeightHeader(version=1, sha256=hashlib.sha256(payload).hexdigest(), total_bytes=len(payload))

    async def scenario() -> list[common_pb2.ModelInfo]:
        async def stream():
            for message in chunks(header, payload):
                yield message

        try:
            before = await servicer.GetInfo(common_pb2.GetInfoRequest(), None)
            assert (await servicer.UpdateWeights(stream(), None)).version == 1
            assert hashed == []  # the swap left the revision to GetInfo
            return [before] + list(await asyncio.gather(
                *[servicer.GetInfo(common_pb2.GetInfoRequest(), None) for _ in range(3)]))
        finally:
            servicer.batcher.close()

    before, *after = asyncio.run(scenario())
    assert hashed == [1]  # three concurrent GetInfo calls, one hash
    assert before.version == 0 and all(info.version == 1 for info in after)
    assert all(info.revision == weights_revision(model) == before.revision for info in after)  # same weights


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode):
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "fake"


def test_weight_pushes_are_retried_only_when_the_server_was_unreachable():
    """A push whose deadline passed may still be installed: sending it again would fail
    FAILED_PRECONDITION (or install twice), so only UNAVAILABLE is retried for UpdateWeights;
    Generate is retried on DEADLINE_EXCEEDED too."""
    calls: list[str] = []
    code = grpc.StatusCode.OK

    class Stub:
        def __getattr__(self, rpc):
            def call(request, **_):
                calls.append(rpc)
                if rpc == "UpdateWeights":
                    list(request)  # the stream is consumed, as a real call does
                raise FakeRpcError(code)
            return call

    with PolicyInferenceClient("127.0.0.1:1", retries=2, backoff=0) as client:
        client.stub = Stub()
        for rpc, call, code, attempts in (
                ("UpdateWeights", lambda: client.update_weights(b"weights", version=1), grpc.StatusCode.DEADLINE_EXCEEDED, 1),
                ("UpdateWeights", lambda: client.update_weights(b"weights", version=1), grpc.StatusCode.UNAVAILABLE, 3),
                ("Generate", lambda: client.generate(["Hi"], max_new_tokens=1), grpc.StatusCode.DEADLINE_EXCEEDED, 3)):
            calls.clear()
            with pytest.raises(ServiceError) as caught:
                call()
            assert (caught.value.code, calls) == (code, [rpc] * attempts)


def test_a_deadline_too_short_for_the_work_grows_until_the_call_fits(server, caplog):
    """A machine slower than the deadline sizing assumed: an attempt that runs out of its deadline
    doubles the next one's, so the call returns the samples instead of failing every retry alike."""
    prompts = [f"Count to {i}." for i in range(8)]
    with PolicyInferenceClient(server.target, timeout=60) as generous:
        expected = generous.generate(prompts, n=2, max_new_tokens=16, seed=5)
    # The server waits 100 ms to fill a batch: a 10 ms deadline surely runs out at first.
    tight = ClientConfig(attempt_timeout_s=0.01, generate_s_per_token=0.0, retry_budget_s=60.0, backoff_s=0.0)
    with caplog.at_level(logging.WARNING, logger="rlhf.clients"), PolicyInferenceClient(server.target, tight) as client:
        got = client.generate(prompts, n=2, max_new_tokens=16, seed=5)
    assert "DEADLINE_EXCEEDED" in caplog.text
    assert [c.tolist() for c in got.completion_ids] == [c.tolist() for c in expected.completion_ids]


def chunks(header: pb.WeightHeader, data: bytes, size: int = 64 << 10) -> list[pb.WeightChunk]:
    return [pb.WeightChunk(header=header)] + [pb.WeightChunk(data=data[i:i + size]) for i in range(0, len(data), size)]


def test_bad_weight_pushes_are_rejected_and_the_old_weights_keep_serving(weights_client, policy):
    before, info = greedy(weights_client), weights_client.info()
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
        ([], grpc.StatusCode.INVALID_ARGUMENT, "header: the stream was empty"),
        (chunks(header, payload) + [pb.WeightChunk(header=header)], grpc.StatusCode.INVALID_ARGUMENT,
         "header: sent more than once"),
        (chunks(pb.WeightHeader(version=info.version, sha256=header.sha256, total_bytes=len(payload)), payload),
         grpc.StatusCode.FAILED_PRECONDITION, "version"),
    ]
    for stream, code, field in streams:
        with pytest.raises(grpc.RpcError) as caught:
            weights_client.stub.UpdateWeights(iter(stream), timeout=60)
        assert (caught.value.code(), field in caught.value.details()) == (code, True), caught.value.details()
    for state_dict, field in ((missing, "'model.norm.weight' is missing"), (reshaped, "has shape [65]"),
                              (renamed, "'model.extra.weight' is not in the model")):
        with pytest.raises(ServiceError) as caught:
            weights_client.update_weights(state_dict, version=info.version + 1)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert field in caught.value.details

    after = greedy(weights_client)
    assert weights_client.info() == info
    assert samples(after) == samples(before)
    np.testing.assert_array_equal(np.concatenate(after.logprobs), np.concatenate(before.logprobs))


# ---- shutdown ------------------------------------------------------------------------------------

def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        time.sleep(0.01)


def test_sigterm_drains_a_long_generate_then_refuses_calls(start_service, tiny_models):
    proc = start_service(SERVICE, "--model", str(tiny_models["policy"]))
    result: dict[str, object] = {}

    def long_call() -> None:
        with PolicyInferenceClient(proc.target, timeout=120, retries=0) as client:
            try:
                result["gen"] = client.generate(["Tell me a long story."], max_new_tokens=400, n=2, seed=5)
            except ServiceError as exc:
                result["error"] = exc

    caller = threading.Thread(target=long_call)
    caller.start()
    wait_for(lambda: metric(proc.metrics_url, "rlhf_rpc_in_flight", service=SERVICE, method="Generate"))
    assert caller.is_alive(), f"the call ended before SIGTERM: {result}"
    proc.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "draining" in proc.output)

    with PolicyInferenceClient(proc.target, timeout=10, retries=0) as late:
        with pytest.raises(ServiceError) as refused:
            late.generate(["Hi"], max_new_tokens=2)
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE

    caller.join(120)
    assert "error" not in result, result.get("error")
    gen = result["gen"]
    assert len(gen.completion_ids) == 2
    assert all(len(ids) == 400 or reason == "stop" for ids, reason in zip(gen.completion_ids, gen.finish_reasons))
    assert proc.proc.wait(60) == 0, proc.output
