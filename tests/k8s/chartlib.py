"""Rendering charts/rlhf with Helm's own engine (helm_python, no helm binary, no cluster) and
checking rendered objects against the typed API models of kubernetes, kubeflow-training and kserve.

`render(variant)` is cached, so every test module shares one render per variant.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any, Iterator

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "rlhf"
RELEASE = "rlhf"
NAMESPACE = "rlhf-test"

EXTERNAL_S3 = {
    "minio": {"enabled": False},
    "externalS3": {"endpoint": "s3.example.com:443", "secure": True, "existingSecret": "team-s3",
                   "accessKeyKey": "access-key", "secretKeyKey": "secret-key"},
}

# name -> values overrides (merged over values.yaml by Helm)
VARIANTS: dict[str, dict] = {
    "default": {},
    "gpu_off": {"gpu": {"enabled": False}},
    "external_s3": EXTERNAL_S3,
    "workers4": {"trainer": {"workers": 4, "nprocPerNode": 2, "gpus": 2}},
    "service_monitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}},
                        "networkPolicy": {"rewardScoringNamespaces": ["eval-team", "labelers"]}},
    "stages_off": {"stages": {k: {"enabled": False} for k in ("data", "sft", "label", "rm", "eval")},
                   "trainer": {"enabled": False}, "store": {"createBucket": False}},
    # The reward model as a KServe InferenceService (reward.kserve), in each of its shapes:
    # Standard mode with auth, the trainer's own token, batching and rate limits, ServiceMonitor on;
    "kserve": {"reward": {"kserve": {
        "enabled": True, "auth": {"existingSecret": "reward-tokens", "clientSecret": "trainer-token"},
        "batching": {"maxBatchSize": 64, "batchWaitMs": 2.5, "maxQueue": 512}, "rateLimit": {"perSecond": 20, "burst": 40},
        "reloadIntervalSeconds": 30, "minReplicas": 1, "maxReplicas": 3, "scaleMetric": "cpu", "scaleTarget": 70,
        "nodeSelector": {"pool": "a100"}, "extraArgs": ["--log-level", "debug"]}},
        "metrics": {"serviceMonitor": {"enabled": True}}},
    # Knative mode, versions from the store, no auth (explicitly), scale to zero, CPU only;
    "kserve_knative": {"gpu": {"enabled": False}, "reward": {"kserve": {
        "enabled": True, "deploymentMode": "Knative", "repository": "reward-models", "minReplicas": 0,
        "auth": {"allowUnauthenticated": True}}}},
    # TLS (callers trust the CA from the TLS Secret), one token Secret for all, the allow-list
    # instead of every namespace, exposed through KServe's ingress.
    "kserve_tls": {"networkPolicy": {"rewardScoringNamespaces": ["team-a"]},
                   "reward": {"kserve": {
                       "enabled": True, "deploymentMode": "RawDeployment", "clusterLocal": False,
                       "auth": {"existingSecret": "reward-tokens"}, "tls": {"existingSecret": "reward-tls"},
                       "networkPolicy": {"allowAllNamespaces": False, "from": [
                           {"namespaceSelector": {"matchLabels": {"team": "b"}},
                            "podSelector": {"matchLabels": {"app": "scorer"}}}]}}}},
    # Label Studio for human labels, behind an HTTPS ingress.
    "label_studio": {"labelStudio": {"enabled": True, "host": "label.example.com",
                                     "ingress": {"enabled": True, "className": "nginx", "tlsSecret": "label-tls"}}},
}
KSERVE_VARIANTS = ["kserve", "kserve_knative", "kserve_tls", "example_reward_kserve"]
# The example values shipped in k8s/ are rendered and checked like the variants above.
EXAMPLES = {"example_gpu": ROOT / "k8s" / "values-gpu.yaml", "example_cpu_tiny": ROOT / "k8s" / "values-cpu-tiny.yaml",
            "example_reward_kserve": ROOT / "k8s" / "values-reward-kserve.yaml"}


def values_of(variant: str) -> dict:
    if variant in EXAMPLES:
        return yaml.safe_load(EXAMPLES[variant].read_text()) or {}
    return copy.deepcopy(VARIANTS[variant])


def effective_values(variant: str) -> dict:
    """values.yaml merged with the variant's values, as the templates see them."""
    return chart().merge_values(values_of(variant))


