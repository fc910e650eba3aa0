"""The Kubeflow pipeline `rlhf-alignment`: data -> sft -> label (sample K + rank) -> rm -> ppo -> eval.

Every step is a lightweight component whose body calls `pipelines.launcher`: in the cluster each
stage becomes a PyTorchJob in the Helm release's namespace; `rlhf pipeline run-local` runs the same
pipeline with kfp.local.SubprocessRunner and services on 127.0.0.1. Models and the report pass
between steps as store URIs (<store>/pipelines/<run id>/...).

`make pipeline` (python -m pipelines.alignment_pipeline) writes pipelines/rlhf_pipeline.yaml, the
file to upload in the Kubeflow Pipelines UI; a test keeps it equal to what this module compiles to.
"""

# No `from __future__ import annotations`: kfp reads the components' annotations as types.

import json
import time
import warnings
from importlib.metadata import version
from pathlib import Path

from kfp import compiler, dsl
from kfp import local as kfp_local
from kfp.dsl import Markdown, Metrics, Output

from rlhf.config import Config, to_dict

# The image `make image` builds; its tag is the chart's appVersion and this package's version.
IMAGE = f"rlhf-stack:{version('rlhf-stack')}"
COMPILED = Path(__file__).with_name("rlhf_pipeline.yaml")


def _component(fn):
    # The image has kfp and rlhf installed; installing kfp at start-up would need PyPI from the pod.
    return dsl.component(fn, base_image=IMAGE, install_kfp_package=False)


@_component
def import_data(mode: str, namespace: str, release: str, local_config: str, run_id: str,
                demonstrations_uri: str, prompts_uri: str, heldout_prompts_uri: str, general_uri: str,
                general_heldout_uri: str, comparisons_uri: str, heldout_comparisons_uri: str,
                label_source: str) -> dict:
    """Loads the record sets into the data-store ("demo": the bundled set); with label_source
    "import", the comparisons too, as this run's comparisons/pipelines/<run id>/{train,heldout}.
    Returns record set -> source, for the report."""
    from pipelines.launcher import Run, comparisons_prefix

    sources = {"demonstrations": demonstrations_uri, "prompts/train": prompts_uri,
               "prompts/heldout": heldout_prompts_uri, "general/train": general_uri,
               "general/heldout": general_heldout_uri}
    if label_source == "import":
        if not (comparisons_uri and heldout_comparisons_uri):
            raise ValueError("label_source=import: give comparisons_uri and heldout_comparisons_uri (JSONL comparisons)")
        prefix = comparisons_prefix(run_id)
        sources.update({f"{prefix}/train": comparisons_uri, f"{prefix}/heldout": heldout_comparisons_uri})
    elif label_source not in ("simulated", "label-studio"):
        raise ValueError(f"label_source: {label_source!r}; expected 'simulated', 'import' or 'label-studio'")
    Run(mode, run_id, namespace, release, local_config).stage(
        "data", {}, positional=[f"{name}={uri}" for name, uri in sources.items()])
    return sources


@_component
def sft(mode: str, namespace: str, release: str, local_config: str, run_id: str, base_model: str,
        gpus_per_worker: int) -> str:
    """Fine-tunes base_model on the demonstrations; returns the SFT model's store URI."""
    from pipelines.launcher import Run

    run = Run(mode, run_id, namespace, release, local_config)
    uri = run.uri("models/sft")
    run.stage("sft", {"sft.base_model": base_model, "sft.output_uri": uri, **run.output_dir("sft", "sft")},
              gpus_per_worker=gpus_per_worker)
    return uri


@_component
def label(mode: str, namespace: str, release: str, local_config: str, run_id: str, sft_model: str,
          k: int, label_source: str) -> str:
    """The SFT policy samples k completions per prompt and the labeler ranks them (label_source
    "label-studio": people in Label Studio; the step waits label.label_studio.wait_timeout_s, from
    the release's config, for them), or (label_source "import") the imported comparisons are
    checked; returns the comparisons' record-set prefix
    (<prefix>/train, <prefix>/heldout)."""
    from pipelines.launcher import Run, comparisons_prefix

    prefix = comparisons_prefix(run_id)
    Run(mode, run_id, namespace, release, local_config).stage(
        "label", {"label.k": k, "label.source": label_source, "label.output": prefix, "sft.output_dir": sft_model,
                  "rm.comparisons": f"{prefix}/train", "rm.heldout_comparisons": f"{prefix}/heldout"},
        models={"policy_inference": sft_model})
    return prefix


