"""Sign the gated pair, and verify it before a model serves.

The record's sha256 proves the model is the file the record describes, but
whoever can write the artifact folder can write a consistent, better-looking
record too. A signature over both files, in the OpenSSF model-signing format
(a sigstore bundle holding an in-toto statement that lists each file's
digest), moves the trust from "can write the folder" to "holds the key" (or,
keyless, "is this CI workflow").

    python -m src.signing sign --key KEY.pem DIR          # EC private key: local use, tests
    python -m src.signing sign --keyless DIR              # sigstore, the ambient OIDC identity (GitHub Actions)
    python -m src.signing verify --public-key PUB.pem DIR
    python -m src.signing verify --identity ID [--issuer URL] DIR

Only the pair is signed (`model_candidate.skops` and `metrics.json`, or
`--model NAME` and the metrics.json beside it), never anything else in DIR,
so a `rejected/` folder or a log beside the pair changes nothing. The
signature, `model.sig`, lives beside the pair. Each failure is one line;
exit codes (src/exits.py): 0 done, 1 `verify` said no (unsigned, tampered,
another signer), 2 bad arguments or a pair `sign` cannot sign. A failed
`sign` leaves the previous signature as it was.

`TrustSettings` is where the service and the rollout learn whom to trust:
unset, nothing is verified (as before signing existed).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from src import artifacts, atomic, exits

if TYPE_CHECKING:  # model_signing pulls in sigstore, a slow import (docs/benchmarks.md): loaded only for a signature
    from model_signing import hashing

SIGNATURE_FILE = "model.sig"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
# model_signing reports a list's repr: a name is quoted 'x' or, when a digest's bytes hold a quote, \'x\'
_CHANGED = re.compile(r"Hash mismatch for \\?'([^'\\]+)\\?'")


class SignatureError(artifacts.ArtifactError):
    """The pair is unsigned, signed by someone else, or not the bytes that were signed."""


class TrustSettings(BaseSettings):
    """Whom the service and the rollout trust to have signed the gated pair (unset: no signature is checked)."""

    model_config = SettingsConfigDict(env_prefix="", env_ignore_empty=True, frozen=True, extra="ignore")

    trusted_public_key: Path | None = Field(
        default=None, description="EC public key (PEM): the pair must carry model.sig signed by its private key"
    )
    trusted_identity: str | None = Field(
        default=None, description="or a sigstore keyless identity (e.g. the CI workflow's URI) that signed model.sig"
    )
    trusted_oidc_issuer: str = Field(default=GITHUB_ISSUER, description="the OIDC issuer of TRUSTED_IDENTITY")

    @property
    def required(self) -> bool:
        return self.trusted_public_key is not None or self.trusted_identity is not None


def signature_path(model_path: Path) -> Path:
    return Path(model_path).with_name(SIGNATURE_FILE)


def _pair(model_path: Path, record_path: Path | None = None) -> tuple[Path, list[Path]]:
    """The folder and the two files a signature covers; the record must sit beside the model."""
    model_path = Path(model_path)
    record_path = Path(record_path) if record_path else artifacts.record_path_for(model_path)
    folder = model_path.parent
    if record_path.parent.resolve() != folder.resolve():
        raise SignatureError(f"{record_path} is not beside {model_path}: a signature covers a pair in one folder")
    files = [model_path, folder / record_path.name]
    for path in files:
        if not path.is_file():
            raise SignatureError(f"no {path.name} in {folder}: nothing to sign or verify")
    return folder, files


def _pair_hashing(files: list[Path]) -> hashing.Config:
    """model_signing's default file hashing (sha256 per file), restricted to exactly these files.

    The library hashes every file under the folder unless told otherwise;
    verify uses the same restriction, so a signature naming any other set of
    files than this pair is a mismatch, not a pass.
    """
    from model_signing import hashing

    class PairHashing(hashing.Config):
        def hash(self, model_path: Any, *, files_to_hash: Any = None) -> Any:
            return super().hash(model_path, files_to_hash=files)

    return PairHashing()


def sign(
    model_path: Path, *, private_key: Path | None = None, keyless: bool = False, identity_token: str | None = None
) -> Path:
    """Write model.sig beside the pair (temp file + rename: a failed signing keeps the old signature)."""
    from model_signing import signing

    folder, files = _pair(model_path)
    if private_key is None and not keyless:
        raise SignatureError("sign needs --key KEY.pem or --keyless")
    target = signature_path(model_path)
    token = identity_token or (_ambient_token() if private_key is None else None)
    try:
        config = signing.Config().set_hashing_config(_pair_hashing(files))
        if private_key is not None:
            config.use_elliptic_key_signer(private_key=private_key)
        else:
            config.use_sigstore_signer(use_ambient_credentials=False, identity_token=token)
        temp = atomic.stage(target, lambda path: config.sign(folder, path))
    except Exception as exc:  # not an EC key, no OIDC identity, sigstore unreachable: one line either way
        raise SignatureError(f"signing {folder} failed: {_one_line(exc)}") from None
    temp.replace(target)
    return target


def _ambient_token() -> str:
    """The environment's OIDC token (GitHub Actions with id-token: write); never the interactive browser flow."""
    from sigstore.oidc import detect_credential

    token = detect_credential()
    if not token:
        raise SignatureError("keyless signing found no ambient OIDC identity (GitHub Actions: id-token: write)")
    return token


