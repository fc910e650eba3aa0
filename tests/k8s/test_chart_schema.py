"""values.schema.json rejects bad values with a message naming the field (Helm's own validator),
and keeps the rlhf config sections it types in step with rlhf/config.py."""

from __future__ import annotations

import pytest

import chartlib


def rejection(values: dict) -> str:
    import helm_python

    with pytest.raises(helm_python.HelmValuesError) as info:
        chartlib.chart().validate_schema(values)
    # render (what `helm install` does) refuses the same values
    with pytest.raises(helm_python.HelmValuesError):
        chartlib.chart().render(values, name=chartlib.RELEASE, namespace=chartlib.NAMESPACE)
    return str(info.value)


@pytest.mark.parametrize("values, field", [
    ({"services": {"policyInference": {"replicas": -1}}}, "/services/policyInference/replicas"),
    ({"services": {"dataStore": {"replicas": -2}}}, "/services/dataStore/replicas"),
    ({"trainer": {"workers": -1}}, "/trainer/workers"),
    ({"services": {"rewardScoring": {"gpus": 1.5}}}, "/services/rewardScoring/gpus"),
    ({"services": {"rewardScoring": {"gpus": "1"}}}, "/services/rewardScoring/gpus"),
    ({"trainer": {"gpus": 0.5}}, "/trainer/gpus"),
    ({"stages": {"sft": {"gpus": "one"}}}, "/stages/sft/gpus"),
    ({"services": {"referenceKl": {"model": ""}}}, "/services/referenceKl/model"),
    ({"services": {"policyInference": {"port": 70000}}}, "/services/policyInference/port"),
    ({"minio": {"rootPassword": "short"}}, "/minio/rootPassword"),
    ({"services": {"policyInference": {"replicas": 2}}}, "/services/policyInference/replicas"),
    ({"store": {"bucket": "Not_A_Bucket"}}, "/store/bucket"),
    ({"config": {"services": {"policy_inference": {"max_batch_size": "big"}}}},
     "/config/services/policy_inference/max_batch_size"),
    # reward.kserve (the InferenceService)
    ({"reward": {"kserve": {"enabled": "yes"}}}, "/reward/kserve/enabled"),
    ({"reward": {"kserve": {"deploymentMode": "Raw"}}}, "/reward/kserve/deploymentMode"),
    ({"reward": {"kserve": {"minReplicas": -1}}}, "/reward/kserve/minReplicas"),
    ({"reward": {"kserve": {"maxReplicas": 0}}}, "/reward/kserve/maxReplicas"),
    ({"reward": {"kserve": {"gpus": 0.5}}}, "/reward/kserve/gpus"),
    ({"reward": {"kserve": {"modelName": "my model"}}}, "/reward/kserve/modelName"),
    ({"reward": {"kserve": {"modelName": ""}}}, "/reward/kserve/modelName"),
    ({"reward": {"kserve": {"repository": "/abs/prefix"}}}, "/reward/kserve/repository"),
    ({"reward": {"kserve": {"scaleMetric": "gpu"}}}, "/reward/kserve/scaleMetric"),
    ({"reward": {"kserve": {"startupSeconds": 1}}}, "/reward/kserve/startupSeconds"),
    ({"reward": {"kserve": {"batching": {"maxBatchSize": 0}}}}, "/reward/kserve/batching/maxBatchSize"),
    ({"reward": {"kserve": {"batching": {"batchWaitMs": -1}}}}, "/reward/kserve/batching/batchWaitMs"),
    ({"reward": {"kserve": {"batching": {"maxQueue": "many"}}}}, "/reward/kserve/batching/maxQueue"),
    ({"reward": {"kserve": {"rateLimit": {"perSecond": -5}}}}, "/reward/kserve/rateLimit/perSecond"),
    ({"reward": {"kserve": {"rateLimit": {"burst": 0}}}}, "/reward/kserve/rateLimit/burst"),
    ({"reward": {"kserve": {"reloadIntervalSeconds": 0}}}, "/reward/kserve/reloadIntervalSeconds"),
    ({"reward": {"kserve": {"auth": {"existingSecret": "Bad_Name"}}}}, "/reward/kserve/auth/existingSecret"),
    ({"reward": {"kserve": {"tls": {"existingSecret": "-tls"}}}}, "/reward/kserve/tls/existingSecret"),
    ({"reward": {"kserve": {"networkPolicy": {"allowAllNamespaces": "no"}}}},
     "/reward/kserve/networkPolicy/allowAllNamespaces"),
    ({"reward": {"kserve": {"networkPolicy": {"from": [{"pods": {"app": "x"}}]}}}}, "/reward/kserve/networkPolicy/from/0"),
    ({"reward": {"kserve": {"networkPolicy": {"from": [{}]}}}}, "/reward/kserve/networkPolicy/from/0"),
    ({"reward": {"kserve": {"annotations": {"replicas": 2}}}}, "/reward/kserve/annotations/replicas"),
    ({"config": {"reward_serving": {"max_queue": "big"}}}, "/config/reward_serving/max_queue"),
    ({"config": {"reward_serving": {"grpc_port": 70000}}}, "/config/reward_serving/grpc_port"),
])
def test_bad_values_are_rejected_naming_the_field(values, field):
    message = rejection(values)
    assert f"'{field}'" in message, message