@_component
def reward_model(mode: str, namespace: str, release: str, local_config: str, run_id: str, sft_model: str,
                 comparisons: str, gpus_per_worker: int) -> str:
    """Trains the reward model on all C(K,2) pairs per prompt; returns its store URI."""
    from pipelines.launcher import Run

    run = Run(mode, run_id, namespace, release, local_config)
    uri = run.uri("models/rm")
    run.stage("rm", {"rm.init_model": sft_model, "rm.comparisons": f"{comparisons}/train",
                     "rm.heldout_comparisons": f"{comparisons}/heldout", "rm.output_uri": uri,
                     **run.output_dir("rm", "rm")},
              gpus_per_worker=gpus_per_worker)
    return uri


@_component
def ppo(mode: str, namespace: str, release: str, local_config: str, run_id: str, sft_model: str,
        reward_model: str, beta: float, ptx_coef: float, ppo_steps: int, workers: int,
        gpus_per_worker: int) -> str:
    """PPO (PPO-ptx when ptx_coef > 0) against the reward model; returns the policy's store URI."""
    from pipelines.launcher import Run

    run = Run(mode, run_id, namespace, release, local_config)
    uri = run.uri("models/ppo")
    run.stage("ppo", {"ppo.init_model": sft_model, "ppo.value_model": reward_model, "ppo.kl_coef": beta,
                      "ppo.ptx_coef": ptx_coef, "ppo.steps": ppo_steps, "ppo.run_name": f"pipeline-{run_id}",
                      "ppo.output_uri": uri, "ppo.resume": False, **run.output_dir("ppo", "ppo")},
              models={"policy_inference": sft_model, "reference_kl": sft_model, "reward_scoring": reward_model},
              workers=workers, gpus_per_worker=gpus_per_worker)
    return uri


@_component
def evaluate(mode: str, namespace: str, release: str, local_config: str, run_id: str, base_model: str,
             data: dict, sft_model: str, reward_model: str, policy: str, policy_name: str,
             metrics: Output[Metrics], report: Output[Markdown]) -> str:
    """Win rate against SFT, KL, RM accuracy and perplexity: a Metrics artifact and the report
    (markdown) for the UI; returns the report's store URI."""
    import json

    from pipelines.launcher import Run, report_metrics

    run = Run(mode, run_id, namespace, release, local_config)
    uri = run.uri("report")
    overrides = {"eval.reference_model": sft_model, "eval.policies": {policy_name: policy},
                 "eval.rm_summary": f"{reward_model}/rm_summary.json", "eval.report_uri": uri,
                 "run.run_id": run_id, "run.data": data, "sft.base_model": base_model}
    if mode == "local":
        overrides["eval.report_dir"] = str(run.local_dir / "report")
    run.stage("eval", overrides, models={"policy_inference": sft_model, "reference_kl": sft_model,
                                         "reward_scoring": reward_model})
    store = run.open_store()
    for name, value in report_metrics(json.loads(store.get_bytes(run.key("report/metrics.json")))).items():
        metrics.log_metric(name, value)
    with open(report.path, "w") as f:
        f.write(store.get_bytes(run.key("report/report.md")).decode())
    return uri


@dsl.pipeline(name="rlhf-alignment",
              description="InstructGPT: SFT -> sample K + rank -> reward model -> PPO(-ptx) -> evaluation")
