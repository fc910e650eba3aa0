"""The `rlhf` command.

  rlhf serve SERVICE      one of the four gRPC services, until SIGTERM
  rlhf serve reward-kserve  the reward model for other teams (KServe OIP over gRPC and REST)
  rlhf reward publish DIR a reward model as a new version in the store, for reward-kserve
  rlhf train sft|rm|ppo   a training stage (the PPO trainer also runs under torchrun / PyTorchJob)
  rlhf label              sample K completions per prompt and rank them (or push them to Label Studio)
  rlhf label sync         pull the finished Label Studio rankings into comparison record sets
  rlhf eval               SFT vs PPO vs PPO-ptx report
  rlhf run                the whole loop on this machine (the embedded default)
  rlhf data import        load record sets (bundled demo data, JSONL files or URIs) into the data-store
  rlhf store upload       a local file or directory (base model, JSONL data) to a store URI
  rlhf pipeline compile   write the Kubeflow pipeline YAML (pipelines/rlhf_pipeline.yaml)
  rlhf pipeline run-local the Kubeflow pipeline on this machine (kfp.local, services on 127.0.0.1)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import logging
import sys
import textwrap
import typing
from pathlib import Path

from pipelines.data import import_data, parse_sources
from pipelines.labelstudio import LabelStudioError
from pipelines.local import PRESET_DATA, PRESETS, run_local
from pipelines.seeds import run_seeds
from rlhf.allocator import keep_freed_memory
from rlhf.clients.base import ServiceError
from rlhf.config import Config, ConfigError, RewardServingConfig, ServiceConfig, field_docs, load_config
from rlhf.data.records import RecordKind
from rlhf.storage import S3Settings, configure, write_uri
from rlhf.storage.dirs import upload_dir

SERVICES = {
    "policy-inference": ("services.policy_inference", "policy_inference"),
    "reward-scoring": ("services.reward_scoring", "reward_scoring"),
    "reference-kl": ("services.reference_kl", "reference_kl"),
    "data-store": ("services.data_store", "data_store"),
}
REWARD_KSERVE = "reward-kserve"  # not a runtime.Service: configured by config.reward_serving


def _config(args: argparse.Namespace, overrides: list[str] | None = None) -> Config:
    """The command's config (--config, then --set or `overrides`); the store it names is how this
    process reaches s3:// URIs (models, data, reports) from here on."""
    config = load_config(args.config, overrides=args.set if overrides is None else overrides)
    configure(S3Settings.from_config(config.store))
    return config


def _set_torch_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def _flag_overrides(args: argparse.Namespace, cls: type, section: str) -> list[str]:
    """`--set` overrides for the flags `_add_field_flags` made from `cls`, so the config loader
    checks them like any other value."""
    hints = typing.get_type_hints(cls, include_extras=True)
    overrides = []
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            quoted = _base_type(hints[f.name]) not in (int, float)
            overrides.append(f"{section}.{f.name}={json.dumps(value) if quoted else value}")
    return overrides


def _serve(args: argparse.Namespace) -> None:
    from services.runtime import serve

    if args.service == REWARD_KSERVE:
        return _serve_reward_kserve(args)
    module_name, section = SERVICES[args.service]
    config = _config(args, [*args.set, *_flag_overrides(args, ServiceConfig, f"services.{section}")])
    service_config: ServiceConfig = getattr(config.services, section)
    _set_torch_threads(service_config.torch_threads)
    module = importlib.import_module(module_name)
    service = module.build(service_config, config)
    asyncio.run(serve(service, service_config))


def _serve_reward_kserve(args: argparse.Namespace) -> None:
    """`--port` and `--metrics-port` stand for `--grpc-port` and `--http-port` (the HTTP port serves
    /metrics), so the local runner and the tests start it like the other services; `--store` is
    the store its versions are published in."""
    from services.reward_kserve.server import serve

    if args.metrics_port is not None and int(args.metrics_port) < 0:
        raise ConfigError("--metrics-port: reward-kserve serves /metrics on its HTTP port, which stays on")
    args.grpc_port = args.grpc_port if args.grpc_port is not None else args.port
    args.http_port = args.http_port if args.http_port is not None else args.metrics_port
    overrides = _flag_overrides(args, RewardServingConfig, "reward_serving")
    if args.store:
        overrides.append(f"store.uri={json.dumps(args.store)}")
    config = _config(args, [*args.set, *overrides])
    _set_torch_threads(config.reward_serving.torch_threads)
    asyncio.run(serve(config.reward_serving, config))


