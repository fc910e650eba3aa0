"""Record schemas, JSONL loading with line-numbered errors, sampling, and the bundled demo data."""
