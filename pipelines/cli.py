"""The `rlhf` command.

  rlhf serve SERVICE      one of the four gRPC services, until SIGTERM
  rlhf train sft|rm|ppo   a training stage (the PPO trainer also runs under torchrun / PyTorchJob)
  rlhf label              sample K completions per prompt and rank them
  rlhf eval               SFT vs PPO vs PPO-ptx report
  rlhf run                the whole loop on this machine (the embedded default)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import logging
import sys

from rlhf.config import Config, ConfigError, ServiceConfig, load_config

SERVICES = {
    "policy-inference": ("services.policy_inference", "policy_inference"),
    "reward-scoring": ("services.reward_scoring", "reward_scoring"),
    "reference-kl": ("services.reference_kl", "reference_kl"),
    "data-store": ("services.data_store", "data_store"),
}


def _serve(args: argparse.Namespace) -> None:
    from services.runtime import serve

    config: Config = load_config(args.config, overrides=args.set)
    module_name, section = SERVICES[args.service]
    service_config: ServiceConfig = getattr(config.services, section)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(ServiceConfig)
                 if getattr(args, f.name, None) is not None}
    service_config = dataclasses.replace(service_config, **overrides)
    if args.service == "data-store" and not service_config.store:
        service_config.store = config.store.uri
    if service_config.torch_threads > 0:
        import torch

        torch.set_num_threads(service_config.torch_threads)
    module = importlib.import_module(module_name)
    service = module.build(service_config, config)
    asyncio.run(serve(service, service_config))


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
    from pipelines.local import run_local
    config = load_config(args.config, overrides=args.set)
    if args.base_model:
        config.sft.base_model = args.base_model
    if args.run_id:
        config.run.run_id = args.run_id
    run_local(config)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML/JSON config file (defaults apply without one)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override one config field, e.g. --set ppo.steps=4 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlhf", description="InstructGPT-style RLHF as gRPC services")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one gRPC service until SIGTERM")
    serve.add_argument("service", choices=sorted(SERVICES))
    _add_config_args(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int, help="gRPC port (0: pick a free one)")
    serve.add_argument("--metrics-port", type=int, help="Prometheus port (0: pick a free one, -1: off)")
    serve.add_argument("--model", help="model directory (policy-inference, reward-scoring, reference-kl)")
    serve.add_argument("--store", help="store URI: file://DIR or s3://BUCKET")
    serve.add_argument("--max-batch-size", type=int)
    serve.add_argument("--max-batch-tokens", type=int)
    serve.add_argument("--batch-wait-ms", type=float)
    serve.add_argument("--max-queue", type=int)
    serve.add_argument("--max-message-mb", type=int)
    serve.add_argument("--grace-seconds", type=float)
    serve.add_argument("--torch-threads", type=int, help="CPU threads for the model (0: torch's default)")
    serve.set_defaults(run=_serve)

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
    run.add_argument("--base-model", help='model directory to start from (default: "smollm2", bundled)')
    run.add_argument("--run-id", help="name of the run directory under runs/")
    _add_config_args(run)
    run.set_defaults(run=_run)
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
