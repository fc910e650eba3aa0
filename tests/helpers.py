"""Small helpers several test modules share: a free loopback port, one Prometheus sample, a
self-signed TLS certificate, and completion log-probs recomputed in float64."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(url: str, sample: str, **labels: str) -> float:
    """The value of `sample` with `labels` on a /metrics page; 0 when it has not been recorded."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(url, timeout=10).read().decode()
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


def self_signed(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """(tls.crt, tls.key) in `directory`: a certificate for `host` and 127.0.0.1 that is its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def float64_completion_logprobs(model, ids: np.ndarray, prompt_length: int, temperature: float = 1.0) -> np.ndarray:
    """log softmax of the unpadded float64 logits (over `temperature`), read at each completion token."""
    import torch  # here: the chart and Label Studio tests import this module without needing torch

    input_ids = torch.as_tensor(ids, dtype=torch.long)[None]
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits[0].double() / temperature
    logprobs = torch.log_softmax(logits, -1)[:-1].gather(-1, input_ids[0, 1:, None]).squeeze(-1)
    return logprobs[prompt_length - 1:].numpy()
