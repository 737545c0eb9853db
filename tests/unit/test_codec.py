"""The encryption codec (round trip, rotation, tampering, keyring errors) and the codec
server the Temporal UI decodes through."""

from __future__ import annotations

import base64
import json
import stat
import zlib
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from starlette.applications import Starlette
from temporalio.api.common.v1 import Payload, Payloads

import plumbing.codec
from frontends.codec_server import codec_app
from plumbing.codec import (
    COMPRESSION,
    ENCODING,
    KEY_ID,
    MAX_PLAIN_BYTES,
    CodecError,
    EncryptionCodec,
    Keyring,
    new_key_line,
)
from plumbing.converter import CompactPayloadConverter

UI = "http://127.0.0.1:8233"
SECRET = {"email": "jane@example.com", "token": "tok_visa_4242"}


def keyring(*lines: str) -> Keyring:
    return Keyring.parse(list(lines), "test")


def plain() -> Payload:
    payload = CompactPayloadConverter().to_payloads([SECRET])[0]
    assert payload is not None
    return payload


async def test_round_trip_hides_data_and_names_the_key() -> None:
    line = new_key_line()
    codec = EncryptionCodec(keyring(line))
    [sealed] = await codec.encode([plain()])

    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID].decode() == line.split("=")[0]
    assert b"jane@example.com" not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()  # the encoding is hidden too
    assert await codec.decode([sealed]) == [plain()]


async def test_rotation_new_payloads_use_the_current_key_old_ones_still_decode() -> None:
    old, new = new_key_line(), new_key_line()
    [before] = await EncryptionCodec(keyring(old)).encode([plain()])
    rotated = EncryptionCodec(keyring(new, old))

    [after] = await rotated.encode([plain()])
    assert after.metadata[KEY_ID].decode() == new.split("=")[0]
    assert await rotated.decode([before, after]) == [plain(), plain()]
    with pytest.raises(CodecError, match="not in the keyring"):
        await EncryptionCodec(keyring(new)).decode([before])


async def test_tampered_payload_is_refused() -> None:
    codec = EncryptionCodec(keyring(new_key_line()))
    [sealed] = await codec.encode([plain()])
    flipped = bytes([sealed.data[-1] ^ 1])
    tampered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + flipped)
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([tampered])


def big() -> Payload:
    payload = CompactPayloadConverter().to_payloads([{"steps": [SECRET] * 40}])[0]
    assert payload is not None
    return payload


async def test_large_payloads_are_compressed_before_encryption() -> None:
    codec = EncryptionCodec(keyring(new_key_line()))
    [small, large] = await codec.encode([plain(), big()])

    assert COMPRESSION not in small.metadata
    assert large.metadata[COMPRESSION] == b"zlib"
    assert len(large.data) < len(big().SerializeToString()) / 4
    assert await codec.decode([small, large]) == [plain(), big()]


async def test_a_flipped_compression_flag_fails_authentication() -> None:
    codec = EncryptionCodec(keyring(new_key_line()))
    [sealed] = await codec.encode([big()])
    flipped = Payload(metadata={**sealed.metadata, COMPRESSION: b""}, data=sealed.data)
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([flipped])


async def test_a_compressed_payload_may_not_inflate_past_the_limit() -> None:
    """A payload sealed with our key that would inflate beyond 4 MiB is refused, not read."""
    line = new_key_line()
    key_id, key = line.split("=", 1)
    bomb = zlib.compress(b"\0" * (MAX_PLAIN_BYTES + 1))
    metadata = {"encoding": ENCODING, KEY_ID: key_id.encode(), COMPRESSION: b"zlib"}
    nonce = b"\1" * 12
    sealed = AESGCM(base64.b64decode(key)).encrypt(nonce, bomb, key_id.encode() + b"|zlib")
    with pytest.raises(CodecError, match="larger than"):
        await EncryptionCodec(keyring(line)).decode(
            [Payload(metadata=metadata, data=nonce + sealed)]
        )


async def test_unencrypted_payloads_pass_through() -> None:
    """Histories written before the codec was on still read."""
    assert await EncryptionCodec(keyring(new_key_line())).decode([plain()]) == [plain()]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("nokey", "test, key 1: expected id=base64key"),
        ("k1=not base64!", r"test, key 1 \(k1\): not base64"),
        ("k1=" + base64.b64encode(b"short").decode(), r"\(k1\): 5 bytes, need 32"),
    ],
)
def test_bad_keys_are_named(entry: str, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        keyring(entry)


def test_environment_then_file_then_a_generated_development_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = new_key_line()
    assert Keyring.from_env({"SAGA_CODEC_KEYS": line}).current == line.split("=")[0]
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated today\n{line}\n{new_key_line()}\n")
    from_file = Keyring.from_env({"SAGA_CODEC_KEY_FILE": str(key_file)})
    assert (from_file.current, len(from_file.keys)) == (line.split("=")[0], 2)

    generated = tmp_path / "data" / "codec.keys"
    monkeypatch.setattr(plumbing.codec, "DEFAULT_KEY_FILE", generated)
    first = Keyring.from_env({})
    assert stat.S_IMODE(generated.stat().st_mode) == 0o600
    assert Keyring.from_env({}) == first  # every process on the machine shares it


# -- the codec server ---------------------------------------------------------------------


def served(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


def ui_body(payloads: list[Payload]) -> str:
    """What the Temporal UI posts: protobuf JSON of a Payloads message."""
    return json.dumps(json_format.MessageToDict(Payloads(payloads=payloads)))


async def test_codec_server_decodes_what_the_ui_sends() -> None:
    codec = EncryptionCodec(keyring(new_key_line()))
    [sealed] = await codec.encode([plain()])
    async with served(codec_app(codec, ui_origins=[UI])) as client:
        response = await client.post(
            "/decode",
            content=ui_body([sealed]),
            headers={"Origin": UI, "X-Namespace": "default", "Content-Type": "application/json"},
        )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI
    decoded = json_format.ParseDict(response.json(), Payloads())
    assert list(decoded.payloads) == [plain()]
    assert json.loads(decoded.payloads[0].data) == SECRET


async def test_codec_server_answers_cors_only_for_the_ui_origin() -> None:
    app = codec_app(EncryptionCodec(keyring(new_key_line())), ui_origins=[UI])
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-namespace"}

    async with served(app) as client:
        allowed = await client.options("/decode", headers={"Origin": UI, **ask})
        other = await client.options("/decode", headers={"Origin": "http://evil.example", **ask})

    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == UI
    assert "X-Namespace" in allowed.headers["access-control-allow-headers"]
    assert "access-control-allow-origin" not in other.headers


async def test_codec_server_token_and_bad_bodies() -> None:
    codec = EncryptionCodec(keyring(new_key_line()))
    body = ui_body(await codec.encode([plain()]))
    foreign = ui_body(await EncryptionCodec(keyring(new_key_line())).encode([plain()]))
    bearer = {"Authorization": "Bearer s3cret"}

    async with served(codec_app(codec, ui_origins=[UI], token="s3cret")) as client:
        missing = await client.post("/decode", content=body)
        wrong = await client.post("/decode", content=body, headers={"Authorization": "Bearer x"})
        good = await client.post("/decode", content=body, headers=bearer)
        garbage = await client.post("/decode", content="{", headers=bearer)
        unknown = await client.post("/decode", content=foreign, headers=bearer)

    assert (missing.status_code, wrong.status_code, good.status_code) == (401, 401, 200)
    assert garbage.status_code == 400
    assert "Payloads JSON" in garbage.json()["error"]
    assert unknown.status_code == 422
    assert "not in the keyring" in unknown.json()["error"]
