"""reward.kserve: the reward model as a KServe InferenceService instead of the reward-scoring
Deployment. The InferenceService fits kserve's own typed model; its predictor runs
`rlhf serve reward-kserve` with the ports, mounts, probes and config the server expects; and every
caller in the release (trainer, eval, their init containers, `helm test`) addresses it, with its
token when auth is on. Off (the default), nothing of it is rendered.

KServe turns the predictor's container ports into the Service NAME-predictor (Standard mode): the
first port as Service port 80, every further one under its own number
(pkg/controller/v1beta1/inferenceservice/reconcilers/service/service_reconciler.go, createDefaultSvc;
kserve/kserve#2376, #2464). Knative allows one container port (knative/serving#7140), routed on
port 80. `kserve_service_ports` mirrors that so the callers' addresses can be checked against it.
"""

from __future__ import annotations

import copy
import math

import pytest
import yaml

import chartlib
from chartlib import KSERVE_VARIANTS, NAMESPACE, find, one, pod_templates
from test_chart_networkpolicy import admitted

ISVC = "rlhf-reward"
HOST = f"{ISVC}-predictor.{NAMESPACE}.svc.cluster.local"
STANDARD = ("Standard", "RawDeployment")


def values(variant: str) -> dict:
    return chartlib.effective_values(variant)["reward"]["kserve"]


def isvc(variant: str) -> dict:
    return one(chartlib.render(variant), "InferenceService", ISVC)


def predictor(variant: str) -> dict:
    return isvc(variant)["spec"]["predictor"]


def server(variant: str) -> dict:
    (c,) = predictor(variant)["containers"]
    return c


def raw_config(variant: str) -> dict:
    return yaml.safe_load(one(chartlib.render(variant), "ConfigMap", "rlhf-config")["data"]["config.yaml"])


def env_of(c: dict) -> dict[str, dict]:
    return {e["name"]: e for e in c.get("env", [])}


def is_standard(variant: str) -> bool:
    return values(variant)["deploymentMode"] in STANDARD


def kserve_service_ports(variant: str) -> dict[int, int]:
    """Service port -> container port of KServe's NAME-predictor Service for this predictor."""
    ports = server(variant)["ports"]
    if not is_standard(variant):
        assert len(ports) == 1, "Knative allows exactly one container port"
        return {80: ports[0]["containerPort"]}
    return {80: ports[0]["containerPort"], **{p["containerPort"]: p["containerPort"] for p in ports[1:]}}


def projected_files(variant: str) -> dict[str, tuple[str, str]]:
    """Path under /etc/rlhf -> (source object name, key) of the predictor's projected config volume."""
    volumes = {v["name"]: v for v in predictor(variant)["volumes"]}
    out = {}
    for source in volumes["config"]["projected"]["sources"]:
        if "configMap" in source:
            out["config.yaml"] = (source["configMap"]["name"], "config.yaml")
        else:
            for item in source["secret"]["items"]:
                out[item["path"]] = (source["secret"]["name"], item["key"])
    return out


# ---- off by default ---------------------------------------------------------------------------

def test_off_by_default_the_reward_scoring_deployment_serves():
    objects = chartlib.render("default")
    assert not find(objects, "InferenceService")
    assert one(objects, "Deployment", "rlhf-reward-scoring") and one(objects, "Service", "rlhf-reward-scoring")
    assert one(objects, "NetworkPolicy", "rlhf-reward-scoring")
    assert not find(objects, "Service", "rlhf-reward-metrics")
    assert "reward_serving" not in raw_config("default")
    for owner, _, spec in pod_templates(objects):
        for c in spec["containers"] + spec.get("initContainers", []):
            assert "RLHF_REWARD_TOKEN_FILE" not in env_of(c), owner
    assert "InferenceService" not in chartlib.notes("default")


# ---- the InferenceService replaces the Deployment ---------------------------------------------

