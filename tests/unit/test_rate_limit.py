"""Bearer tokens and per-token rate limits (services/auth.py), on a
fake clock."""

from __future__ import annotations

import os

import pytest

from rlhf.auth_tokens import read_tokens
from services.auth import Authenticator, TokenBucket, TokenFile, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)  # one request refills in 1/rate seconds
    clock.now += 0.5
    assert bucket.take() == 0.0
    clock.now += 10  # idle time refills up to the burst, no more
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]


def test_read_tokens_skips_blanks_and_comments():
    assert read_tokens("# team a\nalpha\n\n  beta  \n  # retired: gamma\n") == ["alpha", "beta"]
    assert read_tokens("# only a comment\n\n") == []


def test_token_file_skips_blanks_and_comments_and_follows_rotation(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("# team a\nalpha\n\n  beta  \n")
    clock = Clock()
    tokens = TokenFile(path, clock=clock)
    assert tokens.tokens() == (b"alpha", b"beta")
    path.write_text("gamma\n")
    os.utime(path, ns=(1, 1))  # a new mtime, as a Secret update gives
    assert tokens.tokens() == (b"alpha", b"beta")  # looked at no more than once a second
    clock.now += 1
    assert tokens.tokens() == (b"gamma",)


@pytest.mark.parametrize("text", ["", "# only a comment\n\n"])
def test_token_file_without_tokens_is_refused(tmp_path, text):
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(ValueError, match="reward_serving.tokens_file: .* holds no token"):
        TokenFile(path)


def test_missing_token_file_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="reward_serving.tokens_file: cannot read"):
        TokenFile(tmp_path / "nope")


@pytest.mark.parametrize("header, kind", [
    (None, "missing_token"), ("", "missing_token"), ("Bearer", "missing_token"), ("Basic alpha", "missing_token"),
    ("Bearer alph", "invalid_token"), ("Bearer alphaX", "invalid_token"), ("Bearer beta", "invalid_token"),
])
def test_bad_credentials_are_refused(tmp_path, header, kind):
    path = tmp_path / "tokens"
    path.write_text("alpha\n")
    denial = Authenticator(TokenFile(path)).check(header)
    assert denial is not None and denial.kind == kind


def test_good_token_passes_and_each_token_has_its_own_bucket(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("alpha\nbeta\n")
    clock = Clock()
    auth = Authenticator(TokenFile(path, clock=clock), rate_per_second=1.0, burst=2, clock=clock)
    assert auth.check("Bearer alpha") is None
    assert auth.check("bearer alpha") is None  # the scheme is case-insensitive
    denial = auth.check("Bearer alpha")
    assert denial.kind == "rate_limited" and denial.retry_after == pytest.approx(1.0)
    assert "1 requests/s per token" in denial.message
    assert auth.check("Bearer beta") is None  # alpha's limit is not beta's
    clock.now += 1
    assert auth.check("Bearer alpha") is None


def test_without_a_token_file_everyone_passes_and_shares_one_limit():
    clock = Clock()
    auth = Authenticator(None, rate_per_second=1.0, burst=1, clock=clock)
    assert auth.check(None) is None
    assert auth.check("Bearer anything").kind == "rate_limited"
    assert Authenticator(None).check(None) is None  # no limit at all


@pytest.mark.parametrize("seconds, header", [(0.01, "1"), (1.0, "1"), (1.2, "2")])
def test_retry_after_rounds_up(seconds, header):
    assert retry_after_header(seconds) == header
