"""The deployment files as an operator uses them: the systemd units pass ``systemd-analyze verify``,
the nginx site passes ``nginx -t``, the Dockerfile passes hadolint, the compose file names the
image's volume and Redis. Only the paths a machine decides (the program, the certificate) are
replaced; nothing else is edited for the check. Without a tool the check is skipped, except under
CI=true, where .ci/run installs them."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent


def _tool(name: str, *where: Path) -> str:
    found = shutil.which(name) or next((str(p / name) for p in where if (p / name).exists()), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed: the deployment file is NOT checked")
    return found


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    tool = _tool("systemd-analyze")
    units = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))
    assert {u.name for u in units} == {
        "batchverify-serve.service", "batchverify-nightly.service", "batchverify-nightly.timer",
    }  # fmt: skip
    for unit in units:
        text = unit.read_text().replace("/opt/batchverify/bin/batchverify", str(BIN / "batchverify"))
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run(
        [tool, "verify", *(str(tmp_path / u.name) for u in units)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    serve = (DEPLOY / "systemd" / "batchverify-serve.service").read_text()
    assert "EnvironmentFile=" in serve and "StateDirectory=" in serve and "TimeoutStopSec=300" in serve
    nightly = (DEPLOY / "systemd" / "batchverify-nightly.service").read_text()
    assert "SuccessExitStatus=1 5 6" in nightly and "--metrics-file" in nightly


def test_the_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    tool = _tool("nginx", Path("/usr/sbin"))
    cert, key = _self_signed(tmp_path)
    site = (DEPLOY / "nginx" / "batchverify.conf").read_text()
    site = site.replace("/etc/ssl/certs/verify.example.com.pem", str(cert))
    site = site.replace("/etc/ssl/private/verify.example.com.key", str(key))
    (tmp_path / "site.conf").write_text(site)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / sub).mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy;\n  fastcgi_temp_path {tmp_path}/fastcgi;\n"
        f"  uwsgi_temp_path {tmp_path}/uwsgi;\n  scgi_temp_path {tmp_path}/scgi;\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    done = subprocess.run(
        [tool, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "proxy_buffering off" in site and "X-Forwarded-For" in site and "client_max_body_size 100m" in site


def test_the_dockerfile_passes_hadolint_and_compose_shares_redis() -> None:
    tool = _tool("hadolint", BIN)
    dockerfile = DEPLOY / "docker" / "Dockerfile"
    done = subprocess.run([tool, str(dockerfile)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = dockerfile.read_text()
    assert (
        "USER 10001" in text and "HEALTHCHECK" in text and 'VOLUME ["/data"]' in text and "/healthz" in text
    )
    compose = (DEPLOY / "docker" / "compose.yaml").read_text()
    assert "BATCHVERIFY_RATE_STORE: redis://redis:6379/0" in compose and "batchverify-data:/data" in compose
    settings = (DEPLOY / "docker" / "container.env.example").read_text().splitlines()
    assert not [line for line in settings if line.startswith("BATCHVERIFY_HOST=")]  # 0.0.0.0 inside, always


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "verify.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
