"""One options value: every front end (the command line, ``serve``, ``verify_file``,
``verify_dataframe``, ``Options`` itself) refuses the same bad values with the same words, naming the
option its own way, before anything is sent."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from batchverify import Options, Simulator, verify_dataframe, verify_file
from batchverify.build import connect
from batchverify.errors import UsageError
from batchverify.web.app import create_app
from batchverify.web.manager import ServeSettings
from batchverify.web.messages import WEB_NAMES
from tests.support.cli import cli_env, run_cli
from tests.support.web import TOKEN, upload

# (option, value as Python passes it, the same value on the command line, the code)
BAD = [
    ("rate", -1.0, "-1", "out_of_range"),
    ("rate", 0, "0", "out_of_range"),
    ("rate", 1e9, "1e9", "out_of_range"),
    ("rate", math.nan, "nan", "not_finite"),
    ("rate", math.inf, "inf", "not_finite"),
    ("concurrency", 0, "0", "out_of_range"),
    ("concurrency", -5, "-5", "out_of_range"),
    ("concurrency", 10**9, "1000000000", "out_of_range"),
    ("timeout", -1.0, "-1", "out_of_range"),
    ("timeout", 0.0, "0", "out_of_range"),
    ("timeout", math.nan, "nan", "not_finite"),
    ("timeout", 1e9, "1e9", "out_of_range"),
    ("max_age", "0d", "0d", "out_of_range"),
    ("max_age", "soon", "soon", "bad_duration"),
    ("language", "fr", "fr", "unknown_language"),
]
# Options the DataFrame API takes as well (the rest are about files).
FRAME_OPTIONS = {"rate", "concurrency", "timeout", "max_age", "language", "price", "max_billable"}
# Money and text options: the file front ends only.
FILE_BAD = [
    ("price", -1.0, "-1", "out_of_range"),
    ("price", math.nan, "nan", "not_finite"),
    ("price", math.inf, "inf", "not_finite"),
    ("max_billable", -1, "-1", "out_of_range"),
    ("header_row", -1, "-1", "out_of_range"),
    ("encoding", "rot13", "rot13", "unknown_encoding"),
    ("encoding", "hex", "hex", "unknown_encoding"),
    ("output_encoding", "no-such-codec", "no-such-codec", "unknown_encoding"),
]
WRONG_TYPES = [
    ("rate", "20"),
    ("rate", True),
    ("concurrency", 2.5),
    ("concurrency", "50"),
    ("timeout", "5"),
    ("price", "0.05"),
    ("max_age", 7),
    ("restart", "yes"),
    ("header_row", "1"),
    ("column", ""),
    ("encoding", 8),
]


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _python_words(exc: UsageError, option: str) -> str:
    return str(exc).replace(f"{option}=", "<option>")


@pytest.fixture
def sim() -> Any:
    with Simulator(rate_limit=0) as running:
        yield running


def _list(tmp_path: Path) -> Path:
    path = tmp_path / "list.csv"
    path.write_text("name,phone\na,13800138000\nb,13800138001\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("option", "value", "flag_value", "code"), BAD + FILE_BAD)
def test_every_front_end_refuses_the_same_bad_value_before_sending(
    option: str, value: object, flag_value: str, code: str, sim: Simulator, tmp_path: Path
) -> None:
    source = _list(tmp_path)
    with pytest.raises(UsageError) as made:
        Options(**{option: value})
    assert made.value.option == option and made.value.code == code
    words = _python_words(made.value, option)
    assert "<option>" in words

    with pytest.raises(UsageError) as through_file:
        verify_file(source, tmp_path / "out.csv", endpoint=sim, **{option: value})
    assert (through_file.value.option, through_file.value.code) == (option, code)
    assert _python_words(through_file.value, option) == words

    if option in FRAME_OPTIONS:
        frame = pd.DataFrame({"phone": ["13800138000"]})
        with pytest.raises(UsageError) as through_frame:
            verify_dataframe(frame, "phone", endpoint=sim, progress=False, **{option: value})
        assert (through_frame.value.option, through_frame.value.code) == (option, code)
        assert _python_words(through_frame.value, option) == words

    env = _env_for(sim, tmp_path)
    done = run_cli("run", source, "--yes", f"{_flag(option)}={flag_value}", env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].replace(_flag(option), "<option>").endswith(words.split("<option>", 1)[1])
    assert not (tmp_path / "list.verified.csv").exists()

    if option in ("rate", "language"):
        served = run_cli("serve", "--simulator", "--port", "0", f"{_flag(option)}={flag_value}", env=env)
        assert served.returncode == 2 and len(served.stderr.strip().splitlines()) == 1, served.stderr
        assert _flag(option) in served.stderr

    assert sim.ledger()["requests"] == 0, "a refused option must send nothing"


def _env_for(sim: Simulator, tmp_path: Path) -> dict[str, str]:
    class _Server:
        url = sim.url
        cfg = sim.config

    return cli_env(_Server(), tmp_path / "home")  # type: ignore[arg-type]


@pytest.mark.parametrize(("option", "value"), WRONG_TYPES)
def test_a_value_of_the_wrong_type_is_a_usage_error_naming_the_option(
    option: str, value: object, sim: Simulator, tmp_path: Path
) -> None:
    with pytest.raises(UsageError) as refused:
        verify_file(_list(tmp_path), tmp_path / "out.csv", endpoint=sim, **{option: value})
    assert refused.value.option == option
    assert f"{option}=" in str(refused.value)
    assert sim.ledger()["requests"] == 0


def test_an_unknown_keyword_is_refused_by_name(sim: Simulator, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown option 'rates'"):
        verify_file(_list(tmp_path), endpoint=sim, rates=5)


def test_the_dataframe_api_refuses_options_about_files(sim: Simulator) -> None:
    frame = pd.DataFrame({"phone": ["13800138000"]})
    with pytest.raises(UsageError) as refused:
        verify_dataframe(frame, "phone", endpoint=sim, progress=False, sheet="Sheet1")
    assert refused.value.option == "sheet" and refused.value.code == "not_for_dataframes"


def test_options_are_normalized_and_checked_again_on_replace() -> None:
    made = Options(max_age="12h", rate=5, column=3, language="zh", encrypt="SM4-GCM", problems="p.csv")
    assert made.max_age == datetime.timedelta(hours=12)
    assert made.rate == 5.0 and isinstance(made.rate, float)
    assert made.column == "3" and made.language == "zh-CN" and made.encrypt == "sm4-gcm"
    assert made.problems == Path("p.csv")
    with pytest.raises(UsageError) as again:
        made.replace(rate=0)
    assert again.value.option == "rate"
    with pytest.raises(UsageError) as both:
        Options(simulator=True, endpoint="https://example.com")
    assert both.value.code == "conflict"
    with pytest.raises(UsageError) as key:
        Options(encryption_public_key="k.pem")
    assert key.value.option == "encryption_public_key"


@pytest.mark.parametrize(
    ("value", "code"), [("0d", "out_of_range"), ("soon", "bad_duration"), ("-1h", "bad_duration")]
)
async def test_the_upload_server_refuses_the_same_bad_max_age_by_its_field(
    value: str, code: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    with pytest.raises(UsageError) as made:
        Options(max_age=value)
    assert made.value.code == code
    with Simulator(rate_limit=0) as running:
        options = Options(endpoint=running, rate_store="memory")
        with connect(options) as target:
            settings = ServeSettings(data_dir=tmp_path / "serve", target=target, token=TOKEN, options=options)
            client = await aiohttp_client(create_app(settings))
            response = await upload(client, _list(tmp_path), max_age=value)
            doc = await response.json()
        assert running.ledger()["requests"] == 0
    assert response.status == 400
    assert (doc["code"], doc["field"]) == (code, "max_age")
    assert doc["error"] == made.value.render(WEB_NAMES)
    assert "the max_age field" in doc["error"] and "max_age=" not in doc["error"]
    assert list((tmp_path / "serve" / "jobs").iterdir()) == [], "nothing of a refused upload is kept"


def test_values_too_large_to_print_or_store_are_refused_in_one_line(sim: Simulator, tmp_path: Path) -> None:
    huge = "1" + "0" * 400
    env = _env_for(sim, tmp_path)
    for flag in ("--concurrency", "--max-billable", "--header-row", "--rate"):
        done = run_cli("run", _list(tmp_path), "--yes", flag, huge, env=env, timeout=60)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "internal error" not in done.stderr
    for option in ("concurrency", "max_billable", "column"):
        with pytest.raises(UsageError) as refused:
            Options(**{option: 10**5000})
        assert refused.value.option == option
    with pytest.raises(UsageError) as ages:
        Options(max_age_by_status={"cancelled": None})
    assert ages.value.option == "max_age_by_status" and ages.value.code == "wrong_type"
    assert Options(max_age_by_status=None).max_age_by_status == {}
    with pytest.raises(UsageError):
        Options(answers_keep=None)


def test_a_duration_is_shown_as_it_was_typed(sim: Simulator, tmp_path: Path) -> None:
    env = _env_for(sim, tmp_path)
    for typed, words in (
        ("7: d", "--max-age '7: d' is not a duration it takes: use a number"),
        ("0s", "not '0s'"),
    ):
        done = run_cli("run", _list(tmp_path), "--yes", "--max-age", typed, env=env, timeout=60)
        assert done.returncode == 2 and words in done.stderr, done.stderr


def test_the_library_names_the_output_option_the_callers_way(sim: Simulator, tmp_path: Path) -> None:
    source = _list(tmp_path)
    from batchverify.errors import OutputError

    with pytest.raises(OutputError) as same:
        verify_file(source, source, endpoint=sim)
    assert str(same.value).endswith("choose another output=") and "-o/" not in str(same.value)
    done = run_cli("run", source, "-o", source, "--yes", env=_env_for(sim, tmp_path), timeout=60)
    assert done.returncode == 2 and "choose another -o/--output" in done.stderr, done.stderr


def test_encrypt_takes_any_letter_case_everywhere(sim: Simulator, tmp_path: Path) -> None:
    assert Options(encrypt="AES-256-CBC").encrypt == "aes-256-cbc"
    dry = run_cli(
        "run",
        _list(tmp_path),
        "--dry-run",
        "--simulator",
        "--encrypt",
        "AES-256-CBC",
        env=_env_for(sim, tmp_path),
    )
    assert dry.returncode == 0, dry.stderr


def test_a_refused_option_still_replaces_last_nights_summary_json(sim: Simulator, tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    summary.write_text('{"outcome": "complete"}', encoding="utf-8")
    done = run_cli(
        "run",
        _list(tmp_path),
        "--yes",
        "--max-age",
        "0s",
        "--summary-json",
        summary,
        env=_env_for(sim, tmp_path),
    )
    assert done.returncode == 2
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["outcome"] == "error" and doc["error_code"] == "out_of_range" and "--max-age" in doc["error"]


def test_one_endpoint_has_one_spelling_and_never_a_secret() -> None:
    from batchverify.tencent.client import Endpoint

    same = {
        Endpoint.parse(v).host
        for v in ("FACEID.tencentcloudapi.com", "https://faceid.tencentcloudapi.com:443/")
    }
    assert same == {"faceid.tencentcloudapi.com"}
    with pytest.raises(UsageError) as secret:
        Options(endpoint="https://user:hunter2@faceid.tencentcloudapi.com")
    assert "hunter2" not in str(secret.value) and secret.value.option == "endpoint"
