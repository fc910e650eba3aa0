"""The Kubeflow pipeline definition: the committed YAML is what the code compiles to, the DAG runs
the InstructGPT order, and the UI shows the typed parameters with their defaults."""

from __future__ import annotations

import yaml

from pipelines.alignment_pipeline import COMPILED, IMAGE, compile_pipeline

PARAMETERS = {  # name -> (KFP type, default)
    "base_model": ("STRING", "smollm2"), "demonstrations_uri": ("STRING", "demo"),
    "prompts_uri": ("STRING", "demo"), "heldout_prompts_uri": ("STRING", "demo"),
    "general_uri": ("STRING", "demo"), "general_heldout_uri": ("STRING", "demo"),
    "label_source": ("STRING", "simulated"), "comparisons_uri": ("STRING", ""), "heldout_comparisons_uri": ("STRING", ""),
    "k": ("NUMBER_INTEGER", 4), "beta": ("NUMBER_DOUBLE", 0.05), "ptx_coef": ("NUMBER_DOUBLE", 0.2),
    "ppo_steps": ("NUMBER_INTEGER", 6), "workers": ("NUMBER_INTEGER", 1), "gpus_per_worker": ("NUMBER_INTEGER", 1),
    "namespace": ("STRING", "rlhf"), "release": ("STRING", "rlhf"), "mode": ("STRING", "cluster"),
    "local_config": ("STRING", ""),
}


def compiled(tmp_path) -> dict:
    return yaml.safe_load(compile_pipeline(tmp_path / "pipeline.yaml").read_text())


def test_committed_yaml_is_what_the_definition_compiles_to(tmp_path):
    fresh = compile_pipeline(tmp_path / "pipeline.yaml").read_text()
    assert COMPILED.read_text() == fresh, "pipelines/rlhf_pipeline.yaml is stale: run `make pipeline`"


def test_dag_runs_the_stages_in_instructgpt_order(tmp_path):
    tasks = compiled(tmp_path)["root"]["dag"]["tasks"]
    assert set(tasks) == {"import-data", "sft", "label", "reward-model", "ppo", "evaluate"}
    depends = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}
    assert depends == {"import-data": set(), "sft": {"import-data"}, "label": {"sft"},
                       "reward-model": {"sft", "label"}, "ppo": {"sft", "reward-model"},
                       "evaluate": {"import-data", "sft", "reward-model", "ppo"}}
    # Models travel as the upstream step's output (a store URI), not as paths.
    ppo_inputs = tasks["ppo"]["inputs"]["parameters"]
    assert ppo_inputs["sft_model"]["taskOutputParameter"] == {"outputParameterKey": "Output", "producerTask": "sft"}
    assert ppo_inputs["reward_model"]["taskOutputParameter"]["producerTask"] == "reward-model"
    assert tasks["label"]["taskInfo"]["name"] == "sample K + rank"
    # Every step touches the store, so none may be answered from kfp's cache (enableCache: true
    # is what kfp writes for a cached step; disabled caching compiles to an empty mapping).
    assert all(not task["cachingOptions"].get("enableCache") for task in tasks.values())


def test_parameters_types_and_defaults(tmp_path):
    spec = compiled(tmp_path)
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {name: (p["parameterType"], p.get("defaultValue")) for name, p in params.items()} == PARAMETERS
    # The pipeline's output is the evaluation's Metrics artifact.
    assert spec["root"]["outputDefinitions"]["artifacts"]["Output"]["artifactType"]["schemaTitle"] == "system.Metrics"
    evaluate_outputs = spec["components"]["comp-evaluate"]["outputDefinitions"]["artifacts"]
    assert {n: a["artifactType"]["schemaTitle"] for n, a in evaluate_outputs.items()} == {
        "metrics": "system.Metrics", "report": "system.Markdown"}


def test_steps_run_our_image_without_installing_packages(tmp_path):
    executors = compiled(tmp_path)["deploymentSpec"]["executors"]
    assert len(executors) == 6
    for executor in executors.values():
        container = executor["container"]
        assert container["image"] == IMAGE
        script = " ".join(container["command"])
        assert "pip install" not in script and "from pipelines.launcher import" in script
