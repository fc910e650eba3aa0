"""Cross-object checks on the rendered chart: selectors, ports, probes, drain timing, the CLI each
pod runs, the trainer's service addresses, the config file, and every reference between objects."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import pytest
import yaml

import chartlib
from chartlib import NAMESPACE, find, one, pod_templates, labels_match

SERVICES = {  # process name -> (values key, config section, env var of its address)
    "policy-inference": ("policyInference", "policy_inference", "RLHF_POLICY_INFERENCE_ADDR"),
    "reward-scoring": ("rewardScoring", "reward_scoring", "RLHF_REWARD_SCORING_ADDR"),
    "reference-kl": ("referenceKl", "reference_kl", "RLHF_REFERENCE_KL_ADDR"),
    "data-store": ("dataStore", "data_store", "RLHF_DATA_STORE_ADDR"),
}
MODEL_SERVICES = ("policy-inference", "reward-scoring", "reference-kl")
ALL = list(chartlib.VARIANTS) + list(chartlib.EXAMPLES)


def container(pod_spec: dict, name: str | None = None) -> dict:
    containers = pod_spec["containers"]
    return containers[0] if name is None else next(c for c in containers if c["name"] == name)


def env_of(c: dict) -> dict[str, dict]:
    return {e["name"]: e for e in c.get("env", [])}


def flag(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


effective_values = chartlib.effective_values


def deployed_services(variant: str) -> dict[str, tuple[str, str, str]]:
    """SERVICES that run as Deployments: reward-scoring is an InferenceService with reward.kserve."""
    return {name: v for name, v in SERVICES.items() if not (name == "reward-scoring" and chartlib.kserve_on(variant))}


def rendered_config(objects, tmp_path: Path):
    """config.yaml of the rendered ConfigMap, loaded by the project's own strict loader, and raw."""
    from rlhf.config import load_config

    text = one(objects, "ConfigMap", "rlhf-config")["data"]["config.yaml"]
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path), yaml.safe_load(text)


# ---- selectors and ports ----------------------------------------------------------------------

@pytest.mark.parametrize("variant", ALL)
def test_workload_selectors_match_their_own_pods(variant):
    for obj in chartlib.render(variant):
        if obj["kind"] in ("Deployment", "StatefulSet"):
            selector = obj["spec"]["selector"]
            assert labels_match(selector, obj["spec"]["template"]["metadata"]["labels"]), obj["metadata"]["name"]


