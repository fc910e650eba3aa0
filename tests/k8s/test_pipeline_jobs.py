"""The PyTorchJob each Kubeflow pipeline step submits in cluster mode, built from the job template
the chart renders (ConfigMap rlhf-pipeline): it fits the kubeflow-training models, runs the stage's
real `rlhf` command with arguments the real CLI and config loader accept, and gets the same pod
settings (env, volumes, security, network peers) as the chart's own stage pods."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
import yaml

import chartlib
from chartlib import NAMESPACE, find, labels_match, one, unknown_fields
from pipelines import alignment_pipeline as pipeline
from pipelines import launcher
from pipelines.cli import build_parser
from rlhf.config import load_config

SFT_URI = "s3://rlhf/pipelines/run-7/models/sft"
RM_URI = "s3://rlhf/pipelines/run-7/models/rm"
PPO_URI = "s3://rlhf/pipelines/run-7/models/ppo"


def template(variant: str = "default") -> dict:
    cm = one(chartlib.render(variant), "ConfigMap", "rlhf-pipeline")
    return json.loads(cm["data"]["job-template.json"])


@pytest.fixture
def submitted(monkeypatch):
    """Runs a pipeline step's body in cluster mode and returns the PyTorchJobs it submits (the
    Kubernetes API is the one part not here: the job is captured where it would be created)."""
    jobs = []
    monkeypatch.setattr(launcher, "release_template", lambda release, namespace: template())
    monkeypatch.setattr(launcher, "run_in_cluster", lambda job, timeout_s: jobs.append(job))
    return jobs


def as_dict(job) -> dict:
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(job)


def step(component, **kwargs):
    run = dict(mode="cluster", namespace=NAMESPACE, release="rlhf", local_config="", run_id="run-7")
    return component.python_func(**run, **kwargs)


def container_of(job: dict, replica: str = "Master") -> dict:
    (container,) = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]["containers"]
    return container


def cli_command(container: dict) -> list[str]:
    if container["command"][:2] == ["/bin/sh", "-c"]:
        import shlex

        return shlex.split(container["args"][0].split("--no-python ", 1)[1])
    return container["command"] + container["args"]


def release_config(tmp_path: Path) -> Path:
    """The release's config.yaml as the chart renders it: what --config names inside the pod."""
    cm = one(chartlib.render("default"), "ConfigMap", "rlhf-config")
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    return path


def loaded_config(command: list[str], tmp_path: Path):
    """Parses the command with the real CLI, then loads its --config/--set like the stage does."""
    args = build_parser().parse_args(command[1:])
    assert args.config == launcher.CONFIG_PATH
    return args, load_config(release_config(tmp_path), overrides=args.set)


