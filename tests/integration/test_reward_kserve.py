"""reward-kserve through real processes: KServe's own gRPC and REST clients and rlhf.v1 give the
in-process model's scores; bearer tokens, TLS and rate limits on both protocols; a burst over the
queue bound is refused fast while every accepted request succeeds; a new version published to
the store takes over under 8 concurrent callers with no failed request; bad inputs get errors
naming the input and the server keeps serving."""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.grpc import grpc_predict_v2_pb2 as oip
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as oip_grpc

from rlhf.clients.base import ServiceError
from rlhf.clients.reward_scoring import RewardScoringClient
from rlhf.models import load_reward_model, load_tokenizer
from rlhf.models.loading import save_model
from rlhf.models.scoring import reward_inputs, score_texts
from tests.helpers import self_signed

SERVICE = "reward-kserve"
MAX_LENGTH = 1024  # the tiny models' max_position_embeddings
TOKENS = ("tok-alpha", "tok-beta", "tok-gamma")
AUTH = (("authorization", f"Bearer {TOKENS[0]}"),)
PROMPTS = ["Say hi.", "List three fruits, all lowercase.", "Write a long sentence about the sea.", "Answer with nothing."]
COMPLETIONS = ["Hi!", "- apple\n- pear\n- plum", "The sea " + "rolls and " * 30 + "rests.", ""]
LONG = "word " * (MAX_LENGTH + 100)
TIMEOUT = 30


def http_address(proc) -> str:
    """The REST address from the listening line (`... http HOST:PORT`)."""
    return re.search(r" http (\S+:\d+)", proc.output).group(1)


def in_process(model, tokenizer, prompts, completions) -> list[float]:
    texts = [reward_inputs(tokenizer, p, c) for p, c in zip(prompts, completions)]
    return score_texts(model, tokenizer, texts, MAX_LENGTH)


def tensor(name: str, values: list, datatype: str = "BYTES") -> oip.ModelInferRequest.InferInputTensor:
    contents = (oip.InferTensorContents(bytes_contents=[v if isinstance(v, bytes) else v.encode() for v in values])
                if datatype == "BYTES" else oip.InferTensorContents(fp32_contents=values))
    return oip.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=[len(values)], contents=contents)


def oip_request(prompts: list, completions: list, version: str = "") -> oip.ModelInferRequest:
    return oip.ModelInferRequest(model_name="reward", model_version=version,
                                 inputs=[tensor("prompt", prompts), tensor("completion", completions)])


def grpc_infer(channel: grpc.Channel, prompts: list, completions: list, version: str = "",
               metadata=AUTH) -> tuple[str, list[float]]:
    reply = oip_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
        oip_request(prompts, completions, version), timeout=TIMEOUT, metadata=metadata)
    return reply.model_version, list(reply.outputs[0].contents.fp32_contents)


def rest_body(prompts: list, completions: list) -> dict:
    return {"inputs": [{"name": "prompt", "shape": [len(prompts)], "datatype": "BYTES", "data": prompts},
                       {"name": "completion", "shape": [len(completions)], "datatype": "BYTES", "data": completions}]}


def rest_infer(http: httpx.Client, prompts: list, completions: list, version: str = "",
               token: str | None = TOKENS[0]) -> httpx.Response:
    path = f"/v2/models/reward/versions/{version}/infer" if version else "/v2/models/reward/infer"
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return http.post(path, json=rest_body(prompts, completions), headers=headers)


@pytest.fixture(scope="module")
def tokens_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "tokens"
    path.write_text("# one token per caller\n" + "\n".join(TOKENS) + "\n")
    return path


@pytest.fixture(scope="module")
def server(start_service, tiny_models, tokens_file):
    # fp32 here and below: the tests compare scores with the in-process model's to 1e-5 (the bf16
    # default is tested with reward-scoring, whose Batcher this service shares).
    proc = start_service(SERVICE, "--no-bf16-autocast", "--model", str(tiny_models["reward"]),
                         "--tokens-file", str(tokens_file), "--batch-wait-ms", "20")
    yield proc
    proc.terminate()


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.target) as channel:
        yield channel


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=f"http://{http_address(server)}", timeout=TIMEOUT) as client:
        yield client


