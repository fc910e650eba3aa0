"""Runs one stage of the Kubeflow pipeline, the same command in both modes:

- cluster: a PyTorchJob in the Helm release's namespace, built from the pod template the chart
  publishes (ConfigMap <release>-pipeline: image, env, volumes, security, resources), submitted and
  followed with the kubeflow-training SDK; a failure raises with the job's reason and its log tail;
- local: the services the stage calls run as processes on 127.0.0.1 for the stage's duration, and
  the command runs as a subprocess against them.

Stages pass models and the report between each other as store URIs (`output_uri` of sft/rm/ppo,
`eval.report_uri`), so no step needs another step's disk.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.processes import start_services, stop_services
from rlhf.config import load_config
from rlhf.storage import S3Settings, open_store

CONFIG_PATH = "/etc/rlhf/config.yaml"  # where the chart mounts the release's config in every pod


@dataclass(frozen=True)
class Stage:
    command: tuple[str, ...]
    services: tuple[str, ...]          # what it calls, as config.services sections
    distributed: bool = False          # runs under torchrun: one process per GPU, across workers (the trainers)


ALL_SERVICES = ("data_store", "policy_inference", "reference_kl", "reward_scoring")
STAGES = {
    "data": Stage(("rlhf", "data", "import"), ("data_store",)),
    "sft": Stage(("rlhf", "train", "sft"), ("data_store",), distributed=True),
    "label": Stage(("rlhf", "label"), ("data_store", "policy_inference")),
    "rm": Stage(("rlhf", "train", "rm"), ("data_store",), distributed=True),
    "ppo": Stage(("rlhf", "train", "ppo"), ALL_SERVICES, distributed=True),
    "eval": Stage(("rlhf", "eval"), ALL_SERVICES),
}


def stage_args(overrides: dict[str, object], positional: list[str] | None = None) -> list[str]:
    """`--config` plus one `--set section.field=value` per override (values as JSON, which the
    config loader reads as YAML)."""
    args = [*(positional or []), "--config", CONFIG_PATH]
    for key, value in overrides.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    return args


def comparisons_prefix(run_id: str) -> str:
    """The record-set prefix of a pipeline run's comparisons (imported or labelled): under
    comparisons/, so the set names say their kind."""
    return f"comparisons/pipelines/{run_id}"


# ---------------------------------------------------------------------------------------- cluster

def job_name(run_id: str, stage: str) -> str:
    """A DNS-1035 label: PyTorchJob names become pod and Service names."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"rlhf-{stage}-{run_id}".lower()).strip("-")
    return base[:52].rstrip("-")


def pytorchjob(template: dict, stage: str, name: str, args: list[str], workers: int = 1,
               gpus_per_worker: int = 0):
    """The PyTorchJob (kubeflow-training model) that runs `stage` with `args` in the release.

    `template` is the chart's pipeline ConfigMap content. A distributed stage runs torchrun on every
    replica (Master + workers - 1 Workers, one process per GPU); the others run one Master pod.
    """
    from kubeflow.training import models
    from kubernetes import client as k8s

    spec = STAGES[stage]
    workers = max(1, workers) if spec.distributed else 1
    command = [*spec.command, *args]
    container = copy.deepcopy(template["container"])
    resources = copy.deepcopy(template["resources"].get(stage, {}))
    if gpus_per_worker > 0 and template["gpu"]["enabled"]:
        resources.setdefault("limits", {})[template["gpu"]["resourceName"]] = str(gpus_per_worker)
    procs = max(1, gpus_per_worker)
    if spec.distributed:
        # torchrun reads the rendezvous from the env the training operator sets on every replica.
        launch = ("set -eu; exec torchrun --nnodes={n} --nproc-per-node={p} --node-rank=\"$RANK\" "
                  "--master-addr=\"$MASTER_ADDR\" --master-port=\"$MASTER_PORT\" --no-python ").format(n=workers, p=procs)
        container.update(command=["/bin/sh", "-c"], args=[launch + shlex.join(command)])
    else:
        container.update(command=command[:1], args=command[1:])
    container.update(name="pytorch", resources=resources,
                     ports=[{"name": "pytorchjob-port", "containerPort": 23456, "protocol": "TCP"}])
    labels = {**template["labels"], "app.kubernetes.io/component": template["components"].get(stage, stage),
              "rlhf/pipeline-stage": stage}
    pod = copy.deepcopy(template["pod"])
    if gpus_per_worker > 0 and template["gpu"]["enabled"]:
        pod["tolerations"] = [*pod.get("tolerations", []), *template["gpu"]["tolerations"]]
    pod.update(containers=[container], restartPolicy="Never")

    class _Response:  # ApiClient.deserialize reads a response's JSON body from `.data`
        data = json.dumps({"metadata": {"labels": labels}, "spec": pod})

    pod_template = k8s.ApiClient().deserialize(_Response(), "V1PodTemplateSpec")

    def replica(count: int):
        return models.KubeflowOrgV1ReplicaSpec(replicas=count, restart_policy="Never", template=pod_template)

    replicas = {"Master": replica(1)}
    if workers > 1:
        replicas["Worker"] = replica(workers - 1)
    return models.KubeflowOrgV1PyTorchJob(
        api_version="kubeflow.org/v1", kind="PyTorchJob",
        metadata=k8s.V1ObjectMeta(name=name, namespace=template["namespace"], labels=labels),
        spec=models.KubeflowOrgV1PyTorchJobSpec(
            nproc_per_node=str(procs), pytorch_replica_specs=replicas,
            run_policy=models.KubeflowOrgV1RunPolicy(backoff_limit=0, clean_pod_policy="None")))