def _reward_publish(args: argparse.Namespace) -> None:
    from rlhf.storage.versions import publish_version, version_uri

    config = _config(args)
    store = args.store or config.store.uri
    repository = args.repository or config.reward_serving.repository
    if not repository:
        raise ConfigError("reward_serving.repository: no repository to publish to (--repository NAME)")
    version = publish_version(args.model_dir, store, repository, args.version)
    print(f"published {args.model_dir} as version {version}: {version_uri(store, repository, version)}", flush=True)


def _train(args: argparse.Namespace) -> None:
    config = _config(args)
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
    from pipelines.label import label, sync
    if getattr(args, "action", None) == "sync":
        sync(_config(args))
    else:
        label(_config(args))


def _eval(args: argparse.Namespace) -> None:
    from pipelines.evaluate import evaluate
    evaluate(_config(args))


def _run(args: argparse.Namespace) -> None:
    overrides = [*PRESETS.get(args.preset, []), *args.set]  # the user's --set win over the preset
    config = _config(args, overrides)
    if args.base_model:
        config.sft.base_model = args.base_model
    if args.run_id:
        config.run.run_id = args.run_id
    config.run.data.update({**PRESET_DATA.get(args.preset, {}), **parse_sources(args.data)})
    if args.seeds:
        run_seeds(config, args.seeds, preset=args.preset or "")
        return
    run_local(config, preset=args.preset or "")


def _data_import(args: argparse.Namespace) -> None:
    from pipelines.common import data_store  # torch

    sources = parse_sources(args.sources)
    with data_store(_config(args)) as store:
        import_data(store, sources, kind=args.kind)


def _store_upload(args: argparse.Namespace) -> None:
    _config(args)  # how to reach the store
    path = Path(args.path)
    if path.is_file():
        info = write_uri(args.uri, path.read_bytes())
        print(f"uploaded {path} ({info.size} bytes) to {args.uri}", flush=True)
        return
    objects = upload_dir(path, args.uri)
    print(f"uploaded {len(objects)} files of {path} to {args.uri}", flush=True)


def _pipeline_compile(args: argparse.Namespace) -> None:
    from pipelines.alignment_pipeline import COMPILED, compile_pipeline

    print(f"wrote {compile_pipeline(args.output or COMPILED)}")


def _pipeline_run_local(args: argparse.Namespace) -> None:
    from pipelines.alignment_pipeline import run_local

    arguments = {}
    for item in args.param:
        name, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE")
        arguments[name] = raw
    config = _config(args)
    if args.run_id:
        config.run.run_id = args.run_id
    run_local(config, arguments)