@pytest.mark.parametrize("variant", ALL)
def test_each_service_selects_exactly_its_workload_and_its_ports_exist(variant):
    objects = chartlib.render(variant)
    pods = list(pod_templates(objects))
    for service in find(objects, "Service"):
        name = service["metadata"]["name"]
        selected = [(owner, meta, spec) for owner, meta, spec in pods
                    if labels_match(service["spec"]["selector"], meta.get("labels", {}))]
        owners = {owner.split("/")[0] + "/" + owner.split("/")[1] for owner, _, _ in selected}
        assert len(owners) == 1, f"Service {name} selects {sorted(owners) or 'nothing'}"
        for _, _, spec in selected:
            ports = {p["name"]: p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
            for port in service["spec"]["ports"]:
                target = port["targetPort"]
                assert target in ports, f"Service {name} port {port['name']}: no container port {target!r}"
                assert ports[target] == port["port"], f"Service {name}: {port['port']} != container {ports[target]}"


@pytest.mark.parametrize("variant", ALL)
def test_service_pods_run_rlhf_serve_with_matching_ports_probes_and_drain(variant, tmp_path):
    objects = chartlib.render(variant)
    values = effective_values(variant)
    config, _ = rendered_config(objects, tmp_path)
    for name, (key, section, _) in deployed_services(variant).items():
        v = values["services"][key]
        deployment = one(objects, "Deployment", f"rlhf-{name}")
        assert deployment["spec"]["replicas"] == v["replicas"]
        pod = deployment["spec"]["template"]
        c = container(pod["spec"], name)
        args = c["command"] + c["args"]
        assert args[:3] == ["rlhf", "serve", name]
        assert flag(args, "--config") == "/etc/rlhf/config.yaml"
        assert flag(args, "--host") == "0.0.0.0"
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert int(flag(args, "--port")) == ports["grpc"] == v["port"] == getattr(config.services, section).port
        assert int(flag(args, "--metrics-port")) == ports["metrics"] == int(pod["metadata"]["annotations"]["prometheus.io/port"])
        # native gRPC probes on the health service, on the port the server listens on
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["grpc"]["port"] == ports["grpc"], f"{name} {probe}"
        assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= v["startupSeconds"]
        # drain: the kubelet waits preStop + grace + margin before SIGKILL
        grace = float(flag(args, "--grace-seconds"))
        assert grace == v["graceSeconds"] == getattr(config.services, section).grace_seconds
        sleep = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
        assert sleep == values["drain"]["preStopSleepSeconds"]
        termination = pod["spec"]["terminationGracePeriodSeconds"]
        assert termination == sleep + math.ceil(grace) + values["drain"]["marginSeconds"]
        assert termination > sleep + grace
        if name in MODEL_SERVICES:
            assert flag(args, "--model") == v["model"] == getattr(config.services, section).model
        else:
            assert flag(args, "--store") == config.store.uri == f"s3://{values['store']['bucket']}"


def test_grace_seconds_change_moves_termination_grace_period():
    objects = chartlib.render_values({"services": {"rewardScoring": {"graceSeconds": 100.5}},
                                      "drain": {"preStopSleepSeconds": 3, "marginSeconds": 7}})
    pod = one(objects, "Deployment", "rlhf-reward-scoring")["spec"]["template"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == 3 + 101 + 7
    assert flag(container(pod["spec"])["args"], "--grace-seconds") == "100.5"


# ---- GPUs and scheduling ----------------------------------------------------------------------

def gpu_limits(objects) -> dict[str, str]:
    out = {}
    for owner, _, spec in pod_templates(objects):
        for c in spec["containers"] + spec.get("initContainers", []):
            limit = (c.get("resources") or {}).get("limits", {}).get("nvidia.com/gpu")
            if limit is not None:
                out[f"{owner}/{c['name']}"] = limit
    return out


def test_gpus_by_default_on_model_services_trainer_and_training_stages():
    objects = chartlib.render("default")
    assert gpu_limits(objects) == {
        "Deployment/rlhf-policy-inference/policy-inference": "1",
        "Deployment/rlhf-reward-scoring/reward-scoring": "1",
        "Deployment/rlhf-reference-kl/reference-kl": "1",
        "PyTorchJob/rlhf-ppo/Master/pytorch": "1",
        "PyTorchJob/rlhf-ppo/Worker/pytorch": "1",
        "PyTorchJob/rlhf-sft/Master/pytorch": "1",
        "PyTorchJob/rlhf-rm/Master/pytorch": "1",
        "Job/rlhf-eval/eval": "1",
    }
    deployment = one(objects, "Deployment", "rlhf-policy-inference")
    tolerations = deployment["spec"]["template"]["spec"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    data_store = one(objects, "Deployment", "rlhf-data-store")["spec"]["template"]["spec"]
    assert "tolerations" not in data_store, "CPU pods must not tolerate the GPU taint"


def test_gpu_off_drops_every_gpu_request_and_toleration():
    objects = chartlib.render("gpu_off")
    assert gpu_limits(objects) == {}
    for owner, _, spec in pod_templates(objects):
        assert not any(t.get("key") == "nvidia.com/gpu" for t in spec.get("tolerations", [])), owner


def test_per_service_scheduling_values_reach_their_pods_only():
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a100"]}]}]}}}
    objects = chartlib.render_values({"services": {"rewardScoring": {
        "nodeSelector": {"pool": "a100"}, "affinity": affinity,
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "rm", "effect": "NoSchedule"}],
        "gpus": 2}}})
    spec = one(objects, "Deployment", "rlhf-reward-scoring")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"pool": "a100"} and spec["affinity"] == affinity
    assert [t["key"] for t in spec["tolerations"]] == ["dedicated", "nvidia.com/gpu"]
    assert container(spec)["resources"]["limits"]["nvidia.com/gpu"] == "2"
    other = one(objects, "Deployment", "rlhf-policy-inference")["spec"]["template"]["spec"]
    assert "nodeSelector" not in other and "affinity" not in other