def _core_api():
    """CoreV1Api as this process may reach the cluster: its pod's account, else $KUBECONFIG
    (read now, not when kubernetes was imported)."""
    from kubernetes import client as k8s, config as kube_config

    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    return k8s.CoreV1Api()


def release_template(release: str, namespace: str) -> dict:
    """The chart's ConfigMap <release>-pipeline (needs `get` on it: the chart's launcher Role)."""
    from kubernetes.client import ApiException

    name = f"{release}-pipeline"
    try:
        cm = _core_api().read_namespaced_config_map(name, namespace, _request_timeout=30)
    except ApiException as exc:
        raise RuntimeError(f"ConfigMap {namespace}/{name}: {exc.status} {exc.reason}; is the rlhf chart installed "
                           f"as release {release!r} in {namespace!r} and is this step's ServiceAccount bound to "
                           "its launcher Role (values rbac.launcher.subjects)?") from None
    return json.loads(cm.data["job-template.json"])


def run_in_cluster(job, timeout_s: float, poll_s: int = 15) -> None:
    """Submits the PyTorchJob and waits for Succeeded; raises RuntimeError with the failure reason
    and the master pod's last log lines when it fails or times out."""
    from kubeflow.training import TrainingClient

    name, namespace = job.metadata.name, job.metadata.namespace
    # In a pod: the in-cluster account; elsewhere $KUBECONFIG (read now, not when kubernetes was imported).
    client = TrainingClient(config_file=os.environ.get("KUBECONFIG") or None, namespace=namespace,
                            job_kind="PyTorchJob")
    client.create_job(job)
    print(f"stage: PyTorchJob {namespace}/{name} created", flush=True)
    try:
        client.wait_for_job_conditions(name, namespace, expected_conditions={"Succeeded"},
                                       wait_timeout=int(timeout_s), polling_interval=poll_s)
    except (RuntimeError, TimeoutError) as exc:
        reason = str(exc)
        try:
            conditions = client.get_job_conditions(name, namespace)
            if conditions:
                last = conditions[-1]
                reason = f"{last.type}: {last.reason}: {last.message}"
            logs, _ = client.get_job_logs(name, namespace)
            tail = "\n".join("\n".join(text.splitlines()[-30:]) for text in logs.values())
        except Exception as log_exc:  # the reason above is what matters; logs are a courtesy
            tail = f"(logs unavailable: {log_exc})"
        raise RuntimeError(f"PyTorchJob {namespace}/{name} did not succeed: {reason}\n--- log tail ---\n{tail}") from None
    print(f"stage: PyTorchJob {namespace}/{name} succeeded", flush=True)


# ------------------------------------------------------------------------------------------ local

