"""A team's own data as small JSONL files: prompts without constraints, pairwise comparisons mixed
with K-way ones, chat-form demonstrations. Written by the tests that run the loop on them."""

from __future__ import annotations

import json
from pathlib import Path

TOPICS = ["the sea", "a good breakfast", "learning to code", "city parks", "rainy days", "old maps", "tea",
          "bicycles", "libraries", "mountains", "winter", "friendship"]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def comparison(index: int, topic: str) -> dict:
    if index % 2:
        return {"prompt": f"Write about {topic}.", "chosen": f"{topic.capitalize()} is calm and lovely.",
                "rejected": "no"}
    return {"prompt": f"Write about {topic}.", "completions": ["ok", f"A thought on {topic}.", f"{topic}!"],
            "ranking": [1, 2, 0]}


def write_own_data(folder: Path) -> dict[str, Path]:
    """record set -> file: no record has constraints; the label source must be `import`."""
    chat = [{"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": f"Say something about {topic}."},
                          {"role": "assistant", "content": f"{topic.capitalize()} is worth a look."}]}
            for topic in TOPICS]
    return {
        "prompts/train": write_jsonl(folder / "prompts.jsonl",
                                     [{"id": f"p{i}", "prompt": f"Tell me about {t}."} for i, t in enumerate(TOPICS)]),
        "prompts/heldout": write_jsonl(folder / "heldout.jsonl", [{"prompt": f"Describe {t}."} for t in TOPICS[:6]]),
        "comparisons/train": write_jsonl(folder / "pairs.jsonl", [comparison(i, t) for i, t in enumerate(TOPICS)]),
        "comparisons/heldout": write_jsonl(folder / "pairs-heldout.jsonl",
                                           [comparison(i, t) for i, t in enumerate(TOPICS[:4])]),
        "demonstrations": write_jsonl(folder / "chat.jsonl", chat),
    }