@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_inference_service_replaces_the_reward_scoring_deployment(variant):
    objects = chartlib.render(variant)
    for kind in ("Deployment", "Service", "NetworkPolicy"):
        assert not find(objects, kind, "rlhf-reward-scoring"), kind
    for name in ("rlhf-policy-inference", "rlhf-reference-kl", "rlhf-data-store"):
        assert one(objects, "Deployment", name) and one(objects, "Service", name)
    (obj,) = find(objects, "InferenceService")
    assert obj["apiVersion"] == "serving.kserve.io/v1beta1" and obj["metadata"]["name"] == ISVC
    assert obj["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == values(variant)["deploymentMode"]


@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_inference_service_fits_kserves_model(variant):
    obj = isvc(variant)
    assert chartlib.unknown_fields(chartlib.strip(obj), "V1beta1InferenceService") == []
    typed = chartlib.deserialize(obj)
    assert type(typed).__module__.startswith("kserve.")
    p = typed.spec.predictor
    assert (p.min_replicas, p.max_replicas) == (values(variant)["minReplicas"], values(variant)["maxReplicas"])
    assert [c.name for c in p.containers] == ["kserve-container"]
    assert p.containers[0].ports[-1].name == "h2c"


def test_model_check_catches_a_misplaced_kserve_field():
    """A typo'd predictor field is reported by the check the tests above rely on."""
    obj = copy.deepcopy(chartlib.strip(isvc("kserve")))
    obj["spec"]["predictor"]["minReplica"] = obj["spec"]["predictor"].pop("minReplicas")
    assert chartlib.unknown_fields(obj, "V1beta1InferenceService") == [
        "spec.predictor.minReplica: unknown field of V1beta1PredictorSpec"]


# ---- the predictor ----------------------------------------------------------------------------

@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_predictor_runs_rlhf_serve_reward_kserve_on_the_oip_ports(variant):
    c, v = server(variant), values(variant)
    assert c["command"] == ["rlhf", "serve", "reward-kserve"]
    assert c["args"] == ["--config", "/etc/rlhf/config.yaml", *v["extraArgs"]]
    ports = [(p["name"], p["containerPort"], p["protocol"]) for p in c["ports"]]
    if is_standard(variant):
        assert ports == [("http1", 8080, "TCP"), ("h2c", 8081, "TCP")]
    else:  # Knative: one port, gRPC
        assert ports == [("h2c", 8081, "TCP")]
    rs = raw_config(variant)["reward_serving"]
    assert (rs["http_port"], rs["grpc_port"]) == (8080, 8081)
    assert rs["model_name"] == v["modelName"]


@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_predictor_probes_use_the_oip_health_endpoints(variant):
    c, v = server(variant), values(variant)
    if is_standard(variant):
        tls = bool(v["tls"]["existingSecret"])
        for probe, path in (("startupProbe", "/v2/health/ready"), ("readinessProbe", "/v2/health/ready"),
                            ("livenessProbe", "/v2/health/live")):
            get = c[probe]["httpGet"]
            assert (get["path"], get["port"], get["scheme"]) == (path, 8080, "HTTPS" if tls else "HTTP"), probe
        startup = c["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= v["startupSeconds"]
    else:
        # Knative's queue-proxy runs readiness probes: no gRPC probes, and only the declared port
        assert c["readinessProbe"]["tcpSocket"]["port"] == 8081 and "startupProbe" not in c
        assert c["livenessProbe"]["initialDelaySeconds"] >= v["startupSeconds"]


@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_predictor_mounts_config_and_secrets_where_the_config_says(variant):
    c, v, p = server(variant), values(variant), predictor(variant)
    rs = raw_config(variant)["reward_serving"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/etc/rlhf"]["name"] == "config" and mounts["/etc/rlhf"]["readOnly"] is True
    files = projected_files(variant)
    assert files["config.yaml"] == ("rlhf-config", "config.yaml")
    auth, tls = v["auth"]["existingSecret"], v["tls"]["existingSecret"]
    if auth:
        assert rs["tokens_file"] == "/etc/rlhf/reward-auth/tokens"
        assert files["reward-auth/tokens"] == (auth, "tokens")
    else:
        assert rs["tokens_file"] == "" and not any(f.startswith("reward-auth/") for f in files)
    if tls:
        assert (rs["tls_cert_file"], rs["tls_key_file"]) == ("/etc/rlhf/reward-tls/tls.crt", "/etc/rlhf/reward-tls/tls.key")
        assert files["reward-tls/tls.crt"] == (tls, "tls.crt") and files["reward-tls/tls.key"] == (tls, "tls.key")
    else:
        assert rs["tls_cert_file"] == rs["tls_key_file"] == "" and not any(f.startswith("reward-tls/") for f in files)
    # every secret file is readable by the pod's group (fsGroup), by no one else
    volume = next(vol for vol in p["volumes"] if vol["name"] == "config")
    assert volume["projected"]["defaultMode"] == 0o440
    assert p["securityContext"]["fsGroup"] == chartlib.chart().values["podSecurityContext"]["fsGroup"]


@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_model_comes_from_the_workspace_or_the_store_repository(variant):
    c, v, p = server(variant), values(variant), predictor(variant)
    rs = raw_config(variant)["reward_serving"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {vol["name"]: vol for vol in p["volumes"]}
    assert rs["repository"] == v["repository"]
    if v["repository"]:
        assert rs["model"] == "" and "workspace" not in mounts and "workspace" not in volumes
        assert "initContainers" not in p
        assert c["workingDir"] == "/tmp"
    else:
        model = v["model"] or chartlib.effective_values(variant)["services"]["rewardScoring"]["model"]
        assert rs["model"] == model
        assert mounts["workspace"]["readOnly"] is True and volumes["workspace"]["persistentVolumeClaim"]["readOnly"] is True
        assert volumes["workspace"]["persistentVolumeClaim"]["claimName"] == "rlhf-workspace"
        assert model.startswith(mounts["workspace"]["mountPath"] + "/")
        (init,) = p["initContainers"]
        assert init["command"][-2:] == ["--model", model]
        assert all(m.get("readOnly") for m in init["volumeMounts"] if m["name"] == "workspace")
    # the store (for versions) is reachable either way
    env = env_of(c)
    store = raw_config(variant)["store"]
    assert env["RLHF_S3_ENDPOINT"]["value"] == f"{'https' if store['secure'] else 'http'}://{store['endpoint']}"
    assert env["RLHF_CACHE"]["value"].startswith("/tmp/")  # the workspace is read-only here


@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_gpu_resources_and_scheduling_follow_the_chart_switches(variant):
    all_values = chartlib.effective_values(variant)
    v, p = values(variant), predictor(variant)
    limits = server(variant)["resources"].get("limits", {})
    tolerations = [t.get("key") for t in p.get("tolerations", [])]
    if all_values["gpu"]["enabled"] and v["gpus"]:
        assert limits["nvidia.com/gpu"] == str(v["gpus"]) and "nvidia.com/gpu" in tolerations
    else:
        assert "nvidia.com/gpu" not in limits and "nvidia.com/gpu" not in tolerations
    assert p.get("nodeSelector", {}) == v["nodeSelector"]
    assert p["serviceAccountName"] == "rlhf" and p["automountServiceAccountToken"] is False
    assert p["securityContext"] == all_values["podSecurityContext"]
    assert server(variant)["securityContext"] == all_values["securityContext"]


def test_batching_rate_limit_and_reload_pass_through_to_reward_serving():
    rs = raw_config("kserve")["reward_serving"]
    assert (rs["max_batch_size"], rs["batch_wait_ms"], rs["max_queue"]) == (64, 2.5, 512)
    assert (rs["rate_limit_per_second"], rs["rate_limit_burst"], rs["reload_interval_s"]) == (20, 40, 30)
    # unset (null) values leave the server's defaults alone
    assert "max_batch_tokens" not in rs
    assert not {"max_batch_size", "rate_limit_per_second", "reload_interval_s"} & set(raw_config("kserve_knative")["reward_serving"])
    # the chart's keys win over config.reward_serving; the others pass through
    objects = chartlib.render_values({"reward": {"kserve": {"enabled": True, "auth": {"allowUnauthenticated": True}}},
                                      "config": {"reward_serving": {"grpc_port": 1, "torch_threads": 4}}})
    rs = yaml.safe_load(one(objects, "ConfigMap", "rlhf-config")["data"]["config.yaml"])["reward_serving"]
    assert rs["grpc_port"] == 8081 and rs["torch_threads"] == 4


@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_config_loads_with_the_reward_serving_dataclass(variant, tmp_path):
    """The rendered reward_serving section loads with rlhf.config's strict loader and names the
    fields the server reads."""
    from rlhf import config as rlhf_config

    path = tmp_path / "config.yaml"
    path.write_text(one(chartlib.render(variant), "ConfigMap", "rlhf-config")["data"]["config.yaml"])
    config = rlhf_config.load_config(path)
    assert (config.reward_serving.http_port, config.reward_serving.grpc_port) == (8080, 8081)
    assert config.reward_serving.model_name == values(variant)["modelName"]


# ---- the release's callers --------------------------------------------------------------------

def callers(objects) -> dict[str, dict]:
    """owner -> pod spec of the PPO trainer pods and the eval Job (the reward model's callers)."""
    return {owner: spec for owner, _, spec in pod_templates(objects)
            if owner.startswith("PyTorchJob/rlhf-ppo/") or owner == "Job/rlhf-eval"}


def health_waits(command: list[str]) -> tuple[list[str], list[str], str | None]:
    """(--grpc targets, --grpc-tls targets, --tls-ca) of a wait_for.py command line."""
    def after(flag):
        return [command[i + 1] for i, w in enumerate(command[:-1]) if w == flag]
    ca = after("--tls-ca")
    assert len(ca) <= 1
    return after("--grpc"), after("--grpc-tls"), (ca[0] if ca else None)


def mounted_file(spec: dict, container: dict, path: str) -> tuple[str, str]:
    """(Secret name, key) behind the file `path` in `container` of pod `spec` (a Secret volume)."""
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    assert mount["readOnly"] is True
    secret = next(v for v in spec["volumes"] if v["name"] == mount["name"])["secret"]
    (item,) = secret["items"]  # one key per volume: nothing else of the Secret is visible
    assert path == f"{mount['mountPath']}/{item['path']}"
    return secret["secretName"], item["key"]


@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_trainer_eval_init_and_helm_test_address_the_inference_service(variant):
    objects = chartlib.render(variant)
    port = 8081 if is_standard(variant) else 80
    address = f"{HOST}:{port}"
    tls = bool(values(variant)["tls"]["existingSecret"])
    # the address is a port of KServe's predictor Service that leads to the gRPC container port
    assert kserve_service_ports(variant)[port] == 8081
    if is_standard(variant):  # and REST is Service port 80 -> http1
        assert kserve_service_ports(variant)[80] == 8080
    rs_config = raw_config(variant)["services"]["reward_scoring"]
    assert f"{rs_config['host']}:{rs_config['port']}" == address
    found = callers(objects)
    assert any(o.startswith("PyTorchJob/rlhf-ppo/") for o in found) and "Job/rlhf-eval" in found
    waiters = {owner: (spec, spec["initContainers"][0]) for owner, spec in found.items()}
    test_pod = one(objects, "Pod", "rlhf-test-health")
    waiters["Pod/rlhf-test-health"] = (test_pod["spec"], test_pod["spec"]["containers"][0])
    for owner, spec in found.items():
        assert env_of(spec["containers"][0])["RLHF_REWARD_SCORING_ADDR"]["value"] == address, owner
    for owner, (spec, waiter) in waiters.items():
        plain, secure, ca = health_waits(waiter["command"])
        assert not any("rlhf-reward-scoring" in t for t in plain + secure), owner
        assert len(plain + secure) == len(set(plain + secure)), owner
        if tls:  # health over TLS, trusting only the CA key of the TLS Secret
            assert secure == [address] and address not in plain, owner
            assert mounted_file(spec, waiter, ca) == (values(variant)["tls"]["existingSecret"], values(variant)["tls"]["caKey"])
        else:
            assert address in plain and secure == [] and ca is None, owner
        assert not any(m["name"] == "reward-token" for m in waiter["volumeMounts"]), owner  # no token needed


@pytest.mark.parametrize("variant", KSERVE_VARIANTS)
def test_callers_send_their_token_and_trust_the_ca(variant):
    objects = chartlib.render(variant)
    v = values(variant)
    auth, tls = v["auth"], v["tls"]
    for owner, spec in callers(objects).items():
        main = spec["containers"][0]
        env = env_of(main)
        if auth["existingSecret"]:
            expected = (auth["clientSecret"], "token") if auth["clientSecret"] else (auth["existingSecret"], "tokens")
            assert mounted_file(spec, main, env["RLHF_REWARD_TOKEN_FILE"]["value"]) == expected, owner
        else:
            assert "RLHF_REWARD_TOKEN_FILE" not in env and "reward-token" not in {x["name"] for x in spec["volumes"]}, owner
        if tls["existingSecret"]:
            assert mounted_file(spec, main, env["RLHF_REWARD_CA_FILE"]["value"]) == (tls["existingSecret"], tls["caKey"])
        else:
            assert "RLHF_REWARD_CA_FILE" not in env and "reward-ca" not in {x["name"] for x in spec["volumes"]}, owner
        for init in spec["initContainers"]:
            assert "RLHF_REWARD_TOKEN_FILE" not in env_of(init), owner
    # the stages that do not call the reward model get neither (sft and rm are PyTorchJobs)
    others = [(owner, pod) for owner, _, pod in pod_templates(objects)
              if owner.split("/")[1] in ("rlhf-data", "rlhf-sft", "rlhf-label", "rlhf-rm")]
    assert {owner.split("/")[1] for owner, _ in others} == {"rlhf-data", "rlhf-sft", "rlhf-label", "rlhf-rm"}
    for owner, pod in others:
        assert not {"RLHF_REWARD_TOKEN_FILE", "RLHF_REWARD_CA_FILE"} & set(env_of(pod["containers"][0])), owner
        assert not {"reward-token", "reward-ca"} & {x["name"] for x in pod["volumes"]}, owner


def test_inference_service_name_and_predictor_names_fit_for_long_release_names():
    release = "a-very-long-release-name-for-testing-dns-label-limits"
    manifests = chartlib.chart().render({"reward": {"kserve": {"enabled": True, "deploymentMode": "Knative",
                                                               "auth": {"allowUnauthenticated": True}}}},
                                        name=release, namespace="ns")
    objects = chartlib._objects(tuple(sorted(manifests.items())))
    (obj,) = find(objects, "InferenceService")
    # KServe's Service NAME-predictor and Knative's revision NAME-predictor-00001 are DNS labels
    assert len(obj["metadata"]["name"] + "-predictor-00001") <= 63


# ---- NetworkPolicy ----------------------------------------------------------------------------

def reward_pod_labels(variant: str) -> dict:
    return predictor(variant)["labels"]


@pytest.mark.parametrize("variant", ["kserve", "example_reward_kserve"])
def test_every_namespace_may_call_the_inference_service_by_default(variant):
    objects = chartlib.render(variant)
    policies = find(objects, "NetworkPolicy")
    labels = reward_pod_labels(variant)
    anyone = {"app": "team-notebook"}
    for port in (8080, 8081):
        assert admitted(policies, anyone, "team-x", labels, port)
        assert admitted(policies, anyone, NAMESPACE, labels, port)
    assert not admitted(policies, anyone, "team-x", labels, 9000)  # only the two serving ports
    # the other services still refuse other namespaces
    srv = one(objects, "Deployment", "rlhf-reference-kl")["spec"]["template"]["metadata"]["labels"]
    assert not admitted(policies, anyone, "team-x", srv, 50053)


def test_allow_list_admits_the_listed_namespaces_peers_and_the_release_only():
    objects = chartlib.render("kserve_tls")  # rewardScoringNamespaces [team-a] + a `from` peer
    policies = find(objects, "NetworkPolicy")
    labels = reward_pod_labels("kserve_tls")
    for port in (8080, 8081):
        assert admitted(policies, {"app": "x"}, "team-a", labels, port)
        assert not admitted(policies, {"app": "x"}, "team-c", labels, port)
        assert not admitted(policies, {"app": "x"}, NAMESPACE, labels, port)
    # the peer from values: namespaces labelled team=b, pods labelled app=scorer (both must match)
    peer = next(p for p in find(objects, "NetworkPolicy", "rlhf-reward-kserve")[0]["spec"]["ingress"][0]["from"]
                if "namespaceSelector" in p and "podSelector" in p)
    assert peer == {"namespaceSelector": {"matchLabels": {"team": "b"}}, "podSelector": {"matchLabels": {"app": "scorer"}}}
    # the release's callers; the monitoring namespace on the metrics (= REST) port only
    test_labels = one(objects, "Pod", "rlhf-test-health")["metadata"]["labels"]
    assert admitted(policies, test_labels, NAMESPACE, labels, 8081)
    label_stage = one(objects, "Job", "rlhf-label")["spec"]["template"]["metadata"]["labels"]
    assert not admitted(policies, label_stage, NAMESPACE, labels, 8081)
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    assert admitted(policies, prometheus, "monitoring", labels, 8080)
    assert not admitted(policies, prometheus, "monitoring", labels, 8081)


def test_release_callers_are_admitted_and_minio_serves_the_predictor():
    objects = chartlib.render("kserve")
    policies = find(objects, "NetworkPolicy")
    labels = reward_pod_labels("kserve")
    trainer = one(objects, "PyTorchJob", "rlhf-ppo")["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]["labels"]
    evaluation = one(objects, "Job", "rlhf-eval")["spec"]["template"]["metadata"]["labels"]
    for caller in (trainer, evaluation):
        assert admitted(policies, caller, NAMESPACE, labels, 8081)
    minio = one(objects, "StatefulSet", "rlhf-minio")["spec"]["template"]["metadata"]["labels"]
    assert admitted(policies, labels, NAMESPACE, minio, 9000)  # model versions live in the store


def test_knative_mode_renders_no_policy_for_the_predictor():
    """Knative's activator and gateway forward the calls: a policy on the callers would drop them."""
    objects = chartlib.render("kserve_knative")
    assert not find(objects, "NetworkPolicy", "rlhf-reward-kserve")
    assert admitted(find(objects, "NetworkPolicy"), {"app": "activator"}, "knative-serving", reward_pod_labels("kserve_knative"), 8081)


# ---- metrics, visibility, NOTES ---------------------------------------------------------------

def test_service_monitor_scrapes_the_predictor_metrics():
    objects = chartlib.render("kserve")
    (monitor,) = find(objects, "ServiceMonitor")
    service = one(objects, "Service", "rlhf-reward-metrics")
    assert chartlib.labels_match(monitor["spec"]["selector"], service["metadata"]["labels"])
    (port,) = service["spec"]["ports"]
    assert port["name"] == "metrics" and port["targetPort"] == "http1"
    assert chartlib.labels_match(service["spec"]["selector"], reward_pod_labels("kserve"))
    assert predictor("kserve")["annotations"]["prometheus.io/port"] == str(port["port"]) == "8080"
    # with TLS /metrics is HTTPS: no plain-HTTP scraping is set up
    assert not find(chartlib.render("kserve_tls"), "Service", "rlhf-reward-metrics")
    assert "prometheus.io/scrape" not in predictor("kserve_tls")["annotations"]


def test_predictor_pods_roll_when_the_config_changes():
    before = predictor("kserve")["annotations"]["checksum/config"]
    changed = chartlib.render_values({**chartlib.values_of("kserve"), "config": {"ppo": {"steps": 3}}})
    after = one(changed, "InferenceService", ISVC)["spec"]["predictor"]["annotations"]["checksum/config"]
    assert before != after


def test_cluster_local_by_default():
    labels = isvc("kserve")["metadata"]["labels"]
    assert labels["networking.kserve.io/visibility"] == labels["networking.knative.dev/visibility"] == "cluster-local"
    assert "networking.kserve.io/visibility" not in isvc("kserve_tls")["metadata"]["labels"]  # clusterLocal: false


def test_notes_give_callers_the_addresses():
    text = chartlib.notes("kserve")
    assert f"{HOST}:8081" in text and f"http://{HOST}/v2/models/reward/infer" in text
    assert "rlhf-reward-scoring." not in text and "WARNING" not in text
    knative = chartlib.notes("kserve_knative")
    assert f"{HOST}:80" in knative and "not routed" in knative
    assert "allowUnauthenticated=true" in knative  # serving without tokens is called out
    assert f"https://{HOST}/" in chartlib.notes("kserve_tls")


# ---- values that cannot be rendered -----------------------------------------------------------

def test_fewer_max_than_min_replicas_fail_rendering_with_the_reason():
    import helm_python

    kserve = {"enabled": True, "auth": {"existingSecret": "t"}, "minReplicas": 3, "maxReplicas": 2}
    with pytest.raises(helm_python.HelmRenderError) as info:
        chartlib.render_values({"reward": {"kserve": kserve}})
    assert "reward.kserve.maxReplicas (2) must be >= reward.kserve.minReplicas (3)" in str(info.value)


def test_a_release_name_kserve_refuses_is_reported():
    import helm_python

    with pytest.raises(helm_python.HelmRenderError) as info:
        chartlib.chart().render({"reward": {"kserve": {"enabled": True, "auth": {"allowUnauthenticated": True}}}},
                                name="1st", namespace="ns")
    assert "must start with a letter" in str(info.value)


def test_startup_failure_threshold_rounds_up():
    objects = chartlib.render_values({"reward": {"kserve": {"enabled": True, "auth": {"allowUnauthenticated": True},
                                                            "startupSeconds": 95}}})
    probe = one(objects, "InferenceService", ISVC)["spec"]["predictor"]["containers"][0]["startupProbe"]
    assert probe["failureThreshold"] == math.ceil(95 / 10)
