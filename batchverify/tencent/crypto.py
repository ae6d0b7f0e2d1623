"""FaceID sensitive-data encryption of ``Mobile``: the client side.

The scheme is the one of Tencent's official helper libraries (``faceid-api-crypto-{golang,java,
nodejs}``):

==================  =====================================  =====================================
step                AES-256-CBC (default)                  SM4-GCM
==================  =====================================  =====================================
symmetric key       32 random ``[A-Za-z0-9]`` chars        16 random ``[A-Za-z0-9]`` chars
IV (``Iv``)         16 random bytes, base64                12 random bytes, base64
``Mobile``          base64(AES-CBC(PKCS#7(utf-8)))         base64(SM4-GCM ciphertext, no tag)
``TagList``         ``[]``                                 ``[base64(16-byte tag)]``
``CiphertextBlob``  base64(RSA PKCS#1 v1.5(key)), 128 B    base64(SM2 C1C3C2, ``04`` prefix), 113 B
==================  =====================================  =====================================

``cryptography`` does RSA, AES and SM4; SM2 uses ``gmssl``'s curve arithmetic (pure Python: ~5 ms
per point multiplication on an idle core, so ~10 ms per key wrap and ~6 ms per unwrap) with our own
ephemeral scalar from :mod:`secrets`, because ``CryptSM2.encrypt`` draws it from :mod:`random`,
which is predictable. Decryption checks C3.
Both directions were checked against OpenSSL 3's SM2 (``openssl pkeyutl``, after re-encoding the
raw C1C3C2 as the GM/T 0009 ASN.1 structure OpenSSL uses).

The simulator's side (decryption with its own demo key pair) is :mod:`batchverify.simulator.decrypt`.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import string
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import sm3
from gmssl.sm2 import CryptSM2, default_ecc_table

from batchverify.errors import EncryptionError

AES_256_CBC = "AES-256-CBC"
SM4_GCM = "SM4-GCM"
ALGORITHMS = (AES_256_CBC, SM4_GCM)
ENCRYPTED_FIELD = "Mobile"

# How long one wrapped symmetric key is reused (seconds). Wrapping with SM2 costs two pure-Python
# point multiplications (~10 ms, far more on a busy CPU), which would block the event loop on every
# request; the official Node library's ``keyExpireTime`` reuses keys the same way. RSA wrapping
# costs ~0.04 ms: fresh key per call, as the Go and Java libraries do.
DEFAULT_KEY_LIFETIME: dict[str, float] = {AES_256_CBC: 0.0, SM4_GCM: 600.0}

# Tencent's published FaceID public keys (identical in the Go and Java helper libraries).
TENCENT_RSA_PUBLIC_KEY = b"""-----BEGIN RSA PUBLIC KEY-----
MIGJAoGBAMRJoaUkZN1d5Mp8F5V6itXmSLNM5Z771afayoI49SndkFtsspHS402Z
EUUPQfqbuZk/VuSh59LtA/fBKzb4BP5bV8aqogVhG4e/q+NDkwlaq0i31HwLyBla
EojE/EEHpXBsuEkVTbKEy5elRq9toL7IZ80i+H2mtfU5CPsar+R3AgMBAAE=
-----END RSA PUBLIC KEY-----
"""
TENCENT_SM2_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEy2QjbKC4L6LJpw51mjX90X41NYGa
Mp+OGX7eJBfs8K98MOtKN8wPjj1iqHUlW6qyPGggNPI5RGEoAXaojOVycg==
-----END PUBLIC KEY-----
"""

_ALNUM = string.ascii_letters + string.digits
_KEY_LEN = {AES_256_CBC: 32, SM4_GCM: 16}
_IV_LEN = {AES_256_CBC: 16, SM4_GCM: 12}
GCM_TAG_LEN = 16