def kserve_on(variant: str) -> bool:
    return bool(effective_values(variant)["reward"]["kserve"]["enabled"])


@functools.lru_cache(maxsize=None)
def _chart():
    import helm_python

    return helm_python.Chart.load(str(CHART))


def chart():
    return _chart()


@functools.lru_cache(maxsize=None)
def _render(variant: str) -> tuple[tuple[str, str], ...]:
    manifests = chart().render(values_of(variant), name=RELEASE, namespace=NAMESPACE, is_install=True)
    return tuple(sorted(manifests.items()))


def render_values(values: dict) -> list[dict]:
    """Renders arbitrary values (uncached) into objects."""
    return _objects(tuple(sorted(chart().render(values, name=RELEASE, namespace=NAMESPACE).items())))


@functools.lru_cache(maxsize=None)
def _render_objects(variant: str) -> list[dict]:
    return _objects(_render(variant))


def render(variant: str) -> list[dict]:
    """The objects of one variant, parsed once per session: treat them as read-only
    (copy.deepcopy before changing one)."""
    return _render_objects(variant)


def _objects(manifests) -> list[dict]:
    objects = []
    for path, text in manifests:
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for doc in yaml.load_all(text, Loader=_LOADER):
            if doc:
                doc["_template"] = path
                objects.append(doc)
    return objects


def notes(variant: str) -> str:
    return dict(_render(variant)).get("rlhf/templates/NOTES.txt", "")


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict], kind: str, name: str) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def strip(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k != "_template"}


# ---- pods -------------------------------------------------------------------------------------

def pod_templates(objects: list[dict]) -> Iterator[tuple[str, dict, dict]]:
    """(owner "Kind/name[/replica]", pod metadata, pod spec) of every pod the objects create."""
    for o in objects:
        kind, name = o["kind"], o["metadata"]["name"]
        if kind in ("Deployment", "StatefulSet", "Job"):
            t = o["spec"]["template"]
            yield f"{kind}/{name}", t.get("metadata", {}), t["spec"]
        elif kind == "PyTorchJob":
            for replica, spec in o["spec"]["pytorchReplicaSpecs"].items():
                t = spec["template"]
                yield f"{kind}/{name}/{replica}", t.get("metadata", {}), t["spec"]
        elif kind == "Pod":
            yield f"Pod/{name}", o["metadata"], o["spec"]
        elif kind == "InferenceService":
            # KServe creates the predictor's pods from the pod fields of spec.predictor, with its
            # `labels` and `annotations` (the rest of the spec is KServe's: replicas, scaling).
            predictor = o["spec"]["predictor"]
            yield f"{kind}/{name}/predictor", predictor_pod_metadata(predictor), predictor_pod_spec(predictor)


def predictor_pod_metadata(predictor: dict) -> dict:
    return {"labels": predictor.get("labels", {}), "annotations": predictor.get("annotations", {})}


def predictor_pod_spec(predictor: dict) -> dict:
    import kubernetes.client.models as k8s

    pod_fields = set(k8s.V1PodSpec.attribute_map.values())
    return {k: v for k, v in predictor.items() if k in pod_fields}


def labels_match(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) or a plain map against labels."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# ---- typed models -----------------------------------------------------------------------------