def run_locally(stage: str, args: list[str], config_file: str, models: dict[str, str], log_dir: str) -> None:
    """Runs the stage's command on this machine with `config_file` in place of the release config.
    The services it calls start on 127.0.0.1 first, with the same config: the model services serve
    `models[section]` (a directory or store URI), data-store serves the config's store."""
    from pipelines.common import resolve_model  # torch: only when a stage runs here

    config = load_config(config_file)
    spec = STAGES[stage]
    logs = Path(log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    sources = {section: ["--store", config.store.uri] if section == "data_store" else
               ["--model", str(resolve_model(models[section]))] for section in spec.services}
    started = start_services(sources, {section: logs / f"{stage}-{section.replace('_', '-')}.log"
                                       for section in spec.services}, timeout=config.run.service_start_timeout,
                             config_file=config_file)
    env = {f"RLHF_{section.upper()}_ADDR": proc.target for section, proc in started.items()}
    try:
        command = [sys.executable, "-m", "pipelines.cli", *spec.command[1:],
                   *[config_file if a == CONFIG_PATH else a for a in args]]
        print(f"stage {stage}: {' '.join(command)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(command, env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
        if code != 0:
            raise RuntimeError(f"stage {stage}: `{' '.join(spec.command)}` exited with {code}")
        print(f"stage {stage}: done in {time.perf_counter() - start:.0f}s", flush=True)
    finally:
        stop_services(started.values())


# -------------------------------------------------------------------------------- pipeline steps

@dataclass
class Run:
    """Where one pipeline run's stages execute, and where its artifacts live.

    mode "cluster": stages are PyTorchJobs in `namespace` built from release `release`'s template,
    and keep the release config's output directories (the release's model services load models
    from there). mode "local": `local_config` (written by `rlhf pipeline run-local`) replaces the
    release config and every output directory lives under `local_dir`.
    """

    mode: str
    run_id: str
    namespace: str = ""
    release: str = ""
    local_config: str = ""
    timeout_s: float = 24 * 3600

    def __post_init__(self) -> None:
        if self.mode not in ("cluster", "local"):
            raise ValueError(f"mode: {self.mode!r}; expected 'cluster' or 'local'")
        if self.mode == "local" and not self.local_config:
            raise ValueError("local_config: mode 'local' needs the config file `rlhf pipeline run-local` writes")

    @functools.cached_property
    def template(self) -> dict:
        return release_template(self.release, self.namespace)

    @property
    def local_dir(self) -> Path:
        return Path(self.local_config).parent

    @functools.cached_property
    def store_uri(self) -> str:
        if self.mode == "local":
            return load_config(self.local_config).store.uri
        return self.template["store"]["uri"]

    def key(self, name: str) -> str:
        """The store key (prefix) of artifact `name` of this run: pipelines/<run_id>/<name>."""
        return f"pipelines/{self.run_id}/{name}"

    def uri(self, name: str) -> str:
        return f"{self.store_uri.rstrip('/')}/{self.key(name)}"

    def output_dir(self, stage: str, name: str) -> dict[str, str]:
        """The override of a stage's output directory: none in the cluster (see the class doc)."""
        return {f"{stage}.output_dir": str(self.local_dir / "models" / name)} if self.mode == "local" else {}

    def stage(self, stage: str, overrides: dict[str, object], positional: list[str] | None = None,
              models: dict[str, str] | None = None, workers: int = 1, gpus_per_worker: int = 0) -> None:
        args = stage_args(overrides, positional)
        if self.mode == "local":
            run_locally(stage, args, self.local_config, models or {}, str(self.local_dir / "logs"))
        else:
            job = pytorchjob(self.template, stage, job_name(self.run_id, stage), args, workers, gpus_per_worker)
            run_in_cluster(job, self.timeout_s)

    def open_store(self):
        """The run's store, with the release's S3 credentials in cluster mode (read from its
        Secret: the launcher Role may get exactly that one)."""
        if self.mode == "local":
            return open_store(self.store_uri)
        store = self.template["store"]
        secret = _core_api().read_namespaced_secret(store["secretName"], self.namespace, _request_timeout=30).data
        access_key, secret_key = (base64.b64decode(secret[store[k]]).decode() for k in ("accessKeyKey", "secretKeyKey"))
        return open_store(store["uri"], S3Settings(store["endpoint"], store["secure"], access_key, secret_key))


def report_metrics(metrics: dict) -> dict[str, float]:
    """The numbers the pipeline UI shows, flattened from eval's metrics.json: per policy win rate
    against SFT (with its 95% interval), KL to SFT, mean reward, perplexity; the RM's held-out
    accuracy; the alignment tax (perplexity change against SFT)."""
    flat: dict[str, float] = {}
    policies = metrics["policies"]
    for name, values in policies.items():
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        for field in ("win_rate", "win_rate_low", "win_rate_high", "kl_to_sft", "reward_mean", "perplexity"):
            flat[f"{key}_{field}"] = float(values[field])
        if name != "SFT":
            flat[f"{key}_alignment_tax_perplexity"] = float(values["perplexity"] - policies["SFT"]["perplexity"])
    if metrics.get("rm_heldout_accuracy") is not None:
        flat["rm_heldout_accuracy"] = float(metrics["rm_heldout_accuracy"])
    return flat
