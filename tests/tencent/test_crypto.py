"""Sensitive-data encryption: ciphertext structure, key formats, and round trips through the simulator.

SM2 is pure Python (gmssl arithmetic, ~10 ms per key wrap, much more on a busy CPU), so SM4-GCM
encryptors are module-scoped and reuse their wrapped key the way production code does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization

from batchverify.errors import EncryptionError
from batchverify.simulator import SimulatorServer
from batchverify.simulator.decrypt import DecryptFailure, simulator_decryptor, simulator_public_key
from batchverify.tencent.crypto import (
    AES_256_CBC,
    SM4_GCM,
    TENCENT_RSA_PUBLIC_KEY,
    TENCENT_SM2_PUBLIC_KEY,
    Encryptor,
    load_public_key,
    sm2_public_key_hex,
)
from tests.support.sim import no_proxy, raw_call, sdk_call, sdk_client, sim

__all__ = ["no_proxy", "sim"]  # fixtures used by name


@pytest.fixture(scope="module")
def encryptors() -> dict[str, Encryptor]:
    """One encryptor per algorithm holding the simulator's demo public keys."""
    return {alg: Encryptor(alg, simulator_public_key(alg)) for alg in (AES_256_CBC, SM4_GCM)}


@pytest.fixture(scope="module")
def tencent_encryptors() -> dict[str, Encryptor]:
    """Encryptors with Tencent's published keys (the defaults); the simulator cannot decrypt these."""
    return {alg: Encryptor(alg) for alg in (AES_256_CBC, SM4_GCM)}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def sm2_key_file(tmp_path: Path) -> Path:
    """The simulator's SM2 public key as 130 hex chars (04‖X‖Y), the other accepted format."""
    path = tmp_path / "sm2.hex"
    path.write_text("04" + sm2_public_key_hex(simulator_public_key(SM4_GCM)) + "\n")
    return path


def _shape(params: dict[str, object]) -> tuple[bytes, bytes, bytes, list[bytes], dict[str, Any]]:
    enc: dict[str, Any] = params["Encryption"]  # type: ignore[assignment]
    assert set(params) == {"Mobile", "Encryption"}
    assert set(enc) == {"EncryptList", "CiphertextBlob", "Iv", "Algorithm", "TagList"}
    assert enc["EncryptList"] == ["Mobile"]
    decode = base64.b64decode
    mobile = decode(params["Mobile"])  # type: ignore[arg-type]
    return mobile, decode(enc["CiphertextBlob"]), decode(enc["Iv"]), [decode(t) for t in enc["TagList"]], enc


@pytest.mark.parametrize("which", ["simulator", "tencent"])
def test_ciphertext_structure(
    which: str, encryptors: dict[str, Encryptor], tencent_encryptors: dict[str, Encryptor]
) -> None:
    pool = encryptors if which == "simulator" else tencent_encryptors
    mobile, blob, iv, tags, enc = _shape(pool[AES_256_CBC].encrypt_params("13800138000"))
    assert enc["Algorithm"] == "AES-256-CBC" and len(blob) == 128 and len(iv) == 16
    assert len(mobile) == 16 and tags == []
    mobile, blob, iv, tags, enc = _shape(pool[SM4_GCM].encrypt_params("13800138000"))
    assert enc["Algorithm"] == "SM4-GCM" and blob[0] == 4 and len(blob) == 65 + 32 + 16
    assert len(iv) == 12 and len(mobile) == 11 and [len(t) for t in tags] == [16]


def test_key_reuse_policy(encryptors: dict[str, Encryptor]) -> None:
    first, second = (encryptors[SM4_GCM].encrypt_params("13800138000") for _ in range(2))
    a: Any = first["Encryption"]
    b: Any = second["Encryption"]
    assert a["CiphertextBlob"] == b["CiphertextBlob"] and a["Iv"] != b["Iv"]
    x: Any = encryptors[AES_256_CBC].encrypt_params("1")["Encryption"]
    y: Any = encryptors[AES_256_CBC].encrypt_params("1")["Encryption"]
    assert x["CiphertextBlob"] != y["CiphertextBlob"] and x["Iv"] != y["Iv"]
    now = [0.0]
    rotating = Encryptor("sm4-gcm", simulator_public_key(SM4_GCM), clock=lambda: now[0])
    assert rotating.algorithm == SM4_GCM and rotating.key_lifetime == 600
    blobs: list[Any] = [rotating.encrypt_params("1")["Encryption"]]
    now[0] = 599.0
    blobs.append(rotating.encrypt_params("1")["Encryption"])
    now[0] = 600.0
    blobs.append(rotating.encrypt_params("1")["Encryption"])
    assert blobs[0]["CiphertextBlob"] == blobs[1]["CiphertextBlob"] != blobs[2]["CiphertextBlob"]


def test_public_key_formats(sm2_key_file: Path) -> None:
    decryptor = simulator_decryptor()
    rsa_pkcs1 = simulator_public_key(AES_256_CBC)
    assert rsa_pkcs1.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    spki = serialization.load_pem_public_key(rsa_pkcs1).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert (
        decryptor.decrypt_mobile(Encryptor(AES_256_CBC, spki).encrypt_params("13800000001")) == "13800000001"
    )
    assert Encryptor(AES_256_CBC, TENCENT_RSA_PUBLIC_KEY).algorithm == AES_256_CBC
    sm2_hex = load_public_key(sm2_key_file)
    assert len(sm2_hex.strip()) == 130
    params = Encryptor(SM4_GCM, sm2_hex).encrypt_params("13800000002")
    assert decryptor.decrypt_mobile(params) == "13800000002"
    assert sm2_public_key_hex(sm2_hex.strip()[2:]) == sm2_public_key_hex(simulator_public_key(SM4_GCM))