TYPED = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("v1", "Pod"): "V1Pod",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("batch/v1", "Job"): "V1Job",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
    ("networking.k8s.io/v1", "Ingress"): "V1Ingress",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
    ("kubeflow.org/v1", "PyTorchJob"): "KubeflowOrgV1PyTorchJob",
    ("serving.kserve.io/v1beta1", "InferenceService"): "V1beta1InferenceService",
}
UNTYPED = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def model_class(name: str):
    import kubernetes.client.models as k8s
    import kserve.models as ks
    import kubeflow.training.models as kf

    for module in (k8s, kf, ks):
        cls = getattr(module, name, None)
        if cls is not None and hasattr(cls, "openapi_types"):
            return cls
    raise LookupError(f"no typed model named {name}")


_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(([^,]+), (.+)\)$")


def unknown_fields(data: Any, type_name: str, path: str = "") -> list[str]:
    """Every field of `data` the typed model `type_name` does not know, or whose value has the
    wrong JSON type, as "path: problem" (an empty list means the object fits the model)."""
    where = path or "<root>"
    if m := _LIST.match(type_name):
        if not isinstance(data, list):
            return [f"{where}: expected a list, got {type(data).__name__}"]
        return [p for i, item in enumerate(data) for p in unknown_fields(item, m.group(1), f"{path}[{i}]")]
    if m := _DICT.match(type_name):
        if not isinstance(data, dict):
            return [f"{where}: expected a mapping, got {type(data).__name__}"]
        return [p for k, v in data.items() for p in unknown_fields(v, m.group(2), f"{path}.{k}")]
    if type_name == "object":
        return []  # IntOrString, Quantity, free-form: any JSON value
    if type_name in ("str", "datetime", "date"):
        return [] if isinstance(data, str) else [f"{where}: expected a string, got {data!r}"]
    if type_name == "int":
        ok = isinstance(data, int) and not isinstance(data, bool)
        return [] if ok else [f"{where}: expected an integer, got {data!r}"]
    if type_name == "float":
        ok = isinstance(data, (int, float)) and not isinstance(data, bool)
        return [] if ok else [f"{where}: expected a number, got {data!r}"]
    if type_name == "bool":
        return [] if isinstance(data, bool) else [f"{where}: expected a boolean, got {data!r}"]
    cls = model_class(type_name)
    if not isinstance(data, dict):
        return [f"{where}: expected a {type_name} mapping, got {type(data).__name__}"]
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    problems = []
    for key, value in data.items():
        if key not in by_json:
            problems.append(f"{path + '.' if path else ''}{key}: unknown field of {type_name}")
            continue
        problems += unknown_fields(value, cls.openapi_types[by_json[key]], f"{path + '.' if path else ''}{key}")
    return problems


def deserialize(obj: dict):
    """The object as its typed model (also runs the models' required-field checks)."""
    type_name = TYPED[(obj["apiVersion"], obj["kind"])]
    cls = model_class(type_name)
    if cls.__module__.startswith("kserve."):
        # kserve's ApiClient resolves type names in kserve.models only, which lacks the Kubernetes
        # types its models refer to (V1ObjectMeta, V1Container...): build across all three.
        return build_model(strip(obj), type_name)
    if cls.__module__.startswith("kubeflow."):
        from kubeflow.training import ApiClient
    else:
        from kubernetes.client import ApiClient
    return ApiClient()._ApiClient__deserialize(strip(obj), type_name)


def build_model(data: Any, type_name: str):
    """Data as the typed model `type_name` (names resolved by model_class), constructed through
    the models' own constructors so their setters' required-field checks run."""
    if data is None:
        return None
    if m := _LIST.match(type_name):
        return [build_model(item, m.group(1)) for item in data]
    if m := _DICT.match(type_name):
        return {k: build_model(v, m.group(2)) for k, v in data.items()}
    if type_name in ("object", "str", "int", "float", "bool", "date", "datetime"):
        return data
    cls = model_class(type_name)
    kwargs = {attr: build_model(data[key], cls.openapi_types[attr])
              for attr, key in cls.attribute_map.items() if key in data}
    return cls(**kwargs)