@pytest.fixture(scope="module")
def tokenizer(tiny_models):
    return load_tokenizer(tiny_models["reward"])


def test_kserve_clients_and_rlhf_v1_give_the_in_process_scores(server, reward_model, tokenizer):
    async def kserve_clients() -> tuple:
        inputs = []
        for name, values in (("prompt", PROMPTS), ("completion", COMPLETIONS)):
            inputs.append(InferInput(name, [len(values)], "BYTES"))
            inputs[-1].set_data_from_numpy(np.array(values, dtype=object))
        request = InferRequest(model_name="reward", infer_inputs=inputs)
        async with InferenceGRPCClient(server.target, timeout=TIMEOUT, retries=0) as client:
            over_grpc = await client.infer(request, headers=AUTH)
        rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=TIMEOUT))
        over_rest = await rest.infer(f"http://{http_address(server)}", request, model_name="reward",
                                     headers=dict(AUTH))
        return over_grpc, over_rest

    over_grpc, over_rest = asyncio.run(kserve_clients())
    with RewardScoringClient(server.target, timeout=TIMEOUT, token=TOKENS[1]) as client:
        over_v1 = client.score(PROMPTS, COMPLETIONS)
    assert over_grpc.model_version == "1"  # (kserve's REST client drops the field; rest_infer checks it)
    for response in (over_grpc, over_rest):
        (output,) = response.outputs
        assert (output.name, output.datatype, output.shape) == ("score", "FP32", [len(PROMPTS)])
    grpc_scores, rest_scores = over_grpc.outputs[0].as_numpy(), over_rest.outputs[0].as_numpy()
    np.testing.assert_allclose(grpc_scores, in_process(reward_model, tokenizer, PROMPTS, COMPLETIONS), atol=1e-5)
    assert grpc_scores.tolist() == rest_scores.tolist() == np.float32(over_v1).tolist()  # exactly


def test_metadata_describes_the_tensors_and_versions(channel, http):
    expected_inputs = [("prompt", "BYTES", [-1]), ("completion", "BYTES", [-1])]
    reply = oip_grpc.GRPCInferenceServiceStub(channel).ModelMetadata(
        oip.ModelMetadataRequest(name="reward"), timeout=TIMEOUT, metadata=AUTH)
    assert [(t.name, t.datatype, list(t.shape)) for t in reply.inputs] == expected_inputs
    assert [(t.name, t.datatype, list(t.shape)) for t in reply.outputs] == [("score", "FP32", [-1])]
    assert list(reply.versions) == ["1"]
    metadata = http.get("/v2/models/reward/versions/1", headers={"authorization": f"Bearer {TOKENS[0]}"}).json()
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == expected_inputs
    assert metadata["outputs"] == [{"name": "score", "datatype": "FP32", "shape": [-1]}]
    assert metadata["versions"] == ["1"]


@pytest.mark.parametrize("token, code, message", [
    (None, grpc.StatusCode.UNAUTHENTICATED, "missing bearer token"),
    ("tok-alph", grpc.StatusCode.UNAUTHENTICATED, "invalid bearer token"),
    (TOKENS[1], grpc.StatusCode.OK, ""),
])
def test_bearer_tokens_on_both_protocols(server, channel, http, token, code, message):
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    with RewardScoringClient(server.target, timeout=TIMEOUT, retries=0, token=token or "") as client:
        if code == grpc.StatusCode.OK:
            grpc_infer(channel, ["Say hi."], ["Hi!"], metadata=metadata)
            client.score(["Say hi."], ["Hi!"])
        else:
            with pytest.raises(grpc.RpcError) as caught:
                grpc_infer(channel, ["Say hi."], ["Hi!"], metadata=metadata)
            assert caught.value.code() == code and message in caught.value.details()
            with pytest.raises(ServiceError) as refused:
                client.score(["Say hi."], ["Hi!"])
            assert refused.value.code == code and message in refused.value.details
    reply = rest_infer(http, ["Say hi."], ["Hi!"], token=token)
    if code == grpc.StatusCode.OK:
        assert reply.status_code == 200
    else:
        assert reply.status_code == 401 and message in reply.json()["error"]
        assert reply.headers["www-authenticate"].startswith("Bearer")