def test_encryption_errors_are_one_line_and_keyless(tmp_path: Path) -> None:
    with pytest.raises(EncryptionError, match="unknown encryption algorithm"):
        Encryptor("DES")
    secret_looking = (
        b"-----BEGIN PUBLIC KEY-----\n"
        b"TUlJQ0lqQU5CZ2txaGtpRzl3MEJBUUVGQUFPQ0FnOEFNSUlDQ2dLQ0FnRUF0\n"
        b"-----END PUBLIC KEY-----\n"
    )
    for alg, key in [
        (AES_256_CBC, secret_looking),
        (SM4_GCM, secret_looking),
        (AES_256_CBC, TENCENT_SM2_PUBLIC_KEY),
    ]:
        with pytest.raises(EncryptionError) as info:
            Encryptor(alg, key)
        message = str(info.value)
        assert "\n" not in message and "TUlJ" not in message and "MFkw" not in message
    with pytest.raises(EncryptionError, match="RSA"):
        Encryptor(AES_256_CBC, b"garbage")
    with pytest.raises(EncryptionError, match="SM2"):
        Encryptor(SM4_GCM, TENCENT_RSA_PUBLIC_KEY)
    with pytest.raises(EncryptionError, match="not found"):
        load_public_key(tmp_path / "missing.pem")
    with pytest.raises(EncryptionError, match="cannot read"):
        load_public_key(tmp_path)
    (tmp_path / "empty.pem").write_bytes(b"")
    with pytest.raises(EncryptionError, match="empty"):
        load_public_key(tmp_path / "empty.pem")


def test_decryptor_rejections(encryptors: dict[str, Encryptor]) -> None:
    decryptor = simulator_decryptor()
    for alg in (AES_256_CBC, SM4_GCM):
        params: Any = encryptors[alg].encrypt_params("13800138000")
        tampered = json.loads(json.dumps(params))
        tampered["Mobile"] = base64.b64encode(base64.b64decode(params["Mobile"])[::-1]).decode()
        wrong_iv = json.loads(json.dumps(params))
        wrong_iv["Encryption"]["Iv"] = "AAAA"
        no_tag = json.loads(json.dumps(params))
        no_tag["Encryption"]["TagList"] = []
        for bad in [tampered, wrong_iv] + ([no_tag] if alg == SM4_GCM else []):
            with pytest.raises(DecryptFailure) as info:
                decryptor.decrypt_mobile(bad)
            assert info.value.code == "FailedOperation.DecryptSystemError"
        other = json.loads(json.dumps(params))
        other["Encryption"]["EncryptList"] = ["Mobile", "Name"]
        with pytest.raises(DecryptFailure) as info:
            decryptor.decrypt_mobile(other)
        assert info.value.code == "InvalidParameter.UnsupportEncryptField"


# --- through the simulator ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [AES_256_CBC, SM4_GCM])
async def test_round_trip_raw_client(
    alg: str, sim: SimulatorServer, session: aiohttp.ClientSession, encryptors: dict[str, Encryptor]
) -> None:
    for number in ("13800000002", "16137688175", "13900000033"):
        clear = await raw_call(session, sim, {"Mobile": number})
        hidden = await raw_call(session, sim, encryptors[alg].encrypt_params(number))
        assert hidden.content_type == "application/json"
        assert {k: v for k, v in hidden.response.items() if k != "RequestId"} == {
            k: v for k, v in clear.response.items() if k != "RequestId"
        }
    ledger = sim.ledger()
    assert ledger["calls_by_number"] == {"13800000002": 2, "16137688175": 2, "13900000033": 2}


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_round_trip_official_sdk(sim: SimulatorServer, method: str, encryptors: dict[str, Encryptor]) -> None:
    client = sdk_client(sim, method)
    for alg in (AES_256_CBC, SM4_GCM):
        reply = sdk_call(client, encryptors[alg].encrypt_params("13800138000"))
        assert (reply.Result, reply.StatusCode) == ("0", 1)
    assert sim.ledger()["billed_by_number"] == {"13800138000": 2}


async def test_simulator_decryption_errors(
    sim: SimulatorServer, session: aiohttp.ClientSession, tencent_encryptors: dict[str, Encryptor]
) -> None:
    for alg in (AES_256_CBC, SM4_GCM):
        reply = await raw_call(session, sim, tencent_encryptors[alg].encrypt_params("13800138000"))
        assert reply.error_code == "FailedOperation.DecryptSystemError"
    params: Any = Encryptor(AES_256_CBC, simulator_public_key(AES_256_CBC)).encrypt_params("13800138000")
    params["Encryption"]["EncryptList"] = ["Name"]
    reply = await raw_call(session, sim, params)
    assert reply.error_code == "InvalidParameter.UnsupportEncryptField"
    assert sim.ledger()["errors_by_code"] == {
        "FailedOperation.DecryptSystemError": 2,
        "InvalidParameter.UnsupportEncryptField": 1,
    }
    assert sim.ledger()["billed"] == 0
