"""Ed25519 signatures over JSON records, and the keyring of trusted public keys.

Where keys come from
--------------------
* signing key: ``$CORPUSMILL_SIGNING_KEY`` (PEM text) > ``$CORPUSMILL_SIGNING_KEY_FILE`` (a PEM
  file) > ``<key dir>/signing_key.pem``; ``corpusmill keys init`` writes the last one (mode 0600).
* trusted keys: ``$CORPUSMILL_TRUSTED_KEYS`` (a file) > ``<key dir>/trusted_keys``. One key a line:
  ``<name> ed25519 <base64 public key>``; ``#`` starts a comment. ``keys init`` adds its own key.
* key dir: ``$CORPUSMILL_KEY_DIR`` > ``~/.config/corpusmill``.

Trust is local on purpose: a key found next to the data in the catalog would prove nothing,
since whoever can change the data could change that key too.

What is signed is the canonical JSON of a record without its ``signature`` block; the block
names the key (``key_id`` = first 16 hex digits of the sha256 of the raw public key) and holds,
besides the signature, the digest of each top-level field, so a failed check can say which
fields were changed.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from manifests.manifest import canonical_json
from corpusmill_base.errors import ConfigError

SIGNATURE_FIELD = "signature"
ALGORITHM = "ed25519"


def key_dir() -> Path:
    return Path(os.environ.get("CORPUSMILL_KEY_DIR") or Path.home() / ".config" / "corpusmill")


def _raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(pub: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw_public(pub)).hexdigest()[:16]


def public_b64(pub: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw_public(pub)).decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    origin: str  # where it was loaded from (never the key itself)

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)


def _load_pem(data: bytes, origin: str) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"signing key from {origin} is not an unencrypted PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key from {origin} is not an Ed25519 key")
    return SigningKey(key, origin)


@overload
def load_signing_key(required: Literal[True] = ...) -> SigningKey: ...
@overload
def load_signing_key(required: bool) -> SigningKey | None: ...
def load_signing_key(required: bool = True) -> SigningKey | None:
    """The configured signing key; ``None`` (or a ConfigError when ``required``) if there is none."""
    if os.environ.get("CORPUSMILL_SIGNING_KEY"):
        return _load_pem(os.environ["CORPUSMILL_SIGNING_KEY"].encode(), "$CORPUSMILL_SIGNING_KEY")
    path = Path(os.environ.get("CORPUSMILL_SIGNING_KEY_FILE") or key_dir() / "signing_key.pem")
    if path.exists():
        return _load_pem(path.read_bytes(), str(path))
    if required:
        raise ConfigError(
            f"no signing key: set $CORPUSMILL_SIGNING_KEY or $CORPUSMILL_SIGNING_KEY_FILE, "
            f"or run `corpusmill keys init` (writes {path})"
        )
    return None


def trusted_keys_path() -> Path:
    return Path(os.environ.get("CORPUSMILL_TRUSTED_KEYS") or key_dir() / "trusted_keys")


@dataclass(frozen=True)
class TrustedKey:
    name: str
    key_id: str
    public: Ed25519PublicKey


def load_trusted_keys(path: Path | None = None) -> dict[str, TrustedKey]:
    """key_id → trusted key. A malformed line is an error naming the line."""
    path = path or trusted_keys_path()
    out: dict[str, TrustedKey] = {}
    if not path.exists():
        return out
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3 or parts[1] != ALGORITHM:
            raise ConfigError(f"{path}:{n}: expected `<name> ed25519 <base64 public key>`")
        try:
            pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(parts[2], validate=True))
        except ValueError as e:
            raise ConfigError(f"{path}:{n}: not an Ed25519 public key ({e})") from None
        out[key_id_of(pub)] = TrustedKey(parts[0], key_id_of(pub), pub)
    return out


def check_key_name(name: str) -> None:
    """A key name is what review records and reports show as the reviewer: one printable word of
    at most 64 characters (a 100,000-character name and ANSI escapes were taken)."""
    if not name or len(name) > 64 or not name.isprintable() or any(c.isspace() for c in name):
        raise ConfigError(f"key name {name[:80]!r}{'…' if len(name) > 80 else ''} must be one printable word of at most 64 characters")


def trust(name: str, pub: Ed25519PublicKey, path: Path | None = None) -> bool:
    """Add a public key to the trusted keys file; False when it was already there."""
    path = path or trusted_keys_path()
    check_key_name(name)
    if key_id_of(pub) in load_trusted_keys(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{name} {ALGORITHM} {public_b64(pub)}\n")
    return True


def init_key(name: str, force: bool = False) -> tuple[Path, SigningKey]:
    """Create a new signing key file (0600) and trust its public key."""
    check_key_name(name)  # before anything is written: `--force` with a bad name replaced the key, then failed to trust it
    path = Path(os.environ.get("CORPUSMILL_SIGNING_KEY_FILE") or key_dir() / "signing_key.pem")
    if path.exists() and not force:
        key = _load_pem(path.read_bytes(), str(path))
        trust(name, key.public)
        return path, key
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(tmp, path)
    key = SigningKey(private, str(path))
    trust(name, key.public)
    return path, key


def _payload(record: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in record.items() if k != SIGNATURE_FIELD}).encode("utf-8")


def field_digests(record: dict[str, Any]) -> dict[str, str]:
    return {
        k: hashlib.sha256(canonical_json(v).encode("utf-8")).hexdigest()[:16]
        for k, v in sorted(record.items())
        if k != SIGNATURE_FIELD
    }


def sign(record: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """A copy of ``record`` with a ``signature`` block over everything else."""
    body = {k: v for k, v in record.items() if k != SIGNATURE_FIELD}
    sig = key.private.sign(_payload(body))
    return body | {
        SIGNATURE_FIELD: {
            "algorithm": ALGORITHM,
            "key_id": key.key_id,
            "public_key": public_b64(key.public),
            "fields": field_digests(body),
            "value": base64.b64encode(sig).decode("ascii"),
        }
    }


def check(record: dict[str, Any], trusted: dict[str, TrustedKey], what: str) -> list[str]:
    """Problems with a signed record (empty = signature valid and by a trusted key)."""
    block = record.get(SIGNATURE_FIELD)
    if not isinstance(block, dict) or "value" not in block:
        return [f"{what}: not signed"]
    if block.get("algorithm") != ALGORITHM:
        return [f"{what}: unsupported signature algorithm {block.get('algorithm')!r}"]
    key = trusted.get(str(block.get("key_id")))
    if key is None:
        return [f"{what}: signed by key {block.get('key_id')} which is not in the trusted keys ({trusted_keys_path()})"]
    try:
        key.public.verify(base64.b64decode(block["value"]), _payload(record))
    except (InvalidSignature, ValueError):
        changed = changed_fields(record, block.get("fields") or {})
        detail = f"changed since signing: {', '.join(changed)}" if changed else "signature does not match its content"
        return [f"{what}: signature by {key.name} ({key.key_id}) is invalid — {detail}"]
    return []


def changed_fields(record: dict[str, Any], signed_digests: dict[str, str]) -> list[str]:
    now = field_digests(record)
    names = sorted(set(now) | set(signed_digests))
    return [
        f"{n} ({'added' if n not in signed_digests else 'removed' if n not in now else 'modified'})"
        for n in names
        if now.get(n) != signed_digests.get(n)
    ]


def signer_name(record: dict[str, Any], trusted: dict[str, TrustedKey]) -> str | None:
    """The trusted name of the key that signed ``record`` (None when the key is not trusted)."""
    block = record.get(SIGNATURE_FIELD) or {}
    key = trusted.get(str(block.get("key_id")))
    return key.name if key else None
