"""What a sharded policy pushes to policy-inference: gathered one weight at a time, the weights
the service then serves are exactly the unsharded model's, as a DDP (unsharded) trainer's are."""

from __future__ import annotations

import copy
import re

import torch

from rlhf.clients.policy_inference import PolicyInferenceClient
from rlhf.config import ParallelConfig
from rlhf.models import load_policy, weights_revision
from tests.distributed.launch import torchrun
from tests.integration.stack import tiny_ppo


def test_step_0_push_from_fsdp_serves_the_unsharded_weights_like_ddp(stack, tiny_models, tmp_path):
    policy = load_policy(tiny_models["policy"])
    unsharded = weights_revision(policy)
    other = {name: tensor + 0.5 for name, tensor in policy.state_dict().items()}
    with PolicyInferenceClient(f"127.0.0.1:{stack.services.policy_inference.port}") as client:
        client.update_weights(other)
        assert client.info().revision != unsharded
        # steps=0: the trainer starts, pushes its policy (float32: the revision is of exact weights) and ends.
        config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "fsdp", steps=0, run_name="push-fsdp",
                          parallel=ParallelConfig(strategy="fsdp"), push_dtype="float32")
        stdout = torchrun("ppo", config, tmp_path)
        assert client.info().revision == unsharded
        # Every rank computed the same revision from the shards it gathered.
        # (Both ranks write to one pipe: a line's text is one write, its newline another, so lines
        # may run together; the pattern does not rely on line ends.)
        revisions = sorted(re.findall(r"ppo: rank (\d) policy revision ([0-9a-f]{16})", stdout))
        assert revisions == [("0", unsharded), ("1", unsharded)]

        # DDP on 2 ranks: rank 0 pushes its whole replica through the same writer.
        client.update_weights(other)
        assert client.info().revision != unsharded
        config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "ddp", steps=0, run_name="push-ddp",
                          parallel=ParallelConfig(strategy="ddp"), push_dtype="float32")
        stdout = torchrun("ppo", config, tmp_path)
        assert client.info().revision == unsharded
        assert sorted(re.findall(r"ppo: rank (\d) policy revision ([0-9a-f]{16})", stdout)) == revisions
    # The final save gathers the same way: the written model is the unsharded one.
    saved = load_policy(tmp_path / "fsdp").state_dict()
    assert all(torch.equal(saved[k], v) for k, v in policy.state_dict().items())