def test_every_step_submits_a_valid_pytorchjob_with_its_real_command(submitted, tmp_path):
    sources = step(pipeline.import_data, demonstrations_uri="s3://data/demos.jsonl", prompts_uri="demo",
                   heldout_prompts_uri="demo", general_uri="demo", general_heldout_uri="demo", comparisons_uri="",
                   heldout_comparisons_uri="", label_source="simulated")
    assert sources["demonstrations"] == "s3://data/demos.jsonl" and len(sources) == 5
    assert step(pipeline.sft, base_model="smollm2", gpus_per_worker=1) == SFT_URI
    assert step(pipeline.label, sft_model=SFT_URI, k=6, label_source="simulated") == "comparisons/pipelines/run-7"
    assert step(pipeline.reward_model, sft_model=SFT_URI, comparisons="comparisons/pipelines/run-7",
                gpus_per_worker=1) == RM_URI
    assert step(pipeline.ppo, sft_model=SFT_URI, reward_model=RM_URI, beta=0.02, ptx_coef=0.5, ppo_steps=40,
                workers=1, gpus_per_worker=1) == PPO_URI
    jobs = [as_dict(job) for job in submitted]
    assert [j["metadata"]["name"] for j in jobs] == [f"rlhf-{s}-run-7" for s in ("data", "sft", "label", "rm", "ppo")]
    for job in jobs:
        assert unknown_fields(chartlib.strip(job), "KubeflowOrgV1PyTorchJob") == [], job["metadata"]["name"]
        chartlib.deserialize(job)
        assert job["metadata"]["namespace"] == NAMESPACE
        assert job["spec"]["runPolicy"]["backoffLimit"] == 0  # a failed stage fails the step, with its reason

    data, sft, label, rm, ppo = (cli_command(container_of(j)) for j in jobs)
    args, _ = loaded_config(data, tmp_path)
    assert data[:3] == ["rlhf", "data", "import"] and "demonstrations=s3://data/demos.jsonl" in args.sources

    args, config = loaded_config(sft, tmp_path)
    assert sft[:3] == ["rlhf", "train", "sft"]
    assert (config.sft.base_model, config.sft.output_uri) == ("smollm2", SFT_URI)
    assert config.sft.output_dir == "runs/latest/models/sft"  # the release's path, where its services look

    _, config = loaded_config(label, tmp_path)
    assert label[:2] == ["rlhf", "label"]
    assert (config.label.k, config.label.output, config.sft.output_dir) == (6, "comparisons/pipelines/run-7", SFT_URI)
    assert config.label.source == "simulated"

    _, config = loaded_config(rm, tmp_path)
    assert (config.rm.init_model, config.rm.output_uri) == (SFT_URI, RM_URI)
    assert (config.rm.comparisons, config.rm.heldout_comparisons) == ("comparisons/pipelines/run-7/train",
                                                                      "comparisons/pipelines/run-7/heldout")

    _, config = loaded_config(ppo, tmp_path)
    assert ppo[:3] == ["rlhf", "train", "ppo"]
    assert (config.ppo.init_model, config.ppo.value_model, config.ppo.output_uri) == (SFT_URI, RM_URI, PPO_URI)
    assert (config.ppo.kl_coef, config.ppo.ptx_coef, config.ppo.steps) == (0.02, 0.5, 40)
    assert (config.ppo.run_name, config.ppo.resume) == ("pipeline-run-7", False)


def test_imported_comparisons_become_the_runs_comparison_sets(submitted, tmp_path):
    """label_source=import: the data step imports the team's comparisons under the run's prefix,
    and the label step only checks them (label.source=import) where the RM will read them."""
    from pipelines.data import set_kind

    step(pipeline.import_data, demonstrations_uri="demo", prompts_uri="demo", heldout_prompts_uri="demo",
         general_uri="demo", general_heldout_uri="demo", comparisons_uri="s3://data/pairs.jsonl",
         heldout_comparisons_uri="s3://data/pairs-heldout.jsonl", label_source="import")
    step(pipeline.label, sft_model=SFT_URI, k=4, label_source="import")
    data, label = (cli_command(container_of(as_dict(job))) for job in submitted)
    args, _ = loaded_config(data, tmp_path)
    sources = dict(item.split("=", 1) for item in args.sources)
    assert sources["comparisons/pipelines/run-7/train"] == "s3://data/pairs.jsonl"
    assert sources["comparisons/pipelines/run-7/heldout"] == "s3://data/pairs-heldout.jsonl"
    assert set_kind("comparisons/pipelines/run-7/train") == "comparisons"
    _, config = loaded_config(label, tmp_path)
    assert (config.label.source, config.rm.comparisons) == ("import", "comparisons/pipelines/run-7/train")