_OID_EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1
_OID_SM2P256V1 = bytes.fromhex("2a811ccf5501822d")  # 1.2.156.10197.1.301
_SM2_P = int(default_ecc_table["p"], 16)
_SM2_A = int(default_ecc_table["a"], 16)
_SM2_B = int(default_ecc_table["b"], 16)
_SM2_N = int(default_ecc_table["n"], 16)
_SM2_G = str(default_ecc_table["g"])


def canonical_algorithm(name: str) -> str:
    """``AES-256-CBC`` or ``SM4-GCM`` for any spelling case of them; else EncryptionError."""
    for known in ALGORITHMS:
        if name.strip().upper() == known:
            return known
    raise EncryptionError(f"unknown encryption algorithm {name[:40]!r} (use aes-256-cbc or sm4-gcm)")


def read_key_file(path: Path, what: str) -> bytes:
    try:
        data = path.expanduser().read_bytes()
    except FileNotFoundError:
        raise EncryptionError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise EncryptionError(f"cannot read {what} file {path}: {type(exc).__name__}") from None
    if not data.strip():
        raise EncryptionError(f"{what} file is empty: {path}")
    return data


def load_public_key(path: Path) -> bytes:
    """The bytes of a public key file (``--encryption-public-key``); EncryptionError if unreadable."""
    return read_key_file(path, "public key")


# --- SM2 key formats and primitives ---------------------------------------------------------------


def _der_items(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) pairs of a DER sequence body; ValueError on malformed input."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated DER")
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            width = length & 0x7F
            if not 1 <= width <= 2 or pos + width > len(data):
                raise ValueError("bad DER length")
            length = int.from_bytes(data[pos : pos + width], "big")
            pos += width
        if pos + length > len(data):
            raise ValueError("truncated DER")
        items.append((tag, data[pos : pos + length]))
        pos += length
    return items


def _der_sequence(data: bytes) -> list[tuple[int, bytes]]:
    items = _der_items(data)
    if len(items) != 1 or items[0][0] != 0x30:
        raise ValueError("not a DER sequence")
    return _der_items(items[0][1])


def _pem_body(text: str) -> bytes | None:
    """The DER inside a PEM block, or None when ``text`` is not PEM."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or not lines[0].startswith("-----BEGIN"):
        return None
    body = "".join(line for line in lines[1:] if line and not line.startswith("-----"))
    return base64.b64decode(body, validate=True)


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < _SM2_P and 0 <= y < _SM2_P and (y * y - x * x * x - _SM2_A * x - _SM2_B) % _SM2_P == 0


def _sm2_point_hex(point: bytes) -> str:
    """128-hex X‖Y of an uncompressed ``04‖X‖Y`` point that lies on the SM2 curve."""
    if len(point) != 65 or point[0] != 4:
        raise ValueError("not an uncompressed SM2 point")
    if not _on_curve(int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")):
        raise ValueError("point not on the SM2 curve")
    return point[1:].hex()


def sm2_public_key_hex(key: bytes | str) -> str:
    """The 128-hex X‖Y of an SM2 public key given as SPKI PEM, or as 128/130 hex chars."""
    text = key.decode("ascii") if isinstance(key, bytes) else key
    der = _pem_body(text)
    if der is None:
        raw = bytes.fromhex(text.strip())
        return _sm2_point_hex(raw if len(raw) == 65 else b"\x04" + raw)
    algorithm, bits = _der_sequence(der)
    oids = [content for tag, content in _der_items(algorithm[1]) if tag == 0x06]
    if algorithm[0] != 0x30 or oids != [_OID_EC_PUBLIC_KEY, _OID_SM2P256V1] or bits[0] != 0x03:
        raise ValueError("not an SM2 SubjectPublicKeyInfo")
    return _sm2_point_hex(bits[1][1:])


def sm2_private_key_int(key: str) -> int:
    """The SM2 private scalar from PKCS#8 / SEC1 PEM (what ``openssl genpkey`` writes) or 64 hex."""
    der = _pem_body(key)
    if der is None:
        d = int(key.strip(), 16)
    else:
        items = _der_sequence(der)
        if items[0] == (0x02, b"\x00") and len(items) >= 3 and items[2][0] == 0x04:  # PKCS#8
            oids = [content for tag, content in _der_items(items[1][1]) if tag == 0x06]
            if oids != [_OID_EC_PUBLIC_KEY, _OID_SM2P256V1]:
                raise ValueError("not an SM2 private key")
            items = _der_sequence(items[2][1])
        if items[0] != (0x02, b"\x01") or items[1][0] != 0x04:  # SEC1 ECPrivateKey
            raise ValueError("not an EC private key")
        d = int.from_bytes(items[1][1], "big")
    if not 1 <= d < _SM2_N:
        raise ValueError("SM2 private key out of range")
    return d