# ---- trainer ----------------------------------------------------------------------------------

TRAINERS = {"sft": ("stages", "sft"), "rm": ("stages", "rm"), "ppo": ("trainer",)}  # job -> its values


def trainer_values(variant: str, key: str) -> dict:
    values = effective_values(variant)
    for part in TRAINERS[key]:
        values = values[part]
    return values


@pytest.mark.parametrize("key", TRAINERS)
@pytest.mark.parametrize("variant", ["default", "workers4", "external_s3", "example_gpu", "example_cpu_tiny"])
def test_trainers_are_pytorchjobs_running_torchrun_rlhf_train(variant, key):
    objects = chartlib.render(variant)
    values = trainer_values(variant, key)
    job = one(objects, "PyTorchJob", f"rlhf-{key}")
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1
    assert replicas.get("Worker", {}).get("replicas", 0) == values["workers"]
    assert job["spec"]["nprocPerNode"] == str(values["nprocPerNode"])
    for replica, spec in replicas.items():
        pod = spec["template"]["spec"]
        c = container(pod, "pytorch")  # the operator's default container name
        assert c["command"] == ["/bin/sh", "-c"]
        words = shlex.split(c["args"][0].replace(";", " ; "))
        assert words[:4] == ["set", "-eu", ";", "exec"] and words[4] == "torchrun"
        opts = dict(w.split("=", 1) for w in words if w.startswith("--") and "=" in w)
        assert opts["--nnodes"] == str(values["workers"] + 1)
        assert opts["--nproc-per-node"] == str(values["nprocPerNode"])
        # rank and rendezvous come from the operator's env at run time
        assert (opts["--node-rank"], opts["--master-addr"], opts["--master-port"]) == ("$RANK", "$MASTER_ADDR", "$MASTER_PORT")
        tail = words[words.index("--no-python") + 1:]
        assert tail[:5] == ["rlhf", "train", key, "--config", "/etc/rlhf/config.yaml"]
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        assert mounts["config"] == "/etc/rlhf"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["config"]["configMap"]["name"] == "rlhf-config"
        assert volumes["dshm"]["emptyDir"]["medium"] == "Memory" and mounts["dshm"] == "/dev/shm"
        port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert port_names["pytorchjob-port"] == values["masterPort"]
        if replica == "Master" and key == "ppo":
            assert port_names["metrics"] == values["metricsPort"]
        else:
            assert "metrics" not in port_names
        gpus = (c["resources"].get("limits") or {}).get("nvidia.com/gpu")
        expected = str(values["gpus"]) if values["gpus"] and effective_values(variant)["gpu"]["enabled"] else None
        assert gpus == expected


@pytest.mark.parametrize("variant", ["default", "workers4", "external_s3", "example_gpu"])
def test_trainer_env_names_the_real_service_dns_names_and_ports(variant):
    objects = chartlib.render(variant)
    services = {s["metadata"]["name"]: s for s in find(objects, "Service")}
    job = one(objects, "PyTorchJob", "rlhf-ppo")
    deployments = {d["metadata"]["name"]: d for d in find(objects, "Deployment")}
    for spec in job["spec"]["pytorchReplicaSpecs"].values():
        env = env_of(container(spec["template"]["spec"], "pytorch"))
        for name, (_, _, var) in SERVICES.items():
            host, port = env[var]["value"].rsplit(":", 1)
            service_name, ns, svc, domain = host.split(".", 3)
            assert (ns, svc, domain) == (NAMESPACE, "svc", "cluster.local")
            service = services[service_name]
            grpc = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
            assert int(port) == grpc["port"]
            # ...and that Service's selector reaches the right server
            target = deployments[f"rlhf-{name}"]["spec"]["template"]["metadata"]["labels"]
            assert labels_match(service["spec"]["selector"], target)
        # the init container waits for exactly these four addresses
        (init,) = spec["template"]["spec"]["initContainers"]
        waited = [init["command"][i + 1] for i, w in enumerate(init["command"]) if w == "--grpc"]
        assert sorted(waited) == sorted(env[var]["value"] for _, _, var in SERVICES.values())


