"""The recipe's math as pure functions over torch tensors: no models, no I/O, no grpc.

- `sft`: causal-LM loss on completion tokens (SFT) and per-token log-probs from logits.
- `reward`: the K-way ranking loss of the reward model and its bias shift.
- `ppo`: per-token KL-penalised rewards, GAE, whitening, clipped policy/value losses, KL
  controllers and the PPO-ptx pretraining term.
"""
