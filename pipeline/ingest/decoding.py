"""Bounded decoding of compressed HTTP bodies.

httpx decodes ``Content-Encoding`` itself, but hands each network chunk to the decoder with
no limit on its output: a few hundred bytes of brotli can become 256 MiB in one call, before
any size check can run. These decoders produce output in slices of at most ``CHUNK`` bytes,
so the fetcher's size cap stops a compression bomb after at most one slice past the cap
(brotli's limit is soft: its slices can reach about twice ``CHUNK``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, cast

CHUNK = 64 * 1024

Decoder = Callable[[Iterable[bytes]], Iterator[bytes]]


class DecodingError(Exception):
    """The body is not valid for its declared ``Content-Encoding``."""


def decode(encoding_header: str | None, raw: Iterable[bytes]) -> Iterator[bytes]:
    """Decode ``raw`` chunks for a ``Content-Encoding`` header (encodings applied in order)."""
    stream: Iterable[bytes] = raw
    codings = [c.strip().lower() for c in (encoding_header or "").split(",") if c.strip()]
    for coding in reversed(codings):  # the last encoding applied is undone first
        decoder = DECODERS.get(coding)
        if decoder is None:
            raise DecodingError(f"unsupported Content-Encoding {coding!r}")
        stream = decoder(stream)
    return iter(stream)


def _identity(raw: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in raw:
        for start in range(0, len(chunk), CHUNK):
            yield chunk[start : start + CHUNK]


def _zlib(raw: Iterable[bytes], wbits: int) -> Iterator[bytes]:
    decompressor = zlib.decompressobj(wbits)
    try:
        for chunk in raw:
            data = chunk
            while data:
                out = decompressor.decompress(data, CHUNK)
                if out:
                    yield out
                data = decompressor.unconsumed_tail
        while tail := decompressor.flush(CHUNK):
            yield tail
    except zlib.error as exc:
        raise DecodingError(f"invalid compressed data ({exc})") from exc


def _gzip(raw: Iterable[bytes]) -> Iterator[bytes]:
    return _zlib(raw, 16 + zlib.MAX_WBITS)


def _deflate(raw: Iterable[bytes]) -> Iterator[bytes]:
    # "deflate" is zlib-wrapped by the standard, raw deflate by some servers: zlib's
    # automatic header detection (wbits + 32) covers zlib and gzip, raw needs a second try.
    chunks = iter(raw)
    first = next(chunks, b"")
    wbits = zlib.MAX_WBITS if first[:1] and (first[0] & 0x0F) == 8 else -zlib.MAX_WBITS
    return _zlib(_prepend(first, chunks), wbits)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _brotli(raw: Iterable[bytes]) -> Iterator[bytes]:
    import brotli

    decompressor = brotli.Decompressor()
    try:
        for chunk in raw:
            yield decompressor.process(chunk, output_buffer_limit=CHUNK)
            while not decompressor.can_accept_more_data():
                yield decompressor.process(b"", output_buffer_limit=CHUNK)
        while not decompressor.is_finished():
            tail = decompressor.process(b"", output_buffer_limit=CHUNK)
            if not tail:
                break
            yield tail
    except brotli.error as exc:
        raise DecodingError(f"invalid brotli data ({exc})") from exc


class _Reader:
    """A file-like ``read`` over an iterator of chunks, for zstandard's streaming API."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def _zstd(raw: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard

    try:
        reader = cast("IO[bytes]", _Reader(raw))  # it only needs .read(size)
        yield from zstandard.ZstdDecompressor().read_to_iter(
            reader, read_size=CHUNK, write_size=CHUNK
        )
    except zstandard.ZstdError as exc:
        raise DecodingError(f"invalid zstd data ({exc})") from exc


DECODERS: dict[str, Decoder] = {
    "identity": _identity,
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}