def test_the_trainers_client_reads_the_tokens_file_as_the_server_does(server, tokens_file, monkeypatch):
    """RLHF_REWARD_TOKEN_FILE may be a file the server reads too, comment line first: the client
    sends its first token (rlhf.auth_tokens.read_tokens), not the comment."""
    assert tokens_file.read_text().startswith("# ")
    monkeypatch.setenv("RLHF_REWARD_TOKEN_FILE", str(tokens_file))
    with RewardScoringClient(server.target, timeout=TIMEOUT, retries=0) as client:
        assert client.metadata == (("authorization", f"Bearer {TOKENS[0]}"),)
        assert len(client.score(["Say hi."], ["Hi!"])) == 1


def test_health_metrics_and_probes_need_no_token(server, channel, http):
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"), timeout=TIMEOUT)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert http.get("/v2/health/ready").json() == {"ready": True}
    text = httpx.get(server.metrics_url, timeout=TIMEOUT).text
    assert re.search(r'rlhf_rpc_requests_total\{code="UNAUTHENTICATED",method="ModelInfer",service="reward-kserve"\}',
                     text)


# (prompts, completions, input named in the error); each case is sent over gRPC and REST.
BAD_PAIRS = [
    (["Say hi.", "Say bye."], ["Hi!"], "completion: 1 completions for 2 prompts"),
    (["Say hi."], ["Hi!", "Bye!"], "completion: 2 completions for 1 prompts"),
    ([], [], "prompt: empty batch"),
    (["Say hi.", ""], ["Hi!", "Bye!"], "prompt[1]: empty prompt"),
    (["Say hi.", "Say bye."], ["Hi!", LONG], "completion[1]: prompt + completion is"),
    ([LONG], ["Hi!"], "prompt[0]:"),
]


@pytest.mark.parametrize("prompts, completions, message", BAD_PAIRS)
def test_bad_pairs_are_invalid_argument_naming_the_input(channel, http, prompts, completions, message):
    with pytest.raises(grpc.RpcError) as caught:
        grpc_infer(channel, prompts, completions)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in caught.value.details()
    reply = rest_infer(http, prompts, completions)
    assert reply.status_code == 400 and message in reply.json()["error"]
    if "tokens" in message:
        assert f"max {MAX_LENGTH}" in reply.json()["error"]
    assert grpc_infer(channel, ["Say hi."], ["Hi!"])[0] == "1"  # still serving
    assert rest_infer(http, ["Say hi."], ["Hi!"]).status_code == 200


@pytest.mark.parametrize("inputs, message", [
    ([tensor("prompt", [b"ok", b"caf\xe9"]), tensor("completion", ["a", "b"])], "prompt[1]: not valid UTF-8"),
    ([tensor("prompt", ["ok"]), tensor("completion", [b"\xff"])], "completion[0]: not valid UTF-8"),
    ([tensor("prompt", ["ok"])], "completion: missing input"),
    ([tensor("prompt", ["ok"]), tensor("completion", [1.0], "FP32")], "completion: datatype FP32, expected BYTES"),
    ([tensor("prompt", ["ok"]), tensor("completion", ["a"]), tensor("extra", ["a"])], "extra: unknown input"),
])
def test_malformed_tensors_are_invalid_argument(channel, inputs, message):
    request = oip.ModelInferRequest(model_name="reward", inputs=inputs)
    with pytest.raises(grpc.RpcError) as caught:
        oip_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=TIMEOUT, metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in caught.value.details()
    assert grpc_infer(channel, ["Say hi."], ["Hi!"])[0] == "1"