def verify(
    model_path: Path,
    record_path: Path | None = None,
    *,
    public_key: Path | None = None,
    identity: str | None = None,
    issuer: str = GITHUB_ISSUER,
) -> None:
    """Raise SignatureError (one line) unless model.sig beside the pair signs exactly these bytes."""
    folder, files = _pair(model_path, record_path)
    signature = signature_path(files[0])
    if not signature.is_file():
        raise SignatureError(f"{folder} has no signature {SIGNATURE_FILE}: refusing an unsigned pair")
    if public_key is not None and not Path(public_key).is_file():
        raise SignatureError(f"the trusted public key {public_key} does not exist")
    from model_signing import verifying

    config = verifying.Config().set_hashing_config(_pair_hashing(files))
    if public_key is not None:
        config.use_elliptic_key_verifier(public_key=public_key)
    elif identity is not None:
        config.use_sigstore_verifier(identity=identity, oidc_issuer=issuer)
    else:
        raise SignatureError("verify needs --public-key PUB.pem or --identity ID")
    try:
        config.verify(folder, signature)
    except Exception as exc:  # the library raises ValueError, protobuf and crypto errors alike: all mean "not trusted"
        raise SignatureError(f"{signature} does not verify the pair in {folder}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """The library's failure in a few words: which files differ (its digests are bytes reprs), else its message."""
    text = str(exc)
    changed = _CHANGED.findall(text)
    if changed:
        return f"{', '.join(changed)} not the signed bytes"
    if text.startswith("Signature mismatch"):
        return "it signs another set of files than this pair"
    return _one_line(exc)


def _one_line(exc: Exception) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:240]


def verify_trusted(model_path: Path, record_path: Path | None = None, trust: TrustSettings | None = None) -> bool:
    """Verify against what TrustSettings names; False (nothing checked) when it names nobody."""
    trust = trust or TrustSettings()
    if not trust.required:
        return False
    verify(
        model_path,
        record_path,
        public_key=trust.trusted_public_key,
        identity=trust.trusted_identity,
        issuer=trust.trusted_oidc_issuer,
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.signing", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    put = verbs.add_parser("sign", help="sign the gated pair in DIR (writes DIR/model.sig)")
    how = put.add_mutually_exclusive_group(required=True)
    how.add_argument("--key", type=Path, help="EC private key (PEM)")
    how.add_argument("--keyless", action="store_true", help="sigstore keyless, with the ambient OIDC identity")
    check = verbs.add_parser("verify", help="verify DIR/model.sig against the pair in DIR")
    who = check.add_mutually_exclusive_group(required=True)
    who.add_argument("--public-key", type=Path, help="EC public key (PEM)")
    who.add_argument("--identity", help="the keyless signer's identity (e.g. a workflow URI)")
    check.add_argument("--issuer", default=GITHUB_ISSUER, help=f"the identity's OIDC issuer (default {GITHUB_ISSUER})")
    for verb in (put, check):
        verb.add_argument("--model", default=artifacts.MODEL_FILE, help="the model file's name in DIR")
        verb.add_argument("dir", type=Path, help="the folder holding the pair")
    args = parser.parse_args(argv)
    model = args.dir / args.model
    try:
        if args.verb == "sign":
            print(f"signed {sign(model, private_key=args.key, keyless=args.keyless)}")
        else:
            verify(model, public_key=args.public_key, identity=args.identity, issuer=args.issuer)
            print(f"verified: {signature_path(model)} signs {model.name} and {artifacts.METRICS_FILE} in {args.dir}")
    except (artifacts.ArtifactError, OSError, ValueError) as exc:
        print(f"{args.verb} failed: {' '.join(str(exc).split())}", file=sys.stderr)
        return exits.NO if args.verb == "verify" else exits.REFUSED
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
