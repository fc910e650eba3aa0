"""The image definition, k8s/ and the install guide agree with the chart and with each other."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

import chartlib
from chartlib import ROOT

DOCS = [ROOT / "README.md", ROOT / "k8s" / "README.md"]


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_image_runs_as_the_non_root_user_the_chart_expects():
    user = re.findall(r"^USER\s+(\S+)", dockerfile(), re.M)
    assert user and user[-1] == "10001:10001"
    security = chartlib.chart().values["podSecurityContext"]
    assert (security["runAsUser"], security["runAsGroup"], security["runAsNonRoot"]) == (10001, 10001, True)


def test_image_installs_pinned_torch_first_then_the_project_under_constraints():
    text = dockerfile()
    pinned = re.search(r"^torch==(\S+)", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    assert re.search(rf"^ARG TORCH_VERSION={re.escape(pinned)}$", text, re.M)
    torch_at = text.index('"torch==${TORCH_VERSION}"')
    constrained = [m.start() for m in re.finditer(r"pip install[^\n]*-c constraints\.txt", text)]
    assert constrained and all(torch_at < at for at in constrained)
    assert re.search(r"^ARG BASE_IMAGE=nvidia/cuda:", text, re.M)  # CUDA base by default, overridable


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".venv-vllm", ".venv-labelstudio", ".git", "runs", "tests"} <= ignored
    copied = {word for line in re.findall(r"^COPY (.+)$", dockerfile(), re.M) for word in line.split()[:-1]}
    for needed in ("pyproject.toml", "constraints.txt", "rlhf", "services", "pipelines", "protos"):
        assert needed not in ignored and needed in copied, needed


def test_prerequisites_script_is_valid_bash_and_installs_the_training_operator():
    script = ROOT / "k8s" / "install-prerequisites.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "manifests/overlays/standalone" in text and "pytorchjobs.kubeflow.org" in text
    help_text = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, check=True).stdout
    assert "--prometheus" in help_text and "--kserve" in help_text


def test_kind_config_is_a_one_node_cluster():
    config = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [n["role"] for n in config["nodes"]] == ["control-plane"]
    assert not config.get("networking", {}).get("disableDefaultCNI")  # kindnetd enforces NetworkPolicies


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_files_the_docs_mention_exist(doc):
    text = doc.read_text()
    paths = set(re.findall(r"(?<![\w/])((?:k8s|charts|docs)/[\w./-]+\.(?:ya?ml|sh|md))", text))
    paths |= set(re.findall(r"`((?:k8s|charts)/[\w./-]+)`", text))
    assert paths
    for path in paths:
        assert (ROOT / path).exists(), f"{doc.name} mentions {path}, which does not exist"


def test_set_flags_in_the_guide_name_real_values_keys():
    text = (ROOT / "README.md").read_text()
    values = chartlib.chart().values
    # Only helm's --set flags: a helm command with its backslash-continued lines.
    helm_commands = re.findall(r"^helm (?:[^\n]*\\\n)*[^\n]*", text, flags=re.M)
    keys = [key for command in helm_commands for key in re.findall(r"--set ([\w.]+)=", command)]
    assert keys
    for key in keys:
        node = values
        parts = key.split(".")
        if parts[0] == "config":
            continue  # passes through to config.yaml; checked by the config tests
        for part in parts:
            assert isinstance(node, dict) and part in node, f"--set {key}: no such values key"
            node = node[part]


def test_guide_names_the_objects_the_chart_creates():
    text = (ROOT / "README.md").read_text()
    objects = chartlib.render("default")
    for kind, name in re.findall(r"\b(job|pytorchjob|deploy|pvc)[/ ](rlhf-[\w-]+)", text):
        kind = {"job": "Job", "pytorchjob": "PyTorchJob", "deploy": "Deployment", "pvc": "PersistentVolumeClaim"}[kind]
        if kind == "PersistentVolumeClaim" and name.startswith("rlhf-workspace"):
            assert chartlib.find(objects, kind, name), name
        elif kind != "PersistentVolumeClaim":
            assert chartlib.find(objects, kind, name), f"{kind}/{name}"
    minio = chartlib.one(objects, "StatefulSet", "rlhf-minio")
    assert f"{minio['spec']['volumeClaimTemplates'][0]['metadata']['name']}-rlhf-minio-0" in text


def test_reward_kserve_example_creates_the_secrets_the_chart_mounts():
    """k8s/values-reward-kserve.yaml: its commands create the Secrets (with the keys) the values
    name, install with files that exist, and it turns the InferenceService on (rendered, linted and
    model-checked with the other examples as `example_reward_kserve`)."""
    path = ROOT / "k8s" / "values-reward-kserve.yaml"
    assert chartlib.EXAMPLES["example_reward_kserve"] == path
    text = path.read_text()
    kserve = yaml.safe_load(text)["reward"]["kserve"]
    assert kserve["enabled"] is True
    created = dict(re.findall(r"kubectl -n \S+ create secret generic (\S+) --from-file=(\w+)=", text))
    assert created[kserve["auth"]["existingSecret"]] == "tokens"  # mounted as reward-auth/tokens
    assert created[kserve["auth"]["clientSecret"]] == "token"     # the trainer's and eval's token
    (install,) = [line for line in text.splitlines() if re.match(r"#\s+helm install ", line)]
    for values_file in re.findall(r"-f (\S+)", install):
        assert (ROOT / values_file).exists(), values_file
    assert "--kserve" in text  # the prerequisite that installs KServe
    # the addresses the comments give callers are the ones the chart renders (namespace rlhf there)
    notes = chartlib.notes("example_reward_kserve").replace(chartlib.NAMESPACE, "rlhf")
    for address in re.findall(r"(?:http://)?rlhf-reward-predictor\.rlhf\.svc\.cluster\.local[\w:/.]*", text):
        assert address in notes, address
