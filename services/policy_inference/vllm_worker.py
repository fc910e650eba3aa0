"""Runs inside vLLM's worker process (engine argument `worker_extension_cls`): the methods the
policy-inference server calls there with `collective_rpc`. Imports nothing of the server."""

from __future__ import annotations


class WeightLoader:
    """Mixed into vLLM's worker class, so `self` is the worker and `self.model_runner` its model runner."""

    def rlhf_load_weights(self, path: str) -> int:
        """Loads a safetensors file of Hugging Face-named weights (checked by the server: every
        weight, the model's shapes) into the running model, in place; returns how many tensors
        were read. vLLM's in-place reload restores each layer's checkpoint layout (the CPU backend
        repacks linear weights after loading), lets the model's `load_weights` map the names onto
        its fused layers (q/k/v into qkv_proj, gate/up into gate_up_proj, cast to the serving
        dtype), then processes the layer again."""
        from safetensors.torch import load_file

        weights = load_file(path)
        self.reload_weights(weights_iterator=iter(weights.items()), is_checkpoint_format=True)
        model = self.model_runner.get_model()
        if getattr(model.config, "tie_word_embeddings", False):
            _retie_lm_head(model)
        return len(weights)


def _retie_lm_head(model) -> None:
    """The reload gives the input embedding a new parameter, while a tied LM head keeps the old
    one (and, on CPU, a matrix packed from it): tie it again and process it as loading does."""
    head, embedding = getattr(model, "lm_head", None), getattr(getattr(model, "model", None), "embed_tokens", None)
    if head is None or embedding is None or not hasattr(head, "tie_weights"):
        raise RuntimeError(f"{type(model).__name__}: tied embeddings outside model.embed_tokens / lm_head, "
                           "which this loader does not know how to tie again")
    head.tie_weights(embedding)
    head.quant_method.process_weights_after_loading(head)
