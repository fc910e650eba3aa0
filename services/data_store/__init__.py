"""The data-store service: `rlhf serve data-store --store file://DIR` (or s3://BUCKET)."""

from services.data_store.server import build

__all__ = ["build"]
