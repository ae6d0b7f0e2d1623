"""The simulator's side of sensitive-data encryption: decrypting ``Mobile`` with its demo key pair.

The simulator holds its own demo key pair (``batchverify/simulator/keys``; public, never for
production) since nobody but Tencent can decrypt with Tencent's keys.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from batchverify.errors import EncryptionError
from batchverify.tencent.crypto import (
    AES_256_CBC,
    ALGORITHMS,
    ENCRYPTED_FIELD,
    GCM_TAG_LEN,
    SM4_GCM,
    canonical_algorithm,
    load_public_key,
    read_key_file,
    sm2_decrypt,
    sm2_private_key_int,
)

SIMULATOR_KEYS_DIR = Path(__file__).resolve().parent / "keys"


class DecryptFailure(Exception):
    """Why the simulator cannot decrypt a request: the API error ``code`` and ``message`` to reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


_DECRYPT_ERROR = "FailedOperation.DecryptSystemError"


@dataclass(frozen=True)
class _Parts:
    algorithm: str
    blob: bytes
    iv: bytes
    ciphertext: bytes
    tag: bytes


def _unb64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise DecryptFailure(_DECRYPT_ERROR, f"`{field}` is missing or not a base64 string.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptFailure(_DECRYPT_ERROR, f"`{field}` is not valid base64.") from None


class Decryptor:
    """Decrypts an encrypted ``Mobile`` with a private key pair (the scheme of ``tencent.crypto``).

    ``rsa_private_pem``: PEM RSA private key (PKCS#1 or PKCS#8). ``sm2_private``: SM2 private key as
    PKCS#8/SEC1 PEM text or 64 hex chars. Raises EncryptionError if either cannot be loaded.

    Unwrapping an SM2 blob costs ~6 ms of pure-Python CPU, and clients reuse one wrapped key for
    minutes, so unwrapped SM2 keys are remembered per blob (bounded, thread-safe).
    """

    _SM2_CACHE_SIZE = 256

    def __init__(self, rsa_private_pem: bytes, sm2_private: str) -> None:
        try:
            key = serialization.load_pem_private_key(rsa_private_pem, password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("not an RSA key")
            self._rsa = key
            self._sm2 = sm2_private_key_int(sm2_private)
        except (ValueError, TypeError, IndexError, binascii.Error, UnsupportedAlgorithm):
            raise EncryptionError("the simulator's private key pair cannot be loaded") from None
        self._sm2_keys: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def _unwrap_sm2(self, blob: bytes) -> bytes:
        with self._lock:
            key = self._sm2_keys.get(blob)
            if key is not None:
                self._sm2_keys.move_to_end(blob)
                return key
        key = sm2_decrypt(self._sm2, blob)
        with self._lock:
            self._sm2_keys[blob] = key
            while len(self._sm2_keys) > self._SM2_CACHE_SIZE:
                self._sm2_keys.popitem(last=False)
        return key

    @staticmethod
    def _parts(params: Mapping[str, object]) -> _Parts | None:
        """The decoded pieces, or None when ``EncryptList`` is empty (nothing is encrypted)."""
        enc = params.get("Encryption")
        if not isinstance(enc, Mapping):
            raise DecryptFailure("InvalidParameter", "Parameter `Encryption` type error.")
        names = enc.get("EncryptList", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DecryptFailure("InvalidParameter", "Parameter `Encryption.EncryptList` type error.")
        for name in names:
            if name != ENCRYPTED_FIELD:
                raise DecryptFailure(
                    "InvalidParameter.UnsupportEncryptField",
                    f"The field `{name[:40]}` cannot be encrypted; only `Mobile` can.",
                )
        if not names:
            return None
        algorithm = enc.get("Algorithm") or AES_256_CBC
        if algorithm not in ALGORITHMS:
            raise DecryptFailure(_DECRYPT_ERROR, "Unsupported `Encryption.Algorithm`.")
        assert isinstance(algorithm, str)
        tag = b""
        if algorithm == SM4_GCM:
            tags = enc.get("TagList")
            if not isinstance(tags, list) or len(tags) <= names.index(ENCRYPTED_FIELD):
                raise DecryptFailure(_DECRYPT_ERROR, "`Encryption.TagList` lacks the tag of `Mobile`.")
            tag = _unb64(tags[names.index(ENCRYPTED_FIELD)], "Encryption.TagList")
        return _Parts(
            algorithm=algorithm,
            blob=_unb64(enc.get("CiphertextBlob"), "Encryption.CiphertextBlob"),
            iv=_unb64(enc.get("Iv"), "Encryption.Iv"),
            ciphertext=_unb64(params.get("Mobile"), "Mobile"),
            tag=tag,
        )

    def decrypt_mobile(self, params: Mapping[str, object]) -> str:
        """The clear-text ``Mobile`` of request ``params`` that carry an ``Encryption`` object.

        Raises DecryptFailure: ``InvalidParameter.UnsupportEncryptField`` when ``EncryptList`` names
        anything but ``Mobile``, ``FailedOperation.DecryptSystemError`` when decryption fails.
        """
        parts = self._parts(params)
        if parts is None:
            mobile = params.get("Mobile")
            return mobile if isinstance(mobile, str) else ""
        try:
            if parts.algorithm == AES_256_CBC:
                key = self._rsa.decrypt(parts.blob, padding.PKCS1v15())
                if len(key) != 32 or len(parts.iv) != 16:
                    raise ValueError("bad key or IV length")
                dec = Cipher(algorithms.AES(key), modes.CBC(parts.iv)).decryptor()
                padded = dec.update(parts.ciphertext) + dec.finalize()
                unpadder = sympadding.PKCS7(128).unpadder()
                plain = unpadder.update(padded) + unpadder.finalize()
            else:
                key = self._unwrap_sm2(parts.blob)
                if len(key) != 16 or len(parts.iv) != 12 or len(parts.tag) != GCM_TAG_LEN:
                    raise ValueError("bad key, IV or tag length")
                gcm = Cipher(algorithms.SM4(key), modes.GCM(parts.iv, parts.tag)).decryptor()
                plain = gcm.update(parts.ciphertext) + gcm.finalize()
            return plain.decode("utf-8")
        except (ValueError, TypeError, InvalidTag, UnicodeDecodeError):
            raise DecryptFailure(_DECRYPT_ERROR, "Decryption of the sensitive data failed.") from None


def simulator_public_key(algorithm: str) -> bytes:
    """The simulator's demo public key for ``algorithm`` (PEM; RSA for AES-256-CBC, SM2 for SM4-GCM)."""
    name = "rsa_public.pem" if canonical_algorithm(algorithm) == AES_256_CBC else "sm2_public.pem"
    return load_public_key(SIMULATOR_KEYS_DIR / name)


def simulator_decryptor() -> Decryptor:
    """A Decryptor holding the simulator's demo private keys from ``batchverify/simulator/keys``."""
    rsa_pem = read_key_file(SIMULATOR_KEYS_DIR / "rsa_private.pem", "private key")
    sm2_pem = read_key_file(SIMULATOR_KEYS_DIR / "sm2_private.pem", "private key")
    return Decryptor(rsa_pem, sm2_pem.decode("ascii"))
