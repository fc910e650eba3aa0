"""charts/rlhf renders and lints cleanly for every variant, and every rendered object is a valid
object of its typed API model (kubernetes, kubeflow-training, kserve) with no unknown fields."""

from __future__ import annotations

import copy

import pytest

import chartlib
from chartlib import UNTYPED, TYPED

ALL = list(chartlib.VARIANTS) + list(chartlib.EXAMPLES)


@pytest.mark.parametrize("variant", ALL)
def test_strict_lint_has_no_errors_or_warnings(variant):
    import helm_python

    # kube_version: lint also flags APIs deprecated or removed by then
    report = helm_python.lint(str(chartlib.CHART), chartlib.values_of(variant), strict=True,
                              namespace=chartlib.NAMESPACE, kube_version="v1.31.0")
    serious = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and serious == [], serious or report["errors"]


@pytest.mark.parametrize("variant", ALL)
def test_every_object_fits_its_typed_model(variant):
    objects = chartlib.render(variant)
    assert objects, "nothing rendered"
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        where = f"{obj['_template']}: {obj['kind']}/{obj['metadata']['name']}"
        if key in UNTYPED:
            continue  # checked by test_service_monitor_shape
        assert key in TYPED, f"{where}: {key} has no typed model to check against"
        problems = chartlib.unknown_fields(chartlib.strip(obj), TYPED[key])
        assert problems == [], f"{where}:\n  " + "\n  ".join(problems)
        typed = chartlib.deserialize(obj)  # required fields are enforced by the models' setters
        assert typed.metadata.name == obj["metadata"]["name"]


def test_validator_catches_unknown_and_mistyped_fields():
    """The model check itself can fail: a typo'd field and a mistyped value are reported."""
    deployment = copy.deepcopy(chartlib.strip(chartlib.one(chartlib.render("default"), "Deployment", "rlhf-policy-inference")))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["grcp"] = container["readinessProbe"].pop("grpc")
    container["ports"][0]["containerPort"] = "50051"
    problems = chartlib.unknown_fields(deployment, "V1Deployment")
    assert any("readinessProbe.grcp: unknown field of V1Probe" in p for p in problems), problems
    assert any("ports[0].containerPort: expected an integer" in p for p in problems), problems

    job = copy.deepcopy(chartlib.strip(chartlib.one(chartlib.render("default"), "PyTorchJob", "rlhf-ppo")))
    job["spec"]["pytorchReplicaSpecs"]["Master"]["replica"] = 1
    assert chartlib.unknown_fields(job, "KubeflowOrgV1PyTorchJob") == [
        "spec.pytorchReplicaSpecs.Master.replica: unknown field of KubeflowOrgV1ReplicaSpec"]


@pytest.mark.parametrize("variant", ALL)
def test_object_names_are_unique_and_dns_safe(variant):
    import re

    seen = set()
    for obj in chartlib.render(variant):
        name = obj["metadata"]["name"]
        assert (obj["kind"], name) not in seen, f"duplicate {obj['kind']}/{name}"
        seen.add((obj["kind"], name))
        limit = 63 if obj["kind"] in ("Service", "StatefulSet", "Pod", "Job") else 253
        assert len(name) <= limit and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name), name


def test_long_release_names_still_fit_dns_labels():
    import helm_python

    release = "a-very-long-release-name-for-testing-dns-label-limits"  # 53 characters, Helm's max
    helm_python.validate_release_name(release)
    manifests = chartlib.chart().render({}, name=release, namespace="ns")
    objects = chartlib._objects(tuple(sorted(manifests.items())))
    for obj in chartlib.find(objects, "Service"):
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]


def test_service_monitor_shape():
    objects = chartlib.render("service_monitor")
    (monitor,) = chartlib.find(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel", "podTargetLabels"}
    assert spec["namespaceSelector"] == {"matchNames": [chartlib.NAMESPACE]}
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    # It selects exactly the Services with a "metrics" port: the four services and rank 0 of the trainer.
    selected = [s for s in chartlib.find(objects, "Service")
                if chartlib.labels_match(spec["selector"], s["metadata"]["labels"])]
    assert sorted(s["metadata"]["name"] for s in selected) == [
        "rlhf-data-store", "rlhf-policy-inference", "rlhf-reference-kl", "rlhf-reward-scoring", "rlhf-trainer-metrics"]
    for service in selected:
        assert "metrics" in {p["name"] for p in service["spec"]["ports"]}
    assert not chartlib.find(chartlib.render("default"), "ServiceMonitor"), "ServiceMonitor must be opt-in"


def test_notes_name_the_services_and_commands():
    text = chartlib.notes("default")
    for name in ("policy-inference", "reward-scoring", "reference-kl", "data-store"):
        assert f"rlhf-{name}.{chartlib.NAMESPACE}.svc.cluster.local" in text
    assert "helm test rlhf" in text and "pytorchjob rlhf-ppo" in text