@pytest.mark.parametrize("variant", ALL)
def test_the_gpus_a_training_pod_requests_are_the_processes_that_train(variant):
    if not effective_values(variant)["gpu"]["enabled"]:
        return
    for key in TRAINERS:
        values = trainer_values(variant, key)
        if not values["enabled"] or not values.get("gpus"):
            continue
        job = one(chartlib.render(variant), "PyTorchJob", f"rlhf-{key}")
        for spec in job["spec"]["pytorchReplicaSpecs"].values():
            c = container(spec["template"]["spec"], "pytorch")
            assert c["resources"]["limits"]["nvidia.com/gpu"] == job["spec"]["nprocPerNode"], (variant, key)
            assert f"--nproc-per-node={job['spec']['nprocPerNode']}" in c["args"][0]


def test_trainer_metrics_service_selects_rank_zero_only():
    objects = chartlib.render("workers4")
    service = one(objects, "Service", "rlhf-trainer-metrics")
    job = one(objects, "PyTorchJob", "rlhf-ppo")
    master = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]["labels"]
    worker = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["metadata"]["labels"]
    assert labels_match(service["spec"]["selector"], master)
    assert not labels_match(service["spec"]["selector"], worker)


def test_trainer_disabled_renders_no_job():
    objects = chartlib.render("stages_off")
    assert not find(objects, "PyTorchJob") and not find(objects, "Job")
    assert not find(objects, "Service", "rlhf-trainer-metrics")


# ---- stages -----------------------------------------------------------------------------------

STAGE_COMMANDS = {
    "data": ["rlhf", "data", "import", "demonstrations=demo", "general/heldout=demo", "general/train=demo",
             "prompts/heldout=demo", "prompts/train=demo"],
    "sft": ["rlhf", "train", "sft"],
    "label": ["rlhf", "label"],
    "rm": ["rlhf", "train", "rm"],
    "eval": ["rlhf", "eval"],
}