def test_unknown_service_name_is_rejected():
    message = rejection({"services": {"policyInfrence": {"replicas": 1}}})
    assert "'/services'" in message and "policyInfrence" in message, message


def test_unknown_top_level_and_nested_keys_are_rejected():
    assert "replica" in rejection({"trainer": {"replica": 2}})
    assert "'/config/store'" in rejection({"config": {"store": {"bucket": "x"}}})


def test_unknown_kserve_keys_are_rejected():
    assert "replicas" in rejection({"reward": {"kserve": {"replicas": 2}}})
    assert "'/reward/kserve/auth'" in rejection({"reward": {"kserve": {"auth": {"secret": "x"}}}})
    assert "'/reward'" in rejection({"reward": {"kserv": {"enabled": True}}})
    assert "'/config/reward_serving'" in rejection({"config": {"reward_serving": {"tokens": "x"}}})


def test_serving_without_tokens_must_be_asked_for():
    """Enabled with no token Secret: refused, naming the switch that allows it; allowed with it."""
    message = rejection({"reward": {"kserve": {"enabled": True}}})
    assert "'/reward/kserve/auth/allowUnauthenticated'" in message and "true" in message, message
    chartlib.chart().validate_schema({"reward": {"kserve": {"enabled": True, "auth": {"allowUnauthenticated": True}}}})
    chartlib.chart().validate_schema({"reward": {"kserve": {"enabled": True, "auth": {"existingSecret": "tokens"}}}})
    chartlib.chart().validate_schema({"reward": {"kserve": {"enabled": False}}})  # off: nothing required


def test_knative_mode_refuses_tls_in_the_pod():
    for mode in ("Knative", "Serverless"):
        message = rejection({"reward": {"kserve": {"enabled": True, "deploymentMode": mode,
                                                   "auth": {"existingSecret": "t"}, "tls": {"existingSecret": "tls"}}}})
        assert "'/reward/kserve/tls/existingSecret'" in message, message
    chartlib.chart().validate_schema({"reward": {"kserve": {"deploymentMode": "Standard", "tls": {"existingSecret": "tls"}}}})


def test_missing_model_uri_is_rejected():
    # values.yaml has defaults, so a model goes missing when a user nulls it (`--set ...model=null`
    # or `model: null` in a values file): Helm deletes the key and the schema's `required` fires.
    message = rejection({"services": {"rewardScoring": {"model": None}}})
    assert "'/services/rewardScoring'" in message and "missing property 'model'" in message, message
    message = rejection({"services": {"policyInference": {"model": "  "}}})
    assert "'/services/policyInference/model'" in message, message


def test_minio_off_requires_an_external_endpoint_and_secret():
    message = rejection({"minio": {"enabled": False}})
    assert "'/externalS3/endpoint'" in message or "'/externalS3'" in message, message
    message = rejection({"minio": {"enabled": False}, "externalS3": {"endpoint": "s3.example.com:443"}})
    assert "existingSecret" in message, message
    assert "externalS3/endpoint" in rejection({"minio": {"enabled": False},
                                               "externalS3": {"endpoint": "https://s3.example.com", "existingSecret": "s"}})


@pytest.mark.parametrize("variant", list(chartlib.VARIANTS) + list(chartlib.EXAMPLES))
def test_good_values_pass(variant):
    chartlib.chart().validate_schema(chartlib.values_of(variant))


def test_config_schema_is_derived_from_rlhf_config():
    """values.schema.json's `config` is json_schema(Config): `make chart-schema` regenerates it."""
    from rlhf.config import json_schema

    config = dict(chartlib.chart().schema["properties"]["config"])
    config.pop("description")
    assert config == json_schema(), "values.schema.json is stale: run `make chart-schema`"


@pytest.mark.parametrize("values, field", [
    ({"config": {"ppo": {"stepz": 3}}}, "/config/ppo"),
    ({"config": {"sft": {"batch_size": 0}}}, "/config/sft/batch_size"),
    ({"config": {"ppo": {"learning_rate": "fast"}}}, "/config/ppo/learning_rate"),
    ({"config": {"ppo": {"push_dtype": "fp16"}}}, "/config/ppo/push_dtype"),
    ({"config": {"label": {"k": 12}}}, "/config/label/k"),
])
def test_config_section_rejects_unknown_ill_typed_and_out_of_range_fields(values, field):
    message = rejection(values)
    assert f"'{field}'" in message, message


@pytest.mark.parametrize("written", [1e-5, "1e-5", "2E-5", "1.0e-5"])
def test_scientific_floats_reach_the_pods_config(written, tmp_path):
    """However a values file or `--set` writes 1e-5, the rendered config.yaml loads with it."""
    from rlhf.config import load_config

    objects = chartlib.render_values({"config": {"ppo": {"learning_rate": written, "kl_coef": written}}})
    config_file = tmp_path / "config.yaml"
    config_file.write_text(chartlib.one(objects, "ConfigMap", f"{chartlib.RELEASE}-config")["data"]["config.yaml"])
    config = load_config(config_file)
    assert float(written) == config.ppo.learning_rate == config.ppo.kl_coef
