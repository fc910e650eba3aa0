"""Model loading and the scalar-head forward shared by the reward model and the PPO value model."""

from rlhf.models.loading import (FrozenLower, decoder_layers, format_prompt, freeze_lower_layers, last_token_scores,
                                 load_policy, load_reward_model, load_tokenizer, token_scores, tokenizer_fingerprint,
                                 weights_revision)

__all__ = ["FrozenLower", "decoder_layers", "format_prompt", "freeze_lower_layers", "last_token_scores",
           "load_policy", "load_reward_model", "load_tokenizer", "token_scores", "tokenizer_fingerprint",
           "weights_revision"]
