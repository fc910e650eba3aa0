"""The policy-inference service: `rlhf serve policy-inference --model DIR`."""

from services.policy_inference.server import build

__all__ = ["build"]