def test_distributed_ppo_runs_torchrun_on_every_replica_with_gpus(submitted):
    step(pipeline.ppo, sft_model=SFT_URI, reward_model=RM_URI, beta=0.05, ptx_coef=0.0, ppo_steps=6,
         workers=3, gpus_per_worker=2)
    job = as_dict(submitted[0])
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert {k: r["replicas"] for k, r in replicas.items()} == {"Master": 1, "Worker": 2}
    assert job["spec"]["nprocPerNode"] == "2"
    for kind in ("Master", "Worker"):
        container = container_of(job, kind)
        script = container["args"][0]
        assert "torchrun --nnodes=3 --nproc-per-node=2" in script and '--node-rank="$RANK"' in script
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
        spec = replicas[kind]["template"]["spec"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        # The trainer's label: the NetworkPolicies admit it to all four services.
        assert replicas[kind]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "trainer"


def test_cpu_stage_gets_no_gpu_and_the_chart_s_stage_pod_settings(submitted):
    step(pipeline.label, sft_model=SFT_URI, k=4, label_source="simulated")
    job = as_dict(submitted[0])
    container = container_of(job)
    assert "nvidia.com/gpu" not in container["resources"].get("limits", {})
    # Same env, mounts, security and volumes as the chart's own label Job.
    chart_job = one(chartlib.render("default"), "Job", "rlhf-label")
    (chart_container,) = chart_job["spec"]["template"]["spec"]["containers"]
    for key in ("env", "volumeMounts", "securityContext", "image", "workingDir"):
        assert container[key] == chart_container[key], key
    assert container["resources"] == chart_container["resources"]
    pod = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    chart_pod = chart_job["spec"]["template"]["spec"]
    for key in ("volumes", "securityContext", "serviceAccountName", "automountServiceAccountToken"):
        assert pod[key] == chart_pod[key], key
    # The NetworkPolicy in front of policy-inference admits this pod.
    policy = one(chartlib.render("default"), "NetworkPolicy", "rlhf-policy-inference")
    labels = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]["labels"]
    assert any(labels_match(peer["podSelector"], labels) for rule in policy["spec"]["ingress"]
               for peer in rule["from"] if "podSelector" in peer)


def test_template_follows_external_s3_and_kserve_auth():
    external = template("external_s3")
    assert external["store"] == {"uri": "s3://rlhf", "endpoint": "s3.example.com:443", "secure": True,
                                 "secretName": "team-s3", "accessKeyKey": "access-key", "secretKeyKey": "secret-key"}
    role = one(chartlib.render("external_s3"), "Role", "rlhf-launcher")
    assert {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["team-s3"], "verbs": ["get"]} in role["rules"]
    values = {"reward": {"kserve": {"enabled": True, "auth": {"existingSecret": "reward-tokens"}}}}
    cm = one(chartlib.render_values(values), "ConfigMap", "rlhf-pipeline")
    kserve = json.loads(cm["data"]["job-template.json"])
    token_file = {e["name"]: e.get("value") for e in kserve["container"]["env"]}["RLHF_REWARD_TOKEN_FILE"]
    (mount,) = [m for m in kserve["container"]["volumeMounts"] if token_file.startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in kserve["pod"]["volumes"] if v["name"] == mount["name"]]
    assert "secret" in volume and mount.get("readOnly") is True


def test_job_names_are_dns_labels():
    name = launcher.job_name("3F2A_9c1e-LONG-" + "x" * 80, "eval")
    assert len(name) <= 52 and name == name.lower() and name[0].isalpha() and not name.endswith("-")
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


class FakeApiServer(http.server.ThreadingHTTPServer):
    """The few Kubernetes REST endpoints the kubeflow-training SDK calls to create and follow a
    PyTorchJob, on 127.0.0.1: there is no cluster here, but the SDK, its API client and our
    launcher all run for real against it. The job it stores goes straight to Failed."""

    def __init__(self):
        self.jobs: dict[str, dict] = {}
        super().__init__(("127.0.0.1", 0), self.Handler)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, code: int, body, content_type: str = "application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            job = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            job["status"] = {"conditions": [{
                "type": "Failed", "status": "True", "reason": "PyTorchJobFailed",
                "message": f"PyTorchJob {job['metadata']['name']} is failed because 1 Master replica(s) failed.",
                "lastTransitionTime": "2026-11-21T00:00:00Z"}]}
            self.server.jobs[job["metadata"]["name"]] = job
            self.reply(201, job)

        def do_GET(self):
            path = self.path.split("?")[0]
            if "/pytorchjobs/" in path:
                name = path.rsplit("/", 1)[1]
                job = self.server.jobs.get(name)
                return self.reply(200, job) if job else self.reply(404, {"kind": "Status", "code": 404})
            if path.endswith("/log"):
                return self.reply(200, "loading\nValueError: sft.demonstrations: record set 'demonstrations' is empty\n",
                                  "text/plain")
            if path.endswith("/pods"):
                name = next(iter(self.server.jobs))
                return self.reply(200, {"kind": "PodList", "apiVersion": "v1", "items": [
                    {"metadata": {"name": f"{name}-master-0", "namespace": NAMESPACE}, "status": {"phase": "Failed"}}]})
            self.reply(404, {"kind": "Status", "code": 404})