def _sm2_mul(k: int, point_hex: str) -> str:
    """k·P as 128-hex X‖Y (gmssl's Jacobian ladder)."""
    result = CryptSM2(private_key=None, public_key="", mode=1)._kg(k, point_hex)
    if not isinstance(result, str) or len(result) != 128:
        raise ValueError("SM2 point multiplication failed")
    return result


def _sm2_kdf_xor(xy_hex: str, data: bytes) -> bytes:
    stream = bytes.fromhex(str(sm3.sm3_kdf(xy_hex.encode("ascii"), len(data))))
    if not any(stream):
        raise ValueError("SM2 KDF produced zeros")
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _sm3(data: bytes) -> bytes:
    return bytes.fromhex(str(sm3.sm3_hash(list(data))))


def sm2_encrypt(public_xy_hex: str, message: bytes) -> bytes:
    """SM2 public-key encryption, layout ``04‖X1‖Y1‖C3‖C2`` (C1C3C2, as Java/BouncyCastle send)."""
    while True:
        k = secrets.randbelow(_SM2_N - 1) + 1
        c1 = _sm2_mul(k, _SM2_G)
        shared = _sm2_mul(k, public_xy_hex)
        try:
            c2 = _sm2_kdf_xor(shared, message)
        except ValueError:  # all-zero KDF output: the standard says pick another k
            continue
        c3 = _sm3(bytes.fromhex(shared[:64]) + message + bytes.fromhex(shared[64:]))
        return b"\x04" + bytes.fromhex(c1) + c3 + c2


def sm2_decrypt(private_key: int, blob: bytes) -> bytes:
    """Inverse of :func:`sm2_encrypt`; ValueError unless the C3 hash matches."""
    if len(blob) < 65 + 32 + 1:
        raise ValueError("SM2 ciphertext too short")
    c1, c3, c2 = _sm2_point_hex(blob[:65]), blob[65:97], blob[97:]
    shared = _sm2_mul(private_key, c1)
    message = _sm2_kdf_xor(shared, c2)
    if not secrets.compare_digest(
        _sm3(bytes.fromhex(shared[:64]) + message + bytes.fromhex(shared[64:])), c3
    ):
        raise ValueError("SM2 C3 mismatch")
    return message


# --- client side ------------------------------------------------------------------------------------


def _load_rsa_public(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)  # PKCS#1 "RSA PUBLIC KEY" and SPKI "PUBLIC KEY"
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_MIN_RSA_BITS = 1024  # Tencent's key for AES-256-CBC is RSA-1024; a smaller one cannot be it


