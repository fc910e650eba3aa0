"""Uploads the bundled demo record sets (prompts, demonstrations, pretraining text) to the
data-store: the same sets `rlhf run` starts from (pipelines.local.upload_demo_data). The chart's
`stages.data` Job runs it; disable that stage when you load your own data.

    python seed_demo_data.py --config /etc/rlhf/config.yaml
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)

    from pipelines.common import data_store
    from pipelines.local import upload_demo_data
    from rlhf.config import load_config

    with data_store(load_config(args.config)) as store:
        upload_demo_data(store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
