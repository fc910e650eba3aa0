"""The reference-KL service: `rlhf serve reference-kl --model DIR`."""

from services.reference_kl.server import build

__all__ = ["build"]
