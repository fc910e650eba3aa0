"""labelStudio.enabled: Label Studio as a Deployment with its own PVC, a Service, the admin account
and API token in a Secret, an optional Ingress; the label and eval stages get its URL and token.
The rendered container also runs, as rendered, from Label Studio's environment on this machine."""

from __future__ import annotations

import base64
import os

import pytest
import yaml

import chartlib
from chartlib import NAMESPACE, find, one

LS = "rlhf-label-studio"


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def stage_container(objects: list[dict], stage: str) -> dict:
    job = one(objects, "Job", f"rlhf-{stage}")
    return next(c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == stage)


def config_of(objects: list[dict]) -> dict:
    return yaml.safe_load(one(objects, "ConfigMap", "rlhf-config")["data"]["config.yaml"])


def test_off_by_default():
    objects = chartlib.render("default")
    assert not [o for o in objects if o["metadata"]["name"].startswith(LS)]
    assert "LABEL_STUDIO_TOKEN" not in env_of(stage_container(objects, "label"))
    assert "label" not in config_of(objects) or "label_studio" not in config_of(objects)["label"]


def test_deployment_with_persistent_storage_service_secret_and_ingress():
    objects = chartlib.render("label_studio")
    deployment = one(objects, "Deployment", LS)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "heartexlabs/label-studio:1.23.2"
    assert container["args"][:2] == ["label-studio", "start"] and "--enable-legacy-api-token" in container["args"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # SQLite on a ReadWriteOnce volume
    env = env_of(container)
    for name, key in (("LABEL_STUDIO_USERNAME", "username"), ("LABEL_STUDIO_PASSWORD", "password"),
                      ("LABEL_STUDIO_USER_TOKEN", "token")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": LS, "key": key}
    assert env["LABEL_STUDIO_HOST"]["value"] == "https://label.example.com"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"

    (volume,) = pod["volumes"]
    claim = one(objects, "PersistentVolumeClaim", f"{LS}-data")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/label-studio/data"}]

    secret = one(objects, "Secret", LS)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["username"] == "admin@rlhf.local" and len(data["password"]) == 24 and len(data["token"]) == 40

    service = one(objects, "Service", LS)
    assert service["spec"]["ports"][0]["port"] == 8080
    assert chartlib.labels_match(service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    ingress = one(objects, "Ingress", LS)
    assert ingress["spec"]["rules"][0]["host"] == "label.example.com"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": LS,
                                                                                    "port": {"name": "http"}}
    assert ingress["spec"]["tls"] == [{"hosts": ["label.example.com"], "secretName": "label-tls"}]


def test_label_and_eval_stages_reach_it_with_the_token():
    objects = chartlib.render("label_studio")
    for stage in ("label", "eval"):
        token = env_of(stage_container(objects, stage))["LABEL_STUDIO_TOKEN"]
        assert token["valueFrom"]["secretKeyRef"] == {"name": LS, "key": "token"}
    assert "LABEL_STUDIO_TOKEN" not in env_of(stage_container(objects, "data"))  # only the stages that call it
    url = config_of(objects)["label"]["label_studio"]["url"]
    assert url == f"http://{LS}.{NAMESPACE}.svc.cluster.local:8080"


def test_the_users_url_and_an_existing_secret_win():
    objects = chartlib.render_values({
        "labelStudio": {"enabled": True, "existingSecret": "team-ls"},
        "config": {"label": {"source": "label-studio", "label_studio": {"url": "https://ls.team.example"}}}})
    assert not find(objects, "Secret", LS)
    assert config_of(objects)["label"] == {"source": "label-studio", "label_studio": {"url": "https://ls.team.example"}}
    assert env_of(stage_container(objects, "label"))["LABEL_STUDIO_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "team-ls"
    assert not find(objects, "Ingress", LS)


def test_an_ingress_without_a_host_is_refused():
    with pytest.raises(Exception, match="labelStudio.host"):
        chartlib.render_values({"labelStudio": {"enabled": True, "ingress": {"enabled": True}}})


def test_the_notes_say_how_labelers_reach_it():
    assert "Label Studio (labelers):  https://label.example.com" in chartlib.notes("label_studio")
    manifests = chartlib.chart().render({"labelStudio": {"enabled": True}}, name=chartlib.RELEASE,
                                        namespace=NAMESPACE, is_install=True)
    notes = manifests["rlhf/templates/NOTES.txt"]
    assert f"kubectl -n {NAMESPACE} port-forward svc/{LS} 8080:8080, then http://127.0.0.1:8080" in notes


def test_the_charts_label_studio_starts_and_takes_the_secrets_token(tmp_path):
    """The rendered container's args and env (the Secret's values in place of its references), run
    by Label Studio's own environment on this machine: it starts, and the token the label and eval
    stages send is accepted (the first start enabled legacy tokens and gave the admin this one)."""
    from pipelines.labelstudio import LabelStudio
    from tests.helpers import free_port
    from tests.labelstudio.server import LS_BIN, LabelStudioServer

    if not LS_BIN.exists():
        pytest.skip(f"Label Studio's environment is absent ({LS_BIN}); `make label-studio-env` builds it")
    objects = chartlib.render("label_studio")
    (container,) = one(objects, "Deployment", LS)["spec"]["template"]["spec"]["containers"]
    secret = {k: base64.b64decode(v).decode() for k, v in one(objects, "Secret", LS)["data"].items()}
    env = {e["name"]: e["value"] if "value" in e else secret[e["valueFrom"]["secretKeyRef"]["key"]]
           for e in container["env"]}
    env["LABEL_STUDIO_BASE_DATA_DIR"] = str(tmp_path)  # the PVC's mount, here
    port = free_port()
    args = container["args"]
    assert args[0] == "label-studio"
    args = [{"0.0.0.0": "127.0.0.1", "8080": str(port)}.get(a, a) for a in args[1:]]  # this machine, a free port
    server = LabelStudioServer(tmp_path, args=args, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
                               port=port, users=False)
    try:
        client = LabelStudio(server.url, env["LABEL_STUDIO_USER_TOKEN"], timeout_s=20)
        assert client.check()["email"] == secret["username"] == "admin@rlhf.local"
    finally:
        server.stop()
