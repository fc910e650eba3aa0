"""The rendered NetworkPolicies admit exactly the intended (client pod -> server port) pairs.

A small evaluator applies Kubernetes' ingress semantics to the rendered objects: a pod selected by
no policy admits everything; a pod selected by some policies admits a connection when any rule of
any of them matches both the port and the peer (podSelector: same namespace; namespaceSelector:
namespaces by their kubernetes.io/metadata.name label; both: both)."""

from __future__ import annotations

import itertools

import pytest

import chartlib
from chartlib import NAMESPACE, find, labels_match, pod_templates

# server component -> the components of this release that may open its gRPC port
GRPC_CLIENTS = {
    "policy-inference": {"trainer", "label", "eval", "test"},
    "reference-kl": {"trainer", "eval", "test"},
    "reward-scoring": {"trainer", "eval", "test"},
    "data-store": {"trainer", "data", "sft", "label", "rm", "eval", "test"},
}
MINIO_CLIENTS = {"data-store", "make-bucket", "policy-inference", "reward-scoring", "reference-kl",
                 "trainer", "data", "sft", "label", "rm", "eval"}


def admitted(policies: list[dict], src_labels: dict, src_ns: str, dst_labels: dict, port: int) -> bool:
    selecting = [p for p in policies if labels_match(p["spec"]["podSelector"], dst_labels)
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(p.get("port") == port for p in ports):
                continue
            peers = rule.get("from")
            if not peers or any(peer_matches(peer, src_labels, src_ns) for peer in peers):
                return True
    return False


def peer_matches(peer: dict, labels: dict, ns: str) -> bool:
    ns_selector, pod_selector = peer.get("namespaceSelector"), peer.get("podSelector")
    ns_ok = (ns == NAMESPACE) if ns_selector is None else labels_match(ns_selector, {"kubernetes.io/metadata.name": ns})
    pod_ok = True if pod_selector is None else labels_match(pod_selector, labels)
    return ns_ok and pod_ok


def servers(objects) -> dict[str, tuple[dict, dict[str, int]]]:
    """component -> (pod labels, {port name: number}) of every pod that listens."""
    out = {}
    for _, meta, spec in pod_templates(objects):
        labels = meta.get("labels", {})
        ports = {p["name"]: p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
        if ports and labels.get("app.kubernetes.io/component") in set(GRPC_CLIENTS) | {"minio"}:
            out[labels["app.kubernetes.io/component"]] = (labels, ports)
    return out


def clients(objects) -> dict[str, dict]:
    """component -> pod labels of every pod of the release (the possible callers)."""
    return {meta["labels"]["app.kubernetes.io/component"]: meta["labels"] for _, meta, _ in pod_templates(objects)}


@pytest.mark.parametrize("variant", ["default", "service_monitor", "workers4", "example_gpu", "example_cpu_tiny"])
def test_grpc_and_s3_ports_admit_exactly_the_intended_callers(variant):
    objects = chartlib.render(variant)
    policies = find(objects, "NetworkPolicy")
    pods = clients(objects)
    assert {"trainer", "test", "sft", "label", "rm", "eval", "data"} <= set(pods), sorted(pods)
    got, expected = set(), set()
    for (dst, (dst_labels, ports)), (src, src_labels) in itertools.product(servers(objects).items(), pods.items()):
        if src == dst:
            continue
        port_name = "s3" if dst == "minio" else "grpc"
        if admitted(policies, src_labels, NAMESPACE, dst_labels, ports[port_name]):
            got.add((src, dst))
        if src in (MINIO_CLIENTS if dst == "minio" else GRPC_CLIENTS[dst]):
            expected.add((src, dst))
    assert sorted(got - expected) == [], "admitted but not intended"
    assert sorted(expected - got) == [], "intended but not admitted"


def test_pods_of_another_release_or_namespace_are_refused():
    objects = chartlib.render("default")
    policies = find(objects, "NetworkPolicy")
    trainer = clients(objects)["trainer"]
    other_release = {**trainer, "app.kubernetes.io/instance": "other"}
    for dst, (labels, ports) in servers(objects).items():
        port = ports["s3" if dst == "minio" else "grpc"]
        assert admitted(policies, trainer, NAMESPACE, labels, port), dst
        assert not admitted(policies, other_release, NAMESPACE, labels, port), dst
        assert not admitted(policies, trainer, "elsewhere", labels, port), dst


def test_reward_scoring_admits_the_listed_namespaces_only():
    objects = chartlib.render("service_monitor")  # rewardScoringNamespaces: [eval-team, labelers]
    policies = find(objects, "NetworkPolicy")
    srv = servers(objects)
    anyone = {"app": "notebook"}
    for ns in ("eval-team", "labelers"):
        labels, ports = srv["reward-scoring"]
        assert admitted(policies, anyone, ns, labels, ports["grpc"])
        for other in ("policy-inference", "reference-kl", "data-store"):
            labels, ports = srv[other]
            assert not admitted(policies, anyone, ns, labels, ports["grpc"]), other
    labels, ports = srv["reward-scoring"]
    assert not admitted(policies, anyone, "default", labels, ports["grpc"])
    # without the list, no other namespace gets in
    default = find(chartlib.render("default"), "NetworkPolicy")
    assert not admitted(default, anyone, "eval-team", labels, ports["grpc"])


def test_metrics_ports_admit_the_monitoring_namespace_only():
    objects = chartlib.render("default")  # metricsNamespaces: [monitoring]
    policies = find(objects, "NetworkPolicy")
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    for dst, (labels, ports) in servers(objects).items():
        if dst == "minio":
            continue
        assert admitted(policies, prometheus, "monitoring", labels, ports["metrics"]), dst
        assert not admitted(policies, prometheus, "monitoring", labels, ports["grpc"]), dst
        assert not admitted(policies, prometheus, "default", labels, ports["metrics"]), dst
    # an empty list opens the metrics ports (only) to every source
    open_policies = find(chartlib.render("example_cpu_tiny"), "NetworkPolicy")
    labels, ports = servers(objects)["data-store"]
    assert admitted(open_policies, prometheus, "default", labels, ports["metrics"])
    assert not admitted(open_policies, prometheus, "default", labels, ports["grpc"])


def test_evaluator_itself_distinguishes_allow_and_deny():
    policy = {"spec": {"podSelector": {"matchLabels": {"app": "srv"}}, "policyTypes": ["Ingress"],
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "cli"}}}], "ports": [{"port": 80}]}]}}
    assert admitted([policy], {"app": "cli"}, NAMESPACE, {"app": "srv"}, 80)
    assert not admitted([policy], {"app": "cli"}, NAMESPACE, {"app": "srv"}, 81)
    assert not admitted([policy], {"app": "x"}, NAMESPACE, {"app": "srv"}, 80)
    assert admitted([policy], {"app": "x"}, NAMESPACE, {"app": "unselected"}, 80)


def test_network_policies_can_be_turned_off():
    assert not find(chartlib.render_values({"networkPolicy": {"enabled": False}}), "NetworkPolicy")
