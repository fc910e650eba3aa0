"""The `rlhf` command.

  rlhf serve SERVICE      one of the four gRPC services, until SIGTERM
  rlhf serve reward-kserve  the reward model for other teams (KServe OIP over gRPC and REST)
  rlhf reward publish DIR a reward model as a new version in the store, for reward-kserve
  rlhf train sft|rm|ppo   a training stage (the PPO trainer also runs under torchrun / PyTorchJob)
  rlhf label              sample K completions per prompt and rank them
  rlhf eval               SFT vs PPO vs PPO-ptx report
  rlhf run                the whole loop on this machine (the embedded default)
  rlhf data import        load record sets (bundled demo data, JSONL files or URIs) into the data-store
  rlhf model upload       a model directory to the store, for stages and services to load by URI
  rlhf pipeline compile   write the Kubeflow pipeline YAML (pipelines/rlhf_pipeline.yaml)
  rlhf pipeline run-local the Kubeflow pipeline on this machine (kfp.local, services on 127.0.0.1)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import logging
import sys

from pipelines.local import PRESETS
from rlhf.config import Config, ConfigError, RewardServingConfig, ServiceConfig, load_config
from rlhf.data.records import RecordKind

SERVICES = {
    "policy-inference": ("services.policy_inference", "policy_inference"),
    "reward-scoring": ("services.reward_scoring", "reward_scoring"),
    "reference-kl": ("services.reference_kl", "reference_kl"),
    "data-store": ("services.data_store", "data_store"),
}
REWARD_KSERVE = "reward-kserve"  # not a runtime.Service: configured by config.reward_serving


def _set_torch_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def _serve(args: argparse.Namespace) -> None:
    from services.runtime import serve

    config: Config = load_config(args.config, overrides=args.set)
    if args.service == REWARD_KSERVE:
        return _serve_reward_kserve(args, config)
    module_name, section = SERVICES[args.service]
    service_config: ServiceConfig = getattr(config.services, section)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(ServiceConfig)
                 if getattr(args, f.name, None) is not None}
    service_config = dataclasses.replace(service_config, **overrides)
    _set_torch_threads(service_config.torch_threads)
    module = importlib.import_module(module_name)
    service = module.build(service_config, config)
    asyncio.run(serve(service, service_config))


def _serve_reward_kserve(args: argparse.Namespace, config: Config) -> None:
    """`--port` and `--metrics-port` stand for `--grpc-port` and `--http-port` (the HTTP port serves
    /metrics), so the local runner and the tests start it like the other services."""
    from services.reward_kserve.server import serve

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(RewardServingConfig)
                 if getattr(args, f.name, None) is not None}
    if args.port is not None and args.grpc_port is None:
        overrides["grpc_port"] = args.port
    if args.metrics_port is not None and args.http_port is None:
        if args.metrics_port < 0:
            raise ConfigError("--metrics-port: reward-kserve serves /metrics on its HTTP port, which stays on")
        overrides["http_port"] = args.metrics_port
    if args.store:
        config.store.uri = args.store
    reward = dataclasses.replace(config.reward_serving, **overrides)
    _set_torch_threads(reward.torch_threads)
    asyncio.run(serve(reward, config))


def _reward_publish(args: argparse.Namespace) -> None:
    from rlhf.storage.versions import publish_version, version_uri

    config = load_config(args.config, overrides=args.set)
    store = args.store or config.store.uri
    repository = args.repository or config.reward_serving.repository
    if not repository:
        raise ConfigError("reward_serving.repository: no repository to publish to (--repository NAME)")
    version = publish_version(args.model_dir, store, repository, args.version)
    print(f"published {args.model_dir} as version {version}: {version_uri(store, repository, version)}", flush=True)


def _train(args: argparse.Namespace) -> None:
    config = load_config(args.config, overrides=args.set)
    if args.stage == "sft":
        from pipelines.sft import train_sft
        train_sft(config)
    elif args.stage == "rm":
        from pipelines.rm import train_rm
        train_rm(config)
    else:
        from pipelines.ppo import train_ppo
        if args.resume:
            config.ppo.resume = True
        train_ppo(config)


def _label(args: argparse.Namespace) -> None:
    from pipelines.label import label
    label(load_config(args.config, overrides=args.set))


def _eval(args: argparse.Namespace) -> None:
    from pipelines.evaluate import evaluate
    evaluate(load_config(args.config, overrides=args.set))


def _run(args: argparse.Namespace) -> None:
    from pipelines.data import parse_sources
    from pipelines.local import PRESETS, run_local

    overrides = [*PRESETS.get(args.preset, []), *args.set]  # the user's --set win over the preset
    config = load_config(args.config, overrides=overrides)
    if args.base_model:
        config.sft.base_model = args.base_model
    if args.run_id:
        config.run.run_id = args.run_id
    config.run.data.update(parse_sources(args.data))
    run_local(config, preset=args.preset or "")


def _data_import(args: argparse.Namespace) -> None:
    from pipelines.common import data_store
    from pipelines.data import import_data, parse_sources

    sources = parse_sources(args.sources)
    with data_store(load_config(args.config, overrides=args.set)) as store:
        import_data(store, sources, kind=args.kind)


def _model_upload(args: argparse.Namespace) -> None:
    from rlhf.storage.dirs import upload_dir

    objects = upload_dir(args.model_dir, args.uri)
    print(f"uploaded {len(objects)} files of {args.model_dir} to {args.uri}", flush=True)


def _pipeline_compile(args: argparse.Namespace) -> None:
    from pipelines.alignment_pipeline import COMPILED, compile_pipeline

    print(f"wrote {compile_pipeline(args.output or COMPILED)}")


def _pipeline_run_local(args: argparse.Namespace) -> None:
    from pipelines.local import run_pipeline_local

    arguments = {}
    for item in args.param:
        name, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE")
        arguments[name] = raw
    config = load_config(args.config, overrides=args.set)
    if args.run_id:
        config.run.run_id = args.run_id
    run_pipeline_local(config, arguments)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML/JSON config file (defaults apply without one)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override one config field, e.g. --set ppo.steps=4 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlhf", description="InstructGPT-style RLHF as gRPC services")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one gRPC service until SIGTERM")
    serve.add_argument("service", choices=sorted([*SERVICES, REWARD_KSERVE]))
    _add_config_args(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int, help="gRPC port (0: pick a free one)")
    serve.add_argument("--metrics-port", type=int, help="Prometheus port (0: pick a free one, -1: off)")
    serve.add_argument("--model", help="model directory (policy-inference, reward-scoring, reference-kl, reward-kserve)")
    serve.add_argument("--store", help="store URI: file://DIR or s3://BUCKET")
    serve.add_argument("--max-batch-size", type=int)
    serve.add_argument("--max-batch-tokens", type=int)
    serve.add_argument("--batch-wait-ms", type=float)
    serve.add_argument("--max-queue", type=int)
    serve.add_argument("--max-message-mb", type=int)
    serve.add_argument("--grace-seconds", type=float)
    serve.add_argument("--torch-threads", type=int, help="CPU threads for the model (0: torch's default)")
    serve.add_argument("--engine", choices=["hf", "vllm"], help="policy-inference's sampler (vllm: needs the vLLM env)")
    kserve = serve.add_argument_group("reward-kserve (config section reward_serving; --port and --metrics-port "
                                      "set its gRPC and HTTP ports)")
    kserve.add_argument("--grpc-port", type=int, help="OIP gRPC + rlhf.v1.RewardScoring port (0: pick a free one)")
    kserve.add_argument("--http-port", type=int, help="OIP REST + /metrics port (0: pick a free one)")
    kserve.add_argument("--model-name", help="the OIP model name (default: reward)")
    kserve.add_argument("--repository", help="store prefix of published versions, polled for new ones")
    kserve.add_argument("--reload-interval-s", type=float, help="seconds between polls of the repository")
    kserve.add_argument("--keep-versions", type=int, help="newest versions kept loaded (pinnable)")
    kserve.add_argument("--tokens-file", help="bearer tokens, one per line (unset: auth off)")
    kserve.add_argument("--tls-cert-file", help="PEM certificate chain (with --tls-key-file: TLS on both ports)")
    kserve.add_argument("--tls-key-file", help="PEM private key")
    kserve.add_argument("--rate-limit-per-second", type=float, help="requests/s per token (0: no limit)")
    kserve.add_argument("--rate-limit-burst", type=int, help="requests a token may make at once")
    serve.set_defaults(run=_serve)

    reward = commands.add_parser("reward", help="reward model versions for reward-kserve").add_subparsers(
        dest="action", required=True)
    publish = reward.add_parser("publish", help="upload a reward model as a new version: <store>/<repository>/<version>/")
    publish.add_argument("model_dir", help="the reward model directory (safetensors + tokenizer)")
    publish.add_argument("--version", help="a whole number (default: one more than the newest); versions are immutable")
    publish.add_argument("--repository", help="store prefix (default: reward_serving.repository)")
    publish.add_argument("--store", help="store URI (default: store.uri)")
    _add_config_args(publish)
    publish.set_defaults(run=_reward_publish)

    train = commands.add_parser("train", help="run a training stage")
    train.add_argument("stage", choices=["sft", "rm", "ppo"])
    train.add_argument("--resume", action="store_true", help="ppo: continue from the run's latest checkpoint")
    _add_config_args(train)
    train.set_defaults(run=_train)

    for name, fn, text in (("label", _label, "sample K completions per prompt and rank them"),
                           ("eval", _eval, "evaluate SFT, PPO and PPO-ptx and write the report")):
        sub = commands.add_parser(name, help=text)
        _add_config_args(sub)
        sub.set_defaults(run=fn)

    run = commands.add_parser("run", help="the whole loop on this machine: services on 127.0.0.1, runs/<id>/")
    run.add_argument("--base-model", help='model to start from: a directory, a store URI, or "smollm2" (bundled, '
                     "the default)")
    run.add_argument("--data", action="append", default=[], metavar="RECORD_SET=SOURCE",
                     help="import this record set at the start (adds to or replaces run.data), e.g. "
                          "--data comparisons/train=pairs.jsonl (repeatable)")
    run.add_argument("--preset", choices=sorted(PRESETS),
                     help="tiny: the whole loop on random 2-layer models in about a minute, to try your data first")
    run.add_argument("--run-id", help="name of the run directory under runs/")
    _add_config_args(run)
    run.set_defaults(run=_run)

    data = commands.add_parser("data", help="record sets in the data-store").add_subparsers(dest="action", required=True)
    data_import = data.add_parser(
        "import", help="load record sets into the data-store; every file is validated before any is stored",
        description="Loads JSONL record sets into the data-store. A set's kind comes from its first path segment "
                    "(prompts/..., demonstrations..., comparisons/..., general/... or text/...) unless --kind says "
                    "otherwise. SOURCE is `demo` (the bundled set of that name), a store URI (s3://BUCKET/KEY, "
                    "file:///PATH) or a local path. See the README, \"Your own data\".")
    data_import.add_argument("sources", nargs="+", metavar="RECORD_SET=SOURCE",
                             help="e.g. comparisons/train=pairs.jsonl demonstrations=s3://bucket/demos.jsonl "
                                  "prompts/train=demo")
    data_import.add_argument("--kind", choices=[k.value for k in RecordKind],
                             help="the record kind of every set given (default: from each set's name)")
    _add_config_args(data_import)
    data_import.set_defaults(run=_data_import)

    model = commands.add_parser("model", help="model directories in the store").add_subparsers(
        dest="action", required=True)
    upload = model.add_parser("upload", help="copy a model directory (e.g. a base model) to a store URI, which "
                                             "sft.base_model and the other model fields accept")
    upload.add_argument("model_dir", help="a Hugging Face model directory (config.json, weights, tokenizer)")
    upload.add_argument("uri", help="where: s3://BUCKET/PREFIX (endpoint and keys from $RLHF_S3_ENDPOINT, "
                                    "$AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY) or file:///DIR")
    upload.set_defaults(run=_model_upload)

    pipeline = commands.add_parser("pipeline", help="the Kubeflow pipeline rlhf-alignment").add_subparsers(
        dest="action", required=True)
    compile_ = pipeline.add_parser("compile", help="write the pipeline YAML to upload in the Kubeflow Pipelines UI")
    compile_.add_argument("--output", help="where to write it (default: pipelines/rlhf_pipeline.yaml)")
    compile_.set_defaults(run=_pipeline_compile)
    run_local = pipeline.add_parser("run-local", help="run the pipeline on this machine (kfp.local, no cluster)")
    run_local.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                           help="a pipeline parameter, e.g. --param ppo_steps=2 --param k=4 (repeatable)")
    run_local.add_argument("--run-id", help="name of the run directory under runs/")
    _add_config_args(run_local)
    run_local.set_defaults(run=_pipeline_run_local)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    from rlhf.clients.base import ServiceError

    try:
        args.run(args)
    except (ConfigError, FileNotFoundError, ValueError, ServiceError) as exc:
        sys.exit(f"rlhf: {exc}")


if __name__ == "__main__":
    main()
