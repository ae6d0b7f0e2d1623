"""An error every call gets is the job's: a key of another pair stops the run after a short streak
(exit 3, what was answered kept); a key that cannot work is refused before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from batchverify import Options
from batchverify.build import connect
from batchverify.errors import EncryptionError
from batchverify.simulator import SimulatorServer
from batchverify.tencent.credentials import Credentials
from tests.support.cli import cli_env, run_cli
from tests.support.tables import spread_numbers, write_list


def _pem(key: rsa.RSAPublicKey, path: Path) -> Path:
    path.write_bytes(
        key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


def test_a_key_of_another_pair_stops_the_run_after_a_short_streak(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    other = _pem(
        rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key(), tmp_path / "k.pem"
    )
    source = write_list(tmp_path / "l.csv", spread_numbers(40))
    args = ("--yes", "--encrypt", "aes-256-cbc", "--encryption-public-key", other, "--concurrency", "2")
    done = run_cli(
        "run", source, *args, "--summary-json", tmp_path / "s.json", env=cli_env(fast_sim, tmp_path / "h")
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert (
        "FailedOperation.DecryptSystemError" in done.stdout and "the last 5 numbers in a row" in done.stdout
    )
    ledger = fast_sim.ledger()
    assert 5 <= ledger["requests"] <= 7 and ledger["billed"] == 0, ledger  # not 40 calls
    summary = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert summary["outcome"] == "fatal" and summary["exit_code"] == 3 and summary["stop_reason"] == "fatal"


def test_a_key_too_small_to_be_tencents_is_refused_before_sending(
    fast_sim: SimulatorServer, tmp_path: Path
) -> None:
    # 2^255-19 and 2^127-1 are primes: a 382-bit RSA key, far too small to wrap a 32-byte data key.
    small = rsa.RSAPublicNumbers(65537, (2**255 - 19) * (2**127 - 1)).public_key()
    key = _pem(small, tmp_path / "small.pem")
    source = write_list(tmp_path / "l.csv", spread_numbers(5))
    args = ("--yes", "--encrypt", "aes-256-cbc", "--encryption-public-key", key)
    done = run_cli("run", source, *args, env=cli_env(fast_sim, tmp_path / "h"))
    assert done.returncode == 2 and "RSA-382: too small" in done.stderr, done.stderr
    assert fast_sim.ledger()["requests"] == 0 and not (tmp_path / "l.verified.csv").exists()
    keys = Credentials(fast_sim.cfg.secret_id, fast_sim.cfg.secret_key)
    options = Options(
        endpoint=fast_sim.url, credentials=keys, encrypt="aes-256-cbc", encryption_public_key=key
    )
    with pytest.raises(EncryptionError) as refused, connect(options):
        pass
    assert refused.value.code == "key_too_small"
