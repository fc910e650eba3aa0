"""pipelines/labelstudio.py without a server: rankings of displayed letters decode into indices of
the sampled completions, the paper's pairwise agreement, blind pairs, and which token is which."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from pipelines import labelstudio as ls
from rlhf.data.records import RecordError, validate


def ranked(letters: list[str], cancelled: bool = False) -> dict:
    return {"id": 7, "was_cancelled": cancelled,
            "result": [{"from_name": ls.RANKER, "value": {"ranker": {ls.RANKER: letters}}}]}


def test_a_ranking_of_displayed_letters_decodes_through_the_tasks_random_order():
    rng = np.random.default_rng(5)
    completions = ["w", "x", "y", "z"]
    task = ls.ranking_task("p", completions, "train", rng)
    shown = [item["body"] for item in task["data"]["items"]]
    assert sorted(shown) == completions and shown != completions  # this seed shuffles
    # The labeler puts the displayed items in reverse: the bodies, best first, are those.
    ranking = ls.decode_ranking(task, ranked(list("DCBA")), "here")
    assert [completions[i] for i in ranking] == shown[::-1]


def test_skipped_unranked_and_malformed_annotations():
    task = ls.ranking_task("p", ["a", "b"], "train", np.random.default_rng(0))
    assert ls.decode_ranking(task, ranked(["A", "B"], cancelled=True), "here") is None
    assert ls.decode_ranking(task, {"result": []}, "here") is None
    with pytest.raises(ls.LabelStudioError, match=r"task 3: the ranking \['A', 'A'\] is not an order"):
        ls.decode_ranking(task, ranked(["A", "A"]), "task 3")


def test_pairwise_agreement_is_the_share_of_completion_pairs_two_labelers_order_alike():
    tasks = [[("ann", [0, 1, 2]), ("bob", [1, 0, 2])],        # 2 of 3 pairs alike
             [("ann", [0, 1, 2, 3]), ("bob", [3, 2, 1, 0])],  # 0 of 6
             [("ann", [0, 1])]]                               # one labeler: nothing to compare
    result = ls.pairwise_agreement(tasks)
    assert result["agreement"] == pytest.approx(2 / 9) and result["compared_pairs"] == 9
    assert ls.pairwise_agreement([[("ann", [0, 1])]])["agreement"] is None


def test_blind_pairs_put_each_policy_on_both_sides_and_decode_ties_as_half():
    tasks, key = ls.pairwise_tasks(["p"] * 20, ["sft"] * 20, {"PPO": ["ppo"] * 20}, seed=1)
    assert {entry["policy_side"] for entry in key.values()} == {"A", "B"}
    for task in tasks:
        side = key[task["data"]["pair"]]["policy_side"]
        assert task["data"]["a" if side == "A" else "b"] == "ppo"
        task["annotations"] = [{"result": [{"from_name": ls.PREFERENCE, "value": {"choices": [side]}}]},
                               {"result": [{"from_name": ls.PREFERENCE, "value": {"choices": [ls.TIE]}}]}]
    assert ls.decode_pairwise(tasks, key) == {"PPO": {"wins": 30.0, "judgments": 40}}
    tasks[0]["data"]["pair"] = "nope"
    with pytest.raises(ls.LabelStudioError, match="pair 'nope' is not in the eval's key"):
        ls.decode_pairwise(tasks, key)


def _jwt(payload: dict) -> str:
    part = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{part}.c2ln"


def test_personal_access_tokens_are_told_from_legacy_ones():
    assert ls._is_personal_access_token(_jwt({"token_type": "refresh"}))
    assert not ls._is_personal_access_token(_jwt({"token_type": "access"}))
    assert not ls._is_personal_access_token("0123456789abcdef0123456789abcdef01234567")


def test_a_missing_token_names_the_variable(monkeypatch):
    from rlhf.config import LabelStudioConfig

    monkeypatch.delenv("NO_SUCH_LS_TOKEN", raising=False)
    with pytest.raises(ls.LabelStudioError, match=r"http://ls:8080: no API token: set \$NO_SUCH_LS_TOKEN"):
        ls.LabelStudio.from_config(LabelStudioConfig(url="http://ls:8080", token_env="NO_SUCH_LS_TOKEN"))


@pytest.mark.parametrize("extra, message", [
    ({"rating": 8}, r"field 'rating' must be an integer 1..7"),
    ({"rating": True}, r"field 'rating' must be an integer 1..7"),
    ({"flags": "hallucination"}, r"field 'flags' must be a list of strings"),
    ({"labeler": ""}, r"field 'labeler' is empty"),
])
def test_labeler_fields_of_a_comparison_are_checked(extra, message):
    record = {"prompt": "p", "completions": ["a", "b"], "ranking": [1, 0]}
    assert validate({**record, "labeler": "ann", "rating": 4, "flags": ["hallucination"]}, "comparisons")
    assert validate({**record, "rating": None}, "comparisons")
    with pytest.raises(RecordError, match=message):
        validate({**record, **extra}, "comparisons")


def test_a_url_that_is_not_http_is_named():
    with pytest.raises(ls.LabelStudioError, match=r"label.label_studio.url: '127.0.0.1:8080' is not an http"):
        ls.LabelStudio("127.0.0.1:8080", "token")


def test_a_server_that_is_not_label_studio_is_named(tmp_path):
    """An HTTP server answering HTML (a proxy page, another app) where Label Studio should be."""
    import http.server
    import threading

    class Html(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>hello</html>")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(ls.LabelStudioError, match=rf"Label Studio at {url}: GET /api/current-user/whoami answered "
                                                      r"something that is not JSON .*is this URL Label Studio\?"):
            ls.LabelStudio(url, "0123456789abcdef0123456789abcdef01234567", timeout_s=5).check()
    finally:
        server.shutdown()


def test_a_server_that_never_answers_is_given_up_on_at_the_deadline():
    import socket
    import time

    with socket.socket() as listener:  # accepts connections (the kernel's backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ls.LabelStudioError, match=rf"Label Studio at {url} did not answer GET "
                                                      r"/api/current-user/whoami within 0.5s"):
            ls.LabelStudio(url, "0123456789abcdef0123456789abcdef01234567", timeout_s=0.5).check()
        assert time.monotonic() - start < 5


def test_an_error_answer_keeps_the_fields_reasons():
    body = b'{"detail": "Validation error", "validation_errors": {"title": ["Ensure this field has at least 3 characters."]}}'
    assert ls._detail(body) == "Validation error; {'title': ['Ensure this field has at least 3 characters.']}"
    assert ls._detail(b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
