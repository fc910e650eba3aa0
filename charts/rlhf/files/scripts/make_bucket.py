"""Creates the bucket of config.store.uri (s3://BUCKET) when it is missing; run once per release.

    python make_bucket.py --config /etc/rlhf/config.yaml [--timeout SECONDS]

Retries until the endpoint answers (MinIO may still be starting); exits 1 after --timeout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)

    from rlhf.config import load_config
    from rlhf.storage.s3 import connect

    store = load_config(args.config).store
    if not store.uri.startswith("s3://"):
        print(f"make_bucket: store.uri {store.uri!r} is not s3://; nothing to do")
        return 0
    bucket = store.uri[len("s3://"):].split("/", 1)[0]
    # One try per loop turn, with the store's own timeouts: the loop is the retry.
    client = connect(store.endpoint or None, secure=store.secure, access_key=os.environ.get(store.access_key_env),
                     secret_key=os.environ.get(store.secret_key_env), retries=0)
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            if client.bucket_exists(bucket):
                print(f"make_bucket: s3://{bucket} exists on {store.endpoint}", flush=True)
            else:
                client.make_bucket(bucket)
                print(f"make_bucket: created s3://{bucket} on {store.endpoint}", flush=True)
            return 0
        except Exception as exc:
            if time.monotonic() >= deadline:
                print(f"make_bucket: s3://{bucket} on {store.endpoint}: {exc}", file=sys.stderr)
                return 1
            print(f"make_bucket: {store.endpoint} not ready ({type(exc).__name__}); retrying", flush=True)
            time.sleep(3)


if __name__ == "__main__":
    sys.exit(main())