def test_non_utf8_over_rest_binary_tensors(server, http):
    """The REST binary-tensor extension can carry bytes JSON cannot: they get a 400 too."""
    async def send():
        prompt, completion = InferInput("prompt", [1], "BYTES"), InferInput("completion", [1], "BYTES")
        prompt.set_data_from_numpy(np.array([b"Say hi."], dtype=object))
        completion.set_data_from_numpy(np.array([b"\xc3\x28"], dtype=object))
        rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=TIMEOUT))
        await rest.infer(f"http://{http_address(server)}", InferRequest("reward", [prompt, completion]),
                         model_name="reward", headers=dict(AUTH))

    with pytest.raises(httpx.HTTPStatusError, match="completion\\[0\\]: not valid UTF-8") as caught:
        asyncio.run(send())
    assert caught.value.response.status_code == 400
    assert rest_infer(http, ["Say hi."], ["Hi!"]).status_code == 200


def test_empty_completion_is_scored(channel, reward_model, tokenizer):
    _, scores = grpc_infer(channel, ["Answer with nothing."], [""])
    np.testing.assert_allclose(scores, in_process(reward_model, tokenizer, ["Answer with nothing."], [""]), atol=1e-5)


def test_a_version_that_is_not_loaded_is_not_found(channel, http):
    with pytest.raises(grpc.RpcError) as caught:
        grpc_infer(channel, ["Say hi."], ["Hi!"], version="7")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "version '7' is not loaded; loaded versions: 1" in caught.value.details()
    reply = rest_infer(http, ["Say hi."], ["Hi!"], version="7")
    assert reply.status_code == 404 and "version '7' is not loaded" in reply.json()["error"]
    assert rest_infer(http, ["Say hi."], ["Hi!"], version="1").json()["model_version"] == "1"


