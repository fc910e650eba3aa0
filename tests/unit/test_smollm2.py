from rlhf.models import load_tokenizer
from rlhf.models.loading import format_prompt


def test_bundled_template_adds_no_system_turn_of_its_own(tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    assert format_prompt(tokenizer, "Explain DNS.") == "<|im_start|>user\nExplain DNS.<|im_end|>\n<|im_start|>assistant\n"


def test_bundled_template_keeps_a_system_turn_the_conversation_brings(tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Explain DNS."}]
    assert format_prompt(tokenizer, turns) == ("<|im_start|>system\nBe brief.<|im_end|>\n"
                                               "<|im_start|>user\nExplain DNS.<|im_end|>\n<|im_start|>assistant\n")
