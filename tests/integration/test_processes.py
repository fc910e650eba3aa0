"""pipelines.processes: services started together all listen (or none is left running), and
`--engine vllm` services start in the vLLM environment when this one has none."""

from __future__ import annotations

import importlib.util
import json

import pytest

from pipelines.processes import VLLM_PYTHON, start_service, start_services
from rlhf.clients.data_store import DataStoreClient
from rlhf.clients.policy_inference import PolicyInferenceClient


def test_services_started_together_all_listen(tmp_path, tiny_models):
    services = start_services({"data_store": ["--store", f"file://{tmp_path / 'store'}"],
                               "policy_inference": ["--model", str(tiny_models["policy"])]},
                              {"data_store": tmp_path / "data-store.log"}, timeout=120)
    try:
        assert set(services) == {"data_store", "policy_inference"}
        with DataStoreClient(services["data_store"].target, timeout=30) as store:
            store.wait_ready()
        with PolicyInferenceClient(services["policy_inference"].target, timeout=30) as client:
            assert len(client.generate(["Hi"], max_new_tokens=2, seed=1).completion_ids[0]) == 2
        assert "listening" in (tmp_path / "data-store.log").read_text()
    finally:
        for service in services.values():
            service.terminate()


def test_when_one_service_fails_to_start_the_others_are_stopped(tmp_path, monkeypatch):
    started = []
    real_start = start_service

    def recording_start(section, *args, **kwargs):
        started.append(real_start(section, *args, **kwargs))
        return started[-1]

    monkeypatch.setattr("pipelines.processes.start_service", recording_start)
    with pytest.raises(RuntimeError, match=r"(?s)reference-kl exited with code 1 before listening.*no-such-model"):
        start_services({"data_store": ["--store", f"file://{tmp_path / 'store'}"],
                        "reference_kl": ["--model", str(tmp_path / "no-such-model")]}, timeout=120)
    (data_store,) = started  # the one that listened, now stopped
    assert data_store.proc.poll() is not None and data_store.stopping


@pytest.mark.parametrize("threads", [0, 2])
def test_a_service_reads_the_config_file_and_its_thread_default_yields_to_it(tmp_path, tiny_models, threads):
    """On one machine reference-kl gets one torch thread, unless the config it reads (`--config`,
    before the flags) gives it a number."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"services": {"reference_kl": {"torch_threads": threads}}}))
    proc = start_service("reference_kl", "--model", str(tiny_models["policy"]), config_file=config, timeout=120)
    try:
        assert proc.args[2:4] == ("--config", str(config))  # after --host 127.0.0.1
        assert ("--torch-threads" in proc.args) is (threads == 0)
    finally:
        proc.terminate()


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="this environment has vllm itself")
@pytest.mark.skipif(not VLLM_PYTHON.exists(), reason="no vLLM environment (make vllm-env; make test builds it)")
def test_a_vllm_policy_inference_runs_in_the_vllm_environment(tmp_path_factory, tokenizer_dir):
    from rlhf.models.tiny import make_tiny_models

    # vLLM's CPU attention needs a head size of 32 or more: 2 heads of 32.
    policy = make_tiny_models(tmp_path_factory.mktemp("tiny32"), tokenizer_dir, num_attention_heads=2,
                              num_key_value_heads=1)["policy"]
    proc = start_service("policy_inference", "--model", str(policy), "--engine", "vllm", timeout=300)
    try:
        assert proc.python == str(VLLM_PYTHON)
        with PolicyInferenceClient(proc.target, timeout=120) as client:
            assert len(client.generate(["Hi"], max_new_tokens=3, seed=1).completion_ids[0]) == 3
    finally:
        proc.terminate()