def test_a_failed_job_raises_with_its_reason_and_log_tail(tmp_path, monkeypatch):
    server = FakeApiServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "test",
                  "clusters": [{"name": "test", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                  "users": [{"name": "test", "user": {"token": "t"}}],
                  "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}]}
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    try:
        job = launcher.pytorchjob(template(), "sft", "rlhf-sft-run-7", launcher.stage_args({}))
        with pytest.raises(RuntimeError) as err:
            launcher.run_in_cluster(job, timeout_s=5, poll_s=1)
    finally:
        server.shutdown()
    message = str(err.value)
    assert "rlhf-test/rlhf-sft-run-7 did not succeed" in message
    assert "PyTorchJobFailed" in message and "1 Master replica(s) failed" in message
    assert "record set 'demonstrations' is empty" in message
    # What reached the API server is the job we built.
    assert server.jobs["rlhf-sft-run-7"]["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] == 1


def test_pipeline_namespaces_may_reach_minio_and_nothing_else():
    objects = chartlib.render_values({"networkPolicy": {"pipelineNamespaces": ["kubeflow-user-example-com"]}})
    minio = one(objects, "NetworkPolicy", "rlhf-minio")
    peers = [peer for rule in minio["spec"]["ingress"] for peer in rule["from"]]
    assert {"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                                        "values": ["kubeflow-user-example-com"]}]}} in peers
    for policy in find(objects, "NetworkPolicy"):
        if policy["metadata"]["name"] != "rlhf-minio":
            assert "kubeflow-user-example-com" not in json.dumps(policy), policy["metadata"]["name"]
    default = one(chartlib.render("default"), "NetworkPolicy", "rlhf-minio")
    assert all("namespaceSelector" not in peer for rule in default["spec"]["ingress"] for peer in rule["from"])


def test_sft_and_rm_steps_run_one_process_per_gpu(submitted):
    step(pipeline.sft, base_model="smollm2", gpus_per_worker=4)
    step(pipeline.reward_model, sft_model=SFT_URI, comparisons="pipelines/run-7/comparisons", gpus_per_worker=4)
    for job, stage in zip((as_dict(j) for j in submitted), ("sft", "rm")):
        assert job["spec"]["nprocPerNode"] == "4"
        container = container_of(job)
        assert "torchrun --nnodes=1 --nproc-per-node=4" in container["args"][0]
        assert cli_command(container)[:3] == ["rlhf", "train", stage]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_label_studio_rankings_in_the_pipeline(monkeypatch, tmp_path):
    """label_source=label-studio: no comparisons are imported, the label step runs the stage with
    label.source=label-studio, and with the chart's Label Studio every step's pod has its token."""
    jobs = []
    monkeypatch.setattr(launcher, "release_template", lambda release, namespace: template("label_studio"))
    monkeypatch.setattr(launcher, "run_in_cluster", lambda job, timeout_s: jobs.append(job))
    sources = step(pipeline.import_data, demonstrations_uri="demo", prompts_uri="demo", heldout_prompts_uri="demo",
                   general_uri="demo", general_heldout_uri="demo", comparisons_uri="", heldout_comparisons_uri="",
                   label_source="label-studio")
    assert not [name for name in sources if name.startswith("comparisons")]
    step(pipeline.label, sft_model=SFT_URI, k=4, label_source="label-studio")
    container = container_of(as_dict(jobs[-1]))
    _, config = loaded_config(cli_command(container), tmp_path)
    assert (config.label.source, config.rm.comparisons) == ("label-studio", "comparisons/pipelines/run-7/train")
    token = {e["name"]: e for e in container["env"]}["LABEL_STUDIO_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "rlhf-label-studio", "key": "token"}
    with pytest.raises(ValueError, match="expected 'simulated', 'import' or 'label-studio'"):
        step(pipeline.import_data, demonstrations_uri="demo", prompts_uri="demo", heldout_prompts_uri="demo",
             general_uri="demo", general_heldout_uri="demo", comparisons_uri="", heldout_comparisons_uri="",
             label_source="people")
