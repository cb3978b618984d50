"""Throwaway EC signing keys for the tests: generated per run with `cryptography`, never committed."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from src import artifacts, signing


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


def ec_key_pair(folder: Path, name: str = "signer") -> KeyPair:
    """A P-256 key pair as PEM files in `folder` (the curve sigstore bundles use for keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return KeyPair(private, public)


def signed_copy(pair: Path, folder: Path, keys: KeyPair) -> Path:
    """The gated pair in `pair` (and nothing else) copied to `folder` and signed there; returns the model path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):
        shutil.copy(pair / name, folder / name)
    model = folder / artifacts.MODEL_FILE
    signing.sign(model, private_key=keys.private)
    return model
