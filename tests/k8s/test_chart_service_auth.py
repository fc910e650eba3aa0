"""Bearer-token auth on the four internal services (serviceAuth): on by default, the token in a
Secret that every service reads with --tokens-file and every caller's pod mounts and names in
RLHF_SERVICE_TOKEN_FILE; off renders none of it."""

from __future__ import annotations

import base64

import chartlib
from chartlib import find, pod_templates

TOKENS = "/var/run/secrets/rlhf/service-auth/tokens"
SERVICES = {"policy-inference", "reward-scoring", "reference-kl", "data-store"}


def rlhf_containers(objects):
    for owner, _, spec in pod_templates(objects):
        for c in spec["containers"] + spec.get("initContainers", []):
            if "rlhf" in " ".join(c.get("command", [])) or "wait_for.py" in " ".join(c.get("command", [])):
                yield owner, c, spec


def test_service_auth_is_on_by_default_with_a_generated_secret():
    objects = chartlib.render_values({})
    (secret,) = [s for s in find(objects, "Secret") if s["metadata"]["name"].endswith("-service-auth")]
    assert len(base64.b64decode(secret["data"]["tokens"]).strip()) >= 32
    served = set()
    for owner, c, spec in rlhf_containers(objects):
        mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        if "service-auth" not in mounts:
            continue  # the reward InferenceService's model wait: no client, no token
        assert mounts["service-auth"] == TOKENS.rsplit("/", 1)[0], owner
        assert volumes["service-auth"]["secret"]["secretName"] == secret["metadata"]["name"], owner
        assert {e["name"]: e.get("value") for e in c["env"]}["RLHF_SERVICE_TOKEN_FILE"] == TOKENS, owner
        args = c.get("args", [])
        if c.get("command", [])[:2] == ["rlhf", "serve"] and c["command"][2] in SERVICES:
            assert args[args.index("--tokens-file") + 1] == TOKENS, owner
            served.add(c["command"][2])
    assert served == SERVICES


def test_an_existing_secret_is_used_and_none_is_created():
    objects = chartlib.render_values({"serviceAuth": {"existingSecret": "team-tokens"}})
    assert not [s for s in find(objects, "Secret") if s["metadata"]["name"].endswith("-service-auth")]
    secrets = {v["secret"]["secretName"] for _, _, spec in pod_templates(objects) for v in spec.get("volumes", [])
               if v["name"] == "service-auth"}
    assert secrets == {"team-tokens"}


def test_service_auth_off_renders_no_token_anywhere():
    objects = chartlib.render_values({"serviceAuth": {"enabled": False}})
    assert not [s for s in find(objects, "Secret") if s["metadata"]["name"].endswith("-service-auth")]
    for owner, c, _ in rlhf_containers(objects):
        assert "--tokens-file" not in c.get("args", []) or c["command"][2] == "reward-kserve", owner
        assert "RLHF_SERVICE_TOKEN_FILE" not in {e["name"] for e in c.get("env", [])}, owner