def _base_type(tp):
    """int, float, str, bool or a Literal: the type under a field's Annotated range."""
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def _add_field_flags(group, cls: type, taken: set[str]) -> None:
    """One --flag per field of `cls` (not already in `taken`), with the field's docstring as help."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        if f.name in taken:
            continue
        taken.add(f.name)
        tp = _base_type(hints[f.name])
        kwargs: dict = {"dest": f.name, "help": docs.get(f.name, "").replace("%", "%%")}
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(tp) is typing.Literal:
            kwargs["choices"] = typing.get_args(tp)
        else:
            kwargs["metavar"] = {int: "N", float: "X"}.get(tp, f.name.upper())
        group.add_argument(f"--{f.name.replace('_', '-')}", **kwargs)


def _fields_epilog(section: str, cls: type) -> str:
    """The stage's settings, each as `--set section.field=VALUE` with its default and docstring."""
    docs, defaults = field_docs(cls), cls()
    lines = [f"settings (--set {section}.FIELD=VALUE, or the {section} section of --config):"]
    for f in dataclasses.fields(cls):
        lines.append(f"  {f.name} = {getattr(defaults, f.name)!r}")
        lines += textwrap.wrap(docs.get(f.name, ""), 96, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML/JSON config file (defaults apply without one)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override one config field, e.g. --set ppo.steps=4 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlhf", description="InstructGPT-style RLHF as gRPC services")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one gRPC service until SIGTERM",
                                description="Runs one service until SIGTERM. Every flag is the field of the same name "
                                            "in the service's config section (services.<name>, or reward_serving "
                                            "for reward-kserve), checked like --set.")
    serve.add_argument("service", choices=sorted([*SERVICES, REWARD_KSERVE]))
    _add_config_args(serve)
    taken: set[str] = set()
    _add_field_flags(serve.add_argument_group("services.<name>"), ServiceConfig, taken)
    _add_field_flags(serve.add_argument_group("reward-kserve (config section reward_serving; --port and "
                                              "--metrics-port set its gRPC and HTTP ports)"),
                     RewardServingConfig, taken)
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

    train = commands.add_parser("train", help="run a training stage (also under torchrun)").add_subparsers(
        dest="stage", required=True)
    for stage in ("sft", "rm", "ppo"):
        cls = type(getattr(Config(), stage))
        sub = train.add_parser(stage, help=cls.__doc__.splitlines()[0], description=cls.__doc__,
                               epilog=_fields_epilog(stage, cls), formatter_class=argparse.RawDescriptionHelpFormatter)
        if stage == "ppo":
            sub.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
        _add_config_args(sub)
        sub.set_defaults(run=_train)

    for name, fn, text in (("label", _label, "sample K completions per prompt and rank them"),
                           ("eval", _eval, "evaluate SFT, PPO and PPO-ptx and write the report")):
        sub = commands.add_parser(name, help=text)
        if name == "label":
            sub.add_argument("action", nargs="?", choices=["sync"],
                             help="sync: pull the finished Label Studio rankings into the comparison record sets "
                                  "(label.source=label-studio)")
        _add_config_args(sub)
        sub.set_defaults(run=fn)

    run = commands.add_parser("run", help="the whole loop on this machine: services on 127.0.0.1, runs/<id>/")
    run.add_argument("--base-model", help='model to start from: a directory, a store URI, or "smollm2" (bundled, '
                     "the default)")
    run.add_argument("--data", action="append", default=[], metavar="RECORD_SET=SOURCE",
                     help="import this record set at the start (adds to or replaces run.data), e.g. "
                          "--data comparisons/train=pairs.jsonl (repeatable)")
    run.add_argument("--preset", choices=sorted(PRESETS),
                     help="tiny: the whole loop on random 2-layer models in about a minute, to try your data first; "
                          "validation: RM accuracy, in-training win rate and the report on prompts/validation "
                          "instead of prompts/heldout, to choose settings without touching the held-out prompts")
    run.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                     help="run the loop once per seed (every stage's seed) and write runs/<id>-seeds.md: every "
                          "number of the report with its mean and spread (with the same --run-id, a seed that already "
                          "finished with the same settings is read, not run again)")
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

    store = commands.add_parser("store", help="objects in the store").add_subparsers(dest="action", required=True)
    upload = store.add_parser("upload", help="copy a local file or directory to a store URI: a base model "
                                             "(sft.base_model and every model field accept the URI) or JSONL data "
                                             "(rlhf data import and the chart's data.sources accept it)")
    upload.add_argument("path", help="a file, or a directory (e.g. a Hugging Face model: config.json, weights, "
                                     "tokenizer)")
    upload.add_argument("uri", help="where: s3://BUCKET/KEY (endpoint from the config's store section or "
                                    "$RLHF_S3_ENDPOINT, keys from $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY) or "
                                    "file:///PATH")
    _add_config_args(upload)
    upload.set_defaults(run=_store_upload)

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
    keep_freed_memory()  # every command: the run, its stages and services, torchrun's workers
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ConfigError, FileNotFoundError, ValueError, ServiceError, LabelStudioError) as exc:
        sys.exit(f"rlhf: {exc}")


if __name__ == "__main__":
    main()
