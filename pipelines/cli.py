"""The `rlhf` command: `rlhf serve SERVICE` runs one of the four gRPC services."""

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

    config: Config = load_config(args.config)
    module_name, section = SERVICES[args.service]
    service_config: ServiceConfig = getattr(config.services, section)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(ServiceConfig)
                 if getattr(args, f.name, None) is not None}
    service_config = dataclasses.replace(service_config, **overrides)
    if args.service == "data-store" and not service_config.store:
        service_config.store = config.store.uri
    module = importlib.import_module(module_name)
    service = module.build(service_config, config)
    asyncio.run(serve(service, service_config))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlhf", description="InstructGPT-style RLHF as gRPC services")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one gRPC service until SIGTERM")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--config", help="YAML/JSON config file (defaults apply without one)")
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
    serve.set_defaults(run=_serve)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ConfigError, FileNotFoundError) as exc:
        sys.exit(f"rlhf: {exc}")


if __name__ == "__main__":
    main()