class Encryptor:
    """Encrypts ``Mobile`` for MobileStatus the way Tencent's official helper libraries do.

    ``algorithm`` is ``AES-256-CBC`` (symmetric key wrapped with RSA-1024 PKCS#1 v1.5) or ``SM4-GCM``
    (key wrapped with SM2); any letter case. ``public_key`` overrides Tencent's published key: PEM
    bytes for RSA (PKCS#1 ``RSA PUBLIC KEY`` or SPKI ``PUBLIC KEY``), SPKI PEM or 128/130-char hex
    for SM2.

    Every call gets a fresh random IV. The wrapped symmetric key is fresh per call for AES-256-CBC
    and reused for ``key_lifetime`` seconds (default 600) for SM4-GCM, because one SM2 wrap costs
    ~10 ms of pure-Python CPU (gmssl) against ~0.04 ms for a whole AES call; the official Node
    library offers the same reuse (``keyExpireTime``). Pass ``key_lifetime=0`` to wrap a new key
    every call. Thread-safe.
    """

    def __init__(
        self,
        algorithm: str = AES_256_CBC,
        public_key: bytes | None = None,
        *,
        key_lifetime: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.algorithm = canonical_algorithm(algorithm)
        self.key_lifetime = DEFAULT_KEY_LIFETIME[self.algorithm] if key_lifetime is None else key_lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[bytes, str, float] | None = None  # (key, wrapped b64, created at)
        self._rsa: rsa.RSAPublicKey | None = None
        self._sm2_xy = ""
        try:
            if self.algorithm == AES_256_CBC:
                self._rsa = _load_rsa_public(TENCENT_RSA_PUBLIC_KEY if public_key is None else public_key)
            else:
                self._sm2_xy = sm2_public_key_hex(
                    TENCENT_SM2_PUBLIC_KEY if public_key is None else public_key
                )
        except (ValueError, TypeError, UnicodeDecodeError, IndexError, binascii.Error, UnsupportedAlgorithm):
            kind = "an RSA" if self.algorithm == AES_256_CBC else "an SM2"
            raise EncryptionError(f"the {self.algorithm} public key is not {kind} public key") from None
        if self._rsa is not None and self._rsa.key_size < _MIN_RSA_BITS:
            raise EncryptionError(
                "the public key is RSA-{bits}: too small to be Tencent's ({need} bits); "
                "use the key of your account, or none for Tencent's published key",
                code="key_too_small",
                option="encryption_public_key",
                bits=self._rsa.key_size,
                need=_MIN_RSA_BITS,
            )
        try:  # a key that cannot wrap a data key would fail every call: found out before any is sent
            self.encrypt_params("13800138000")
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise EncryptionError(
                "the {algorithm} public key cannot encrypt ({why}); check {o[encryption_public_key]}",
                code="key_unusable",
                option="encryption_public_key",
                algorithm=self.algorithm,
                why=" ".join(str(exc).split())[:120] or type(exc).__name__,
            ) from None

    def _key(self) -> tuple[bytes, str]:
        """A symmetric key and its wrapped (public-key encrypted) base64 form."""
        now = self._clock()
        with self._lock:
            if self._cached is not None and now - self._cached[2] < self.key_lifetime:
                return self._cached[0], self._cached[1]
            key = "".join(secrets.choice(_ALNUM) for _ in range(_KEY_LEN[self.algorithm])).encode("ascii")
            if self._rsa is not None:
                wrapped = self._rsa.encrypt(key, padding.PKCS1v15())
            else:
                wrapped = sm2_encrypt(self._sm2_xy, key)
            self._cached = (key, _b64(wrapped), now)
            return key, self._cached[1]

    def encrypt_params(self, mobile: str) -> dict[str, object]:
        """The MobileStatus request parameters carrying ``mobile`` encrypted."""
        key, wrapped = self._key()
        iv = os.urandom(_IV_LEN[self.algorithm])
        plain = mobile.encode("utf-8")
        tags: list[str] = []
        if self.algorithm == AES_256_CBC:
            padder = sympadding.PKCS7(128).padder()
            enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            ciphertext = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
        else:
            gcm = Cipher(algorithms.SM4(key), modes.GCM(iv)).encryptor()
            ciphertext = gcm.update(plain) + gcm.finalize()
            tags.append(_b64(gcm.tag))
        return {
            "Mobile": _b64(ciphertext),
            "Encryption": {
                "EncryptList": [ENCRYPTED_FIELD],
                "CiphertextBlob": wrapped,
                "Iv": _b64(iv),
                "Algorithm": self.algorithm,
                "TagList": tags,
            },
        }
