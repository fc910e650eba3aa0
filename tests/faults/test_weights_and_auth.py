"""Weights and access: non-finite weights are refused by UpdateWeights, and the internal services
take bearer tokens (and TLS) when configured, with health open for probes; without a tokens file
(`rlhf run` on loopback) calls need no token."""

from __future__ import annotations

import grpc
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rlhf.clients.base import ServiceError
from rlhf.clients.data_store import DataStoreClient
from rlhf.clients.policy_inference import PolicyInferenceClient
from tests.helpers import self_signed

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def secured(start_service, tiny_models, tmp_path_factory):
    """policy-inference with bearer tokens and TLS."""
    root = tmp_path_factory.mktemp("secured")
    tokens = root / "tokens"
    tokens.write_text(f"# rotated monthly\n{TOKEN}\n")
    cert, key = self_signed(root / "tls")
    proc = start_service("policy-inference", "--model", str(tiny_models["policy"]),
                         "--tokens-file", str(tokens), "--tls-cert-file", str(cert), "--tls-key-file", str(key))
    return proc, cert.read_bytes()


def client(secured, token: str | None = TOKEN, **kwargs) -> PolicyInferenceClient:
    proc, ca = secured
    return PolicyInferenceClient(proc.target, token=token or "", root_certificates=ca, retries=0, **kwargs)


def poisoned(policy, value: float) -> dict[str, torch.Tensor]:
    state = {name: tensor.clone() for name, tensor in policy.state_dict().items()}
    state["model.norm.weight"].fill_(value)
    return state


def greedy(c: PolicyInferenceClient):
    return c.generate(["Say hi."], max_new_tokens=4, temperature=0.0)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_and_the_old_ones_keep_serving(secured, policy, value):
    with client(secured) as c:
        before = greedy(c)
        with pytest.raises(ServiceError) as caught:
            c.update_weights(poisoned(policy, value), version=before.policy_version + 1)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "'model.norm.weight' holds non-finite values" in caught.value.details
        after = greedy(c)
    assert after.policy_version == before.policy_version
    assert [ids.tolist() for ids in after.completion_ids] == [ids.tolist() for ids in before.completion_ids]
    assert all(torch.isfinite(torch.from_numpy(lp)).all() for lp in after.logprobs)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_calls_without_the_token_are_unauthenticated(secured, token):
    with client(secured, token) as c:
        for call in (c.info, lambda: c.update_weights(b"x", version=99), lambda: greedy(c)):
            with pytest.raises(ServiceError) as caught:
                call()
            assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED, caught.value


def test_health_stays_open_and_plaintext_is_refused(secured):
    proc, ca = secured
    with grpc.secure_channel(proc.target, grpc.ssl_channel_credentials(ca)) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with PolicyInferenceClient(proc.target, token=TOKEN, retries=0, timeout=5) as plaintext:
        with pytest.raises(ServiceError) as caught:
            plaintext.info()
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_without_a_tokens_file_no_token_is_needed(start_service, tmp_path):
    proc = start_service("data-store", "--store", f"file://{tmp_path}")
    with DataStoreClient(proc.target, token="", retries=0) as store:
        store.put("a", b"1")
        assert store.get("a") == b"1"
    proc.terminate()


def test_the_client_reads_its_token_from_the_environment(secured, monkeypatch, tmp_path):
    proc, ca = secured
    (tmp_path / "token").write_text(f"{TOKEN}\n")
    (tmp_path / "ca.pem").write_bytes(ca)
    monkeypatch.setenv("RLHF_SERVICE_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("RLHF_SERVICE_CA_FILE", str(tmp_path / "ca.pem"))
    with PolicyInferenceClient(proc.target, retries=0) as c:
        assert c.info().service == "policy-inference"
