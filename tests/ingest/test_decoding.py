from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard

from pipeline.ingest.decoding import CHUNK, DecodingError, decode

BODY = b"<rss>" + b"news " * 50_000 + b"</rss>"


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def chunks(data: bytes, size: int = 1000) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize(
    ("header", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),
        ("br", brotli.compress),
        ("zstd", zstandard.ZstdCompressor().compress),
        ("identity", lambda data: data),
        (None, lambda data: data),
        ("gzip, br", lambda data: brotli.compress(gzip.compress(data))),
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw", "brotli", "zstd", "identity", "none", "stacked"],
)
def test_round_trip_in_bounded_slices(header: str | None, encode: Callable[[bytes], bytes]) -> None:
    slices = list(decode(header, chunks(encode(BODY))))
    assert b"".join(slices) == BODY
    assert max(len(piece) for piece in slices) <= 2 * CHUNK


@pytest.mark.parametrize(
    ("header", "encode"),
    [
        ("gzip", gzip.compress),
        ("br", brotli.compress),
        ("zstd", zstandard.ZstdCompressor().compress),
    ],
    ids=["gzip", "brotli", "zstd"],
)
def test_a_bomb_comes_out_a_slice_at_a_time(header: str, encode: Callable[[bytes], bytes]) -> None:
    bomb = encode(b" " * (64 * 1024 * 1024))
    stream = decode(header, [bomb])
    first = next(stream)
    # 64 MiB of output, but a slice per step (brotli's output limit is soft: up to ~2 slices)
    assert len(first) <= 2 * CHUNK


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        ("gzip", b"plain text, not gzip", "invalid compressed data"),
        ("br", b"\xff\xff\xff not brotli", "invalid brotli data"),
        ("zstd", b"not zstd at all", "invalid zstd data"),
        ("compress", b"x", "unsupported Content-Encoding 'compress'"),
    ],
    ids=["bad-gzip", "bad-brotli", "bad-zstd", "unknown"],
)
def test_bad_data_is_a_decoding_error(header: str, body: bytes, message: str) -> None:
    with pytest.raises(DecodingError, match=message):
        b"".join(decode(header, [body]))
