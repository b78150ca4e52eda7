"""A throwaway certificate authority and server leaf for the end-to-end suite.

The fake provider must present a certificate that both the test clients (direct runs) and the gateway
(`gateway.upstream_ca`) trust for the real API host names, because the gateway keeps the original TLS
name when it maps a host to 127.0.0.1. The openssl CLI is used rather than a Python crypto package so the
suite needs nothing beyond the standard library to make them.

Usage: `python certs.py DIR` prints the paths as JSON.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

#: Every name a test may reach the fake provider as (the gateway dials it under the real API names).
LEAF_NAMES: tuple[str, ...] = (
    "DNS:api.anthropic.com",
    "DNS:api.openai.com",
    "DNS:generativelanguage.googleapis.com",
    "DNS:chatgpt.com",
    "DNS:localhost",
    "IP:127.0.0.1",
)

_DAYS = "30"


@dataclass(frozen=True)
class CertPaths:
    """Where `make_test_ca` put its files (all PEM)."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    leaf_cert: Path
    leaf_key: Path


def _openssl(*args: str | Path) -> None:
    """Runs openssl, turning a failure into an error that shows its stderr (a bare exit code says nothing)."""
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args[:2]))} failed: {result.stderr.strip()}")


def _new_p256_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)


def _make_ca(cert: Path, key: Path) -> None:
    _new_p256_key(key)
    _openssl(
        "req", "-x509", "-new", "-key", key, "-out", cert, "-days", _DAYS, "-sha256",
        "-subj", "/O=Flightlog e2e/CN=Flightlog e2e test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )


def _make_leaf(directory: Path, ca_cert: Path, ca_key: Path, cert: Path, key: Path) -> None:
    _new_p256_key(key)
    csr = directory / "leaf.csr"
    extensions = directory / "leaf.ext"
    _openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/O=Flightlog e2e/CN=api.anthropic.com")
    # Strict verifiers (swift-certificates, Python 3.13's VERIFY_X509_STRICT) want the key identifiers too.
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join(LEAF_NAMES)}\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid:always\n"
    )
    # A random serial (not -CAcreateserial) so no .srl file is left behind and two runs never collide.
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-out", cert, "-days", _DAYS, "-sha256",
        "-set_serial", f"0x{secrets.token_hex(8)}", "-extfile", extensions,
    )
    csr.unlink()
    extensions.unlink()


def make_test_ca(directory: str | Path) -> CertPaths:
    """Creates `ca.pem`/`ca.key` and `leaf.pem`/`leaf.key` (P-256) in `directory` and returns their paths."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(
        directory=root,
        ca_cert=root / "ca.pem",
        ca_key=root / "ca.key",
        leaf_cert=root / "leaf.pem",
        leaf_key=root / "leaf.key",
    )
    _make_ca(paths.ca_cert, paths.ca_key)
    _make_leaf(root, paths.ca_cert, paths.ca_key, paths.leaf_cert, paths.leaf_key)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: certs.py DIR")
    print(json.dumps({k: str(v) for k, v in asdict(make_test_ca(sys.argv[1])).items()}, indent=2))