def rlhf_alignment(
    base_model: str = "smollm2",
    demonstrations_uri: str = "demo",
    prompts_uri: str = "demo",
    heldout_prompts_uri: str = "demo",
    general_uri: str = "demo",
    general_heldout_uri: str = "demo",
    label_source: str = "simulated",
    comparisons_uri: str = "",
    heldout_comparisons_uri: str = "",
    k: int = 4,
    beta: float = 0.05,
    ptx_coef: float = 0.2,
    ppo_steps: int = 6,
    workers: int = 1,
    gpus_per_worker: int = 1,
    namespace: str = "rlhf",
    release: str = "rlhf",
    mode: str = "cluster",
    local_config: str = "",
) -> Metrics:
    run = dict(mode=mode, namespace=namespace, release=release, local_config=local_config,
               run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
    data = import_data(**run, demonstrations_uri=demonstrations_uri, prompts_uri=prompts_uri,
                       heldout_prompts_uri=heldout_prompts_uri, general_uri=general_uri,
                       general_heldout_uri=general_heldout_uri, comparisons_uri=comparisons_uri,
                       heldout_comparisons_uri=heldout_comparisons_uri,
                       label_source=label_source).set_display_name("import data")
    sft_task = sft(**run, base_model=base_model, gpus_per_worker=gpus_per_worker).after(data)
    label_task = label(**run, sft_model=sft_task.output, k=k,
                       label_source=label_source).set_display_name("sample K + rank")
    rm_task = reward_model(**run, sft_model=sft_task.output, comparisons=label_task.output,
                           gpus_per_worker=gpus_per_worker)
    ppo_task = ppo(**run, sft_model=sft_task.output, reward_model=rm_task.output, beta=beta, ptx_coef=ptx_coef,
                   ppo_steps=ppo_steps, workers=workers, gpus_per_worker=gpus_per_worker)
    eval_task = evaluate(**run, base_model=base_model, data=data.output, sft_model=sft_task.output,
                         reward_model=rm_task.output, policy=ppo_task.output, policy_name="PPO")
    for task in (data, sft_task, label_task, rm_task, ppo_task, eval_task):
        task.set_caching_options(False)  # stages read and write the store: a cached step would skip that
    return eval_task.outputs["metrics"]


def run_local(config: Config, arguments: dict[str, str]) -> dict[str, float]:
    """`rlhf pipeline run-local`: the Kubeflow pipeline through kfp.local.SubprocessRunner in this
    Python environment. Each step starts the services it calls on 127.0.0.1; the store, models,
    logs and kfp's outputs go under runs/pipeline-<id>/. Returns the Metrics artifact's values."""
    inputs = rlhf_alignment.component_spec.inputs
    typed: dict[str, object] = {}
    for name, raw in arguments.items():
        if name not in inputs or name in ("mode", "local_config", "namespace", "release"):
            settable = sorted(set(inputs) - {"mode", "local_config", "namespace", "release"})
            raise ValueError(f"--param {name}: not a pipeline parameter here (known: {', '.join(settable)})")
        kind = {"Integer": int, "Float": float, "String": str}[inputs[name].type]
        try:
            typed[name] = kind(raw)
        except ValueError:
            raise ValueError(f"--param {name}={raw!r}: expected {kind.__name__}") from None

    run_id = config.run.run_id or time.strftime("%Y%m%d-%H%M%S")
    run_dir = (Path(config.run.runs_dir) / f"pipeline-{run_id}").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    config.store.uri = f"file://{run_dir / 'store'}"
    config_file = run_dir / "config.json"
    config_file.write_text(json.dumps(to_dict(config), indent=2))
    if typed.get("base_model", "smollm2") == "smollm2":
        from pipelines.common import resolve_model

        resolve_model("smollm2")  # convert the bundled model once, before the first step
    kfp_local.init(runner=kfp_local.SubprocessRunner(use_venv=False), pipeline_root=str(run_dir / "kfp"),
                   raise_on_error=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # kfp warns that our image is not a python:* image; here the steps run in this environment.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        task = rlhf_alignment(mode="local", local_config=str(config_file), namespace="", release="", **typed)
    metrics = dict(task.output.metadata)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"pipeline: done in {time.perf_counter() - start:.0f}s; metrics {run_dir / 'metrics.json'}, "
          f"report {run_dir / 'report' / 'report.md'}", flush=True)
    return metrics


def compile_pipeline(path: "str | Path" = COMPILED) -> Path:
    compiler.Compiler().compile(rlhf_alignment, str(path))
    return Path(path)


if __name__ == "__main__":
    print(f"wrote {compile_pipeline()}")