def stage_pod(objects, key: str) -> tuple[dict, dict]:
    """(pod spec, main container) of a stage: the Job's, or the Master's of a trainer PyTorchJob."""
    if key in TRAINERS:
        spec = one(objects, "PyTorchJob", f"rlhf-{key}")["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
        return spec, container(spec, "pytorch")
    spec = one(objects, "Job", f"rlhf-{key}")["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    return spec, container(spec, key)


def stage_command(c: dict) -> list[str]:
    """The CLI a stage's container runs (after `torchrun ... --no-python` for a trainer)."""
    if c["command"] == ["/bin/sh", "-c"]:
        return shlex.split(c["args"][0].split("--no-python ", 1)[1])
    return c["command"] + c["args"]


def wait_args(pod_spec: dict) -> dict[str, list[str]]:
    (init,) = pod_spec["initContainers"]
    command = init["command"]
    assert command[:4] == ["python", "/opt/rlhf/scripts/wait_for.py", "--config", "/etc/rlhf/config.yaml"]
    out: dict[str, list[str]] = {}
    for option, value in zip(command[4::2], command[5::2]):
        out.setdefault(option, []).append(value)
    return out


def test_stage_jobs_run_the_stage_commands_in_dependency_order(tmp_path):
    objects = chartlib.render("default")
    addr = {name: f"rlhf-{name}.{NAMESPACE}.svc.cluster.local:{port}" for name, port in
            (("data-store", 50054), ("policy-inference", 50051), ("reward-scoring", 50052), ("reference-kl", 50053))}
    waits = {}
    for key, command in STAGE_COMMANDS.items():
        spec, c = stage_pod(objects, key)
        assert stage_command(c)[:len(command) + 2] == command + ["--config", "/etc/rlhf/config.yaml"]
        assert c["workingDir"] == "/workspace"
        waits[key] = wait_args(spec)
    assert waits["data"] == {"--grpc": [addr["data-store"]]}
    assert waits["sft"] == {"--grpc": [addr["data-store"]], "--record-set-from-config": ["sft.demonstrations"]}
    assert waits["label"] == {"--grpc": [addr["data-store"], addr["policy-inference"]],
                              "--record-set-from-config": ["label.prompts"]}
    assert waits["rm"] == {"--grpc": [addr["data-store"]], "--model-from-config": ["rm.init_model"],
                           "--record-set-from-config": ["rm.comparisons"]}
    assert sorted(waits["eval"]["--grpc"]) == sorted(addr.values())
    assert waits["eval"]["--model-from-config"] == ["eval.policies"]
    # what one stage waits for is what an earlier one produces
    config, _ = rendered_config(objects, tmp_path)
    assert config.rm.comparisons.startswith(config.label.output + "/")
    assert config.rm.init_model == config.sft.output_dir
    assert set(config.eval.policies.values()) == {config.ppo.output_dir}


def test_model_services_load_what_the_stages_write(tmp_path):
    """services.*.model (absolute, on the workspace) == the stage's output_dir (relative to the
    pods' workingDir, which is the workspace mount)."""
    objects = chartlib.render("default")
    config, _ = rendered_config(objects, tmp_path)
    workdir = Path(stage_pod(objects, "sft")[1]["workingDir"])
    expected = {"policy-inference": config.sft.output_dir, "reference-kl": config.sft.output_dir,
                "reward-scoring": config.rm.output_dir}
    for name, output_dir in expected.items():
        spec = one(objects, "Deployment", f"rlhf-{name}")["spec"]["template"]["spec"]
        model = flag(container(spec)["args"], "--model")
        assert Path(model) == workdir / output_dir
        assert wait_args(spec) == {"--model": [model]}
        assert container(spec)["workingDir"] == str(workdir)


# ---- config and store -------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ALL)
def test_configmap_parses_with_the_rlhf_config_loader(variant, tmp_path):
    objects = chartlib.render(variant)
    values = effective_values(variant)
    config, raw = rendered_config(objects, tmp_path)
    assert config.store.uri == f"s3://{values['store']['bucket']}"
    assert config.ppo.metrics_port == values["trainer"]["metricsPort"]
    for name, (key, section, _) in SERVICES.items():
        host = f"rlhf-{name}.{NAMESPACE}.svc.cluster.local"
        if name not in deployed_services(variant):
            host = f"rlhf-reward-predictor.{NAMESPACE}.svc.cluster.local"  # the InferenceService
        assert getattr(config.services, section).host == host
    # values.config passes through: every key given there is in the file
    for section, fields in (values.get("config") or {}).items():
        for field, value in fields.items():
            if section != "services":
                assert raw[section][field] == value, f"config.{section}.{field}"


def test_config_passes_user_sections_through_and_chart_owned_keys_win():
    objects = chartlib.render_values({"config": {
        "ppo": {"steps": 3, "kl_coef": 0.1},
        "services": {"policy_inference": {"port": 1, "max_queue": 7}},
        "store": {"uri": "s3://elsewhere", "access_key_env": "MY_KEY"}}})
    raw = yaml.safe_load(one(objects, "ConfigMap", "rlhf-config")["data"]["config.yaml"])
    assert raw["ppo"] == {"steps": 3, "kl_coef": 0.1, "resume": True, "metrics_port": 9090}
    assert raw["services"]["policy_inference"]["port"] == 50051  # the chart's port wins
    assert raw["services"]["policy_inference"]["max_queue"] == 7
    assert raw["store"]["uri"] == "s3://rlhf" and raw["store"]["access_key_env"] == "MY_KEY"
    # the credential variable follows config.store.access_key_env
    env = env_of(container(one(objects, "Deployment", "rlhf-data-store")["spec"]["template"]["spec"]))
    assert env["MY_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "rlhf-minio", "key": "AWS_ACCESS_KEY_ID"}
    assert "AWS_ACCESS_KEY_ID" not in env


@pytest.mark.parametrize("variant", ALL)
def test_every_rlhf_pod_gets_the_store_endpoint_and_credentials(variant, tmp_path):
    objects = chartlib.render(variant)
    config, _ = rendered_config(objects, tmp_path)
    values = effective_values(variant)
    secret = "rlhf-minio" if values["minio"]["enabled"] else values["externalS3"]["existingSecret"]
    keys = (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if values["minio"]["enabled"] else
            (values["externalS3"]["accessKeyKey"], values["externalS3"]["secretKeyKey"]))
    for owner, _, spec in pod_templates(objects):
        for c in spec["containers"] + spec.get("initContainers", []):
            # MinIO, Label Studio (third-party images, no store client) and test pods.
            if c["image"].startswith(("quay.io/minio/", "heartexlabs/label-studio")) or owner.startswith("Pod/"):
                continue
            env = env_of(c)
            scheme = "https" if config.store.secure else "http"  # connect() reads the scheme from it
            assert env["RLHF_S3_ENDPOINT"]["value"] == f"{scheme}://{config.store.endpoint}", owner
            assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": keys[0]}, owner
            assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": keys[1]}, owner


def test_minio_by_default(tmp_path):
    objects = chartlib.render("default")
    config, _ = rendered_config(objects, tmp_path)
    statefulset = one(objects, "StatefulSet", "rlhf-minio")
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    service = one(objects, "Service", "rlhf-minio")
    s3_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "s3")
    assert config.store.endpoint == f"rlhf-minio.{NAMESPACE}.svc.cluster.local:{s3_port}"
    assert config.store.secure is False
    secret = one(objects, "Secret", "rlhf-minio")
    assert set(secret["data"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    minio_env = env_of(container(statefulset["spec"]["template"]["spec"]))
    assert minio_env["MINIO_ROOT_USER"]["valueFrom"]["secretKeyRef"] == {"name": "rlhf-minio", "key": "AWS_ACCESS_KEY_ID"}
    (bucket_job,) = [j for j in find(objects, "Job") if j["metadata"]["name"].startswith("rlhf-make-bucket-")]
    c = container(bucket_job["spec"]["template"]["spec"])
    assert c["command"][:2] == ["python", "/opt/rlhf/scripts/make_bucket.py"]
    assert flag(c["command"], "--config") == "/etc/rlhf/config.yaml"


def test_fixed_minio_credentials_are_used_verbatim():
    import base64

    objects = chartlib.render_values({"minio": {"rootUser": "admin", "rootPassword": "s3cr3t-pass"}})
    data = one(objects, "Secret", "rlhf-minio")["data"]
    assert base64.b64decode(data["AWS_ACCESS_KEY_ID"]).decode() == "admin"
    assert base64.b64decode(data["AWS_SECRET_ACCESS_KEY"]).decode() == "s3cr3t-pass"


def test_external_s3_replaces_minio(tmp_path):
    objects = chartlib.render("external_s3")
    config, _ = rendered_config(objects, tmp_path)
    assert not find(objects, "StatefulSet")
    assert [o["metadata"]["name"] for o in find(objects, "Secret")] == ["rlhf-service-auth"]  # no MinIO secret
    assert not find(objects, "NetworkPolicy", "rlhf-minio")
    assert not any("minio" in o["metadata"]["name"] for o in objects)
    assert config.store.endpoint == "s3.example.com:443" and config.store.secure is True


# ---- references between objects ---------------------------------------------------------------

@pytest.mark.parametrize("variant", ALL)
def test_every_reference_resolves(variant):
    objects = chartlib.render(variant)
    values = effective_values(variant)
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    external_secrets = {values["externalS3"]["existingSecret"]} - {""}
    claim_templates = {f"StatefulSet/{o['metadata']['name']}": {t["metadata"]["name"] for t in o["spec"].get("volumeClaimTemplates", [])}
                       for o in find(objects, "StatefulSet")}
    for owner, _, spec in pod_templates(objects):
        assert ("ServiceAccount", spec["serviceAccountName"]) in names, owner
        assert spec["automountServiceAccountToken"] is False, owner
        declared = {v["name"] for v in spec.get("volumes", [])} | claim_templates.get(owner, set())
        for v in spec.get("volumes", []):
            if "configMap" in v:
                assert ("ConfigMap", v["configMap"]["name"]) in names, owner
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                assert ("PersistentVolumeClaim", claim) in names or claim == values["workspace"]["existingClaim"]
        for c in spec["containers"] + spec.get("initContainers", []):
            for m in c.get("volumeMounts", []):
                assert m["name"] in declared, f"{owner}/{c['name']}: volume {m['name']} not declared"
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    assert ("Secret", ref["name"]) in names or ref["name"] in external_secrets, f"{owner}: {ref}"
    for binding in find(objects, "RoleBinding"):
        assert ("Role", binding["roleRef"]["name"]) in names


def test_scripts_configmap_holds_the_scripts_the_pods_run():
    objects = chartlib.render("default")
    scripts = one(objects, "ConfigMap", "rlhf-scripts")["data"]
    used = set()
    for _, _, spec in pod_templates(objects):
        for c in spec["containers"] + spec.get("initContainers", []):
            for word in c.get("command", []):
                if word.startswith("/opt/rlhf/scripts/"):
                    used.add(word.rsplit("/", 1)[1])
    assert used == {"wait_for.py", "make_bucket.py"}
    assert used <= set(scripts)
    for name in used:
        compile(scripts[name], name, "exec")


# ---- security ---------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["default", "example_gpu", "kserve", "kserve_knative", "example_reward_kserve"])
def test_pods_run_as_non_root_with_a_read_only_root_filesystem(variant):
    for owner, _, spec in pod_templates(chartlib.render(variant)):
        assert spec["securityContext"]["runAsNonRoot"] is True, owner
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"], owner
            if not owner.startswith("StatefulSet/"):  # MinIO keeps a writable root
                assert sc["readOnlyRootFilesystem"] is True, f"{owner}/{c['name']}"
                assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}, f"{owner}/{c['name']}"


def test_rbac_is_least_privilege():
    objects = chartlib.render("default")
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")
    (role,) = find(objects, "Role")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert not {"roles", "rolebindings"} & set(rule["resources"])
        if {"secrets", "configmaps"} & set(rule["resources"]):  # one named object each, read-only
            assert rule["verbs"] == ["get"] and len(rule["resourceNames"]) == 1, rule
    named = {r: rule["resourceNames"] for rule in role["rules"] for r in rule["resources"] if "resourceNames" in rule}
    assert named == {"configmaps": ["rlhf-pipeline"], "secrets": ["rlhf-minio"]}
    granted = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted[("", "pods")] == {"get", "list", "watch"}
    assert "create" in granted[("kubeflow.org", "pytorchjobs")]
    # Exactly what pipelines/launcher.py calls: it creates and follows PyTorchJobs, nothing else.
    assert granted == {("kubeflow.org", "pytorchjobs"): {"get", "list", "watch", "create"},
                       ("kubeflow.org", "pytorchjobs/status"): {"get"}, ("", "pods"): {"get", "list", "watch"},
                       ("", "pods/log"): {"get", "list", "watch"}, ("", "configmaps"): {"get"}, ("", "secrets"): {"get"}}
    (binding,) = find(objects, "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rlhf-launcher", "namespace": NAMESPACE}]
    workload_sa = one(objects, "ServiceAccount", "rlhf")
    assert workload_sa["automountServiceAccountToken"] is False
    assert not any(s["name"] == "rlhf" for b in find(objects, "RoleBinding") for s in b["subjects"])


# ---- monitoring -------------------------------------------------------------------------------

def test_grafana_dashboard_charts_reward_kl_step_time_and_tokens():
    objects = chartlib.render("default")
    cm = one(objects, "ConfigMap", "rlhf-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["rlhf.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in ("rlhf_ppo_reward_mean", "rlhf_ppo_kl", "rlhf_ppo_step_seconds", "rlhf_tokens_total",
                   "rlhf_rpc_latency_seconds_bucket", "rlhf_rpc_requests_total"):
        assert metric in exprs, metric
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_scrape_annotations_follow_the_switch():
    on = one(chartlib.render("default"), "Deployment", "rlhf-data-store")["spec"]["template"]["metadata"]
    assert on["annotations"]["prometheus.io/scrape"] == "true"
    off = one(chartlib.render_values({"metrics": {"podAnnotations": False}}), "Deployment", "rlhf-data-store")
    assert "prometheus.io/scrape" not in off["spec"]["template"]["metadata"]["annotations"]