def test_callers_cannot_unload_the_model(channel, http):
    with pytest.raises(grpc.RpcError) as caught:
        oip_grpc.GRPCInferenceServiceStub(channel).RepositoryModelUnload(
            oip.RepositoryModelUnloadRequest(model_name="reward"), timeout=TIMEOUT, metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert http.post("/v2/repository/models/reward/unload", headers=dict(AUTH)).status_code == 501
    assert grpc_infer(channel, ["Say hi."], ["Hi!"])[0] == "1"


# ---------------------------------------------------------------------------------------- overload

def test_a_burst_over_the_queue_bound_is_refused_fast(start_service, tiny_models, reward_model, tokenizer):
    """max_queue 2 with one pair per forward pass: 24 concurrent 2-pair requests cannot all queue."""
    proc = start_service(SERVICE, "--no-bf16-autocast", "--model", str(tiny_models["reward"]), "--max-queue", "2",
                         "--max-batch-size", "1", "--batch-wait-ms", "0")
    prompts = ["Write a long sentence about the sea.", "Say hi."]
    completions = ["The sea " + "rolls and " * 60 + "rests.", "Hi!"]
    expected = in_process(reward_model, tokenizer, prompts, completions)
    callers = 24
    barrier = threading.Barrier(callers)
    results: list[tuple[str, float, object]] = []  # (outcome, seconds, scores or status)

    def call(i: int) -> None:
        with grpc.insecure_channel(proc.target) as channel, \
                httpx.Client(base_url=f"http://{http_address(proc)}", timeout=TIMEOUT) as http:
            barrier.wait()
            start = time.perf_counter()
            if i % 2:
                try:
                    scores = grpc_infer(channel, prompts, completions, metadata=None)[1]
                    results.append(("ok", time.perf_counter() - start, scores))
                except grpc.RpcError as exc:
                    results.append(("refused" if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else "failed",
                                    time.perf_counter() - start, exc.code()))
            else:
                reply = rest_infer(http, prompts, completions, token=None)
                seconds = time.perf_counter() - start
                if reply.status_code == 200:
                    results.append(("ok", seconds, reply.json()["outputs"][0]["data"]))
                else:
                    results.append(("refused" if reply.status_code == 429 and reply.headers.get("retry-after")
                                    else "failed", seconds, reply.status_code))

    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(call, range(callers)))
    proc.terminate()
    outcomes = [r[0] for r in results]
    refused = sorted(seconds for outcome, seconds, _ in results if outcome == "refused")
    accepted = sorted(seconds for outcome, seconds, _ in results if outcome == "ok")
    assert "failed" not in outcomes, results
    assert outcomes.count("ok") >= 1 and refused, outcomes
    for outcome, _, scores in results:
        if outcome == "ok":
            np.testing.assert_allclose(scores, expected, atol=1e-5)
    # Refused at admission, not after waiting in line: well under the time the accepted ones took.
    assert refused[len(refused) // 2] < 0.5 and refused[-1] < 2.0, refused
    print(f"burst of {callers}: {len(accepted)} accepted (slowest {accepted[-1] * 1000:.0f} ms), {len(refused)} "
          f"refused (median {refused[len(refused) // 2] * 1000:.0f} ms, slowest {refused[-1] * 1000:.0f} ms)")


# ------------------------------------------------------------------------------------ TLS, limits

@pytest.fixture(scope="module")
def tls_server(start_service, tiny_models, tokens_file, tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    proc = start_service(SERVICE, "--no-bf16-autocast", "--model", str(tiny_models["reward"]),
                         "--tokens-file", str(tokens_file), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                         "--rate-limit-per-second", "0.5", "--rate-limit-burst", "3")
    yield proc, cert
    proc.terminate()


def test_tls_on_both_protocols(tls_server, reward_model, tokenizer):
    proc, cert = tls_server
    assert proc.metrics_url.startswith("https://")
    expected = in_process(reward_model, tokenizer, PROMPTS[:2], COMPLETIONS[:2])
    credentials = grpc.ssl_channel_credentials(cert.read_bytes())
    with grpc.secure_channel(proc.target, credentials) as channel:
        np.testing.assert_allclose(grpc_infer(channel, PROMPTS[:2], COMPLETIONS[:2])[1], expected, atol=1e-5)
    with RewardScoringClient(proc.target, timeout=TIMEOUT, token=TOKENS[0], root_certificates=cert.read_bytes()) as c:
        np.testing.assert_allclose(c.score(PROMPTS[:2], COMPLETIONS[:2]), expected, atol=1e-5)
    with grpc.insecure_channel(proc.target) as plaintext:
        with pytest.raises(grpc.RpcError) as caught:
            grpc_infer(plaintext, ["Say hi."], ["Hi!"])
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    with httpx.Client(base_url=f"https://{http_address(proc)}", verify=ssl.create_default_context(cafile=cert),
                      timeout=TIMEOUT) as https:
        reply = rest_infer(https, PROMPTS[:2], COMPLETIONS[:2], token=TOKENS[0])
        np.testing.assert_allclose(reply.json()["outputs"][0]["data"], expected, atol=1e-5)
        assert https.get("/v2/health/ready").status_code == 200


def test_rate_limit_per_token(tls_server):
    """Burst 3 at 0.5/s: a token's 4th quick call is refused on either protocol; another token is not."""
    proc, cert = tls_server
    credentials = grpc.ssl_channel_credentials(cert.read_bytes())
    limited = (("authorization", f"Bearer {TOKENS[1]}"),)
    with grpc.secure_channel(proc.target, credentials) as channel, \
            httpx.Client(base_url=f"https://{http_address(proc)}", verify=ssl.create_default_context(cafile=cert),
                         timeout=TIMEOUT) as https:
        for _ in range(3):
            grpc_infer(channel, ["Say hi."], ["Hi!"], metadata=limited)
        with pytest.raises(grpc.RpcError) as caught:
            grpc_infer(channel, ["Say hi."], ["Hi!"], metadata=limited)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "rate limit of 0.5 requests/s per token exceeded" in caught.value.details()
        assert dict(caught.value.trailing_metadata())["retry-after"] == "2"
        reply = rest_infer(https, ["Say hi."], ["Hi!"], token=TOKENS[1])
        assert reply.status_code == 429 and reply.headers["retry-after"] == "2"
        assert rest_infer(https, ["Say hi."], ["Hi!"], token=TOKENS[2]).status_code == 200


# -------------------------------------------------------------------------------------- hot reload

def publish(model_dir: Path, store: str) -> str:
    """Through the CLI, as an operator would."""
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "reward", "publish", str(model_dir),
                           "--store", store, "--repository", "reward"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return re.search(r"as version (\d+)", done.stdout).group(1)


def test_new_version_takes_over_under_load_with_no_failed_request(start_service, tiny_models, tokenizer,
                                                                  tmp_path_factory):
    root = tmp_path_factory.mktemp("reload")
    store = f"file://{root / 'store'}"
    models = {"1": load_reward_model(tiny_models["reward"]), "2": load_reward_model(tiny_models["reward"])}
    models["2"].score.weight.data.mul_(-3.0)  # a retrained RM: clearly different scores
    save_model(root / "rm-2", models["2"], tokenizer)
    prompts, completions = PROMPTS[:2], COMPLETIONS[:2]
    expected = {v: in_process(model, tokenizer, prompts, completions) for v, model in models.items()}
    assert publish(tiny_models["reward"], store) == "1"
    proc = start_service(SERVICE, "--no-bf16-autocast", "--store", store, "--repository", "reward",
                         "--reload-interval-s", "0.2", "--batch-wait-ms", "2")

    stop = threading.Event()
    seen: list[tuple[str, str, list[float]]] = []  # (caller kind, version, scores)
    failures: list[str] = []

    def caller(i: int) -> None:
        kind = ("grpc", "rest", "v1", "pinned")[i % 4]
        with grpc.insecure_channel(proc.target) as channel, \
                httpx.Client(base_url=f"http://{http_address(proc)}", timeout=TIMEOUT) as http, \
                RewardScoringClient(proc.target, timeout=TIMEOUT, retries=0) as v1:
            while not stop.is_set():
                try:
                    if kind == "grpc":
                        version, scores = grpc_infer(channel, prompts, completions, metadata=None)
                    elif kind == "pinned":
                        version, scores = grpc_infer(channel, prompts, completions, version="1", metadata=None)
                    elif kind == "rest":
                        reply = rest_infer(http, prompts, completions, token=None)
                        reply.raise_for_status()
                        version, scores = reply.json()["model_version"], reply.json()["outputs"][0]["data"]
                    else:
                        response = v1.stub.Score(v1_request, timeout=TIMEOUT)
                        version, scores = str(response.model_version), list(response.scores)
                    seen.append((kind, version, scores))
                except Exception as exc:  # every failure counts, whatever its kind
                    failures.append(f"{kind}: {exc!r}")

    from rlhf.proto.v1 import reward_scoring_pb2

    v1_request = reward_scoring_pb2.ScoreRequest(prompts=prompts, completions=completions)
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        assert publish(root / "rm-2", store) == "2"
        deadline = time.monotonic() + 60
        while not any(kind == "v1" and version == "2" for kind, version, _ in seen[-50:]):
            assert time.monotonic() < deadline, "version 2 never became the default"
            time.sleep(0.1)
        time.sleep(0.5)  # requests admitted before the swap have finished by now
        served_at_swap = len(seen)
        time.sleep(1.0)  # keep the load on after the swap
    finally:
        stop.set()
        for thread in threads:
            thread.join(TIMEOUT)
        proc.terminate()
    assert failures == []
    for kind, version, scores in seen:  # every answer is exactly its version's model
        np.testing.assert_allclose(scores, expected[version], atol=1e-5, err_msg=f"{kind} got version {version}")
    after = seen[served_at_swap:]
    assert {version for kind, version, _ in after if kind in ("grpc", "rest", "v1")} == {"2"}
    assert {version for kind, version, _ in after if kind == "pinned"} == {"1"}
    assert len(seen) > 40, "too few requests overlapped the swap"
    assert "loaded version 2; it is now the default" in proc.output
    print(f"hot reload: {len(seen)} requests from 8 callers, {len(after)} after the swap, none failed")
