"""The report's KL to SFT through the real services: sampled at temperature 1 from the pushed policy,
scored by reference-KL, equal to sum_t log pi - log pi_ref per sequence averaged over prompts,
computed in float64 from the in-process models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.evaluate import sampled_kl
from rlhf.clients.policy_inference import PolicyInferenceClient
from rlhf.clients.reference_kl import ReferenceKLClient
from rlhf.models import load_policy
from rlhf.models.scoring import instruction_ids
from tests.integration.stack import start_together


def float64_logprobs(model, prompt: list[int], completion: list[int]) -> np.ndarray:
    model = model.double()
    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion])).logits[0, len(prompt) - 1:-1]
    return logits.log_softmax(-1).gather(1, torch.tensor(completion)[:, None]).squeeze(1).numpy()


@pytest.fixture(scope="module")
def clients(start_service, tiny_models):
    args = ["--no-bf16-autocast", "--model", str(tiny_models["policy"])]
    servers = start_together(start_service, {"policy-inference": args, "reference-kl": args})
    policy_server, reference_server = servers["policy-inference"], servers["reference-kl"]
    with PolicyInferenceClient(policy_server.target, timeout=60) as policy_client, \
            ReferenceKLClient(reference_server.target, timeout=60) as reference_client:
        yield policy_client, reference_client
    policy_server.terminate()
    reference_server.terminate()


def test_kl_to_sft_is_the_mean_sequence_log_ratio_on_temperature_1_samples(clients, tiny_models, tokenizer):
    policy_client, reference_client = clients
    reference = load_policy(tiny_models["policy"])
    policy = load_policy(tiny_models["policy"])
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in policy.state_dict().values():
            tensor.add_(0.05 * torch.randn(tensor.shape, generator=generator))
    policy_client.update_weights(policy.state_dict())
    prompt_ids = instruction_ids(tokenizer, ["Say hi.", "List three fruits.", "Describe the sea."])
    gen = policy_client.generate_pinned(policy.state_dict, prompt_ids=prompt_ids, max_new_tokens=12, temperature=1.0,
                                        seed=3)

    expected = np.mean([(float64_logprobs(policy, p, c.tolist()) - float64_logprobs(reference, p, c.tolist())).sum()
                        for p, c in zip(prompt_ids, gen.completion_ids)])
    assert abs(expected) > 0.01  # the perturbed policy is measurably away from the reference
    assert sampled_kl(reference_client, prompt_ids, gen) == pytest.approx(expected, abs=1e-4)
