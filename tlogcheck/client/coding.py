"""Bounded decoding of a body's content coding: gzip and deflate always (an edge may
send them unasked), br only when it was asked for (a browser's request, with the
`brotli` module). Never more output than the body cap allows: a compression bomb stops
at the cap, not in memory."""

from __future__ import annotations

import zlib

from tlogcheck.errors import FormatError

__all__ = ["DECODABLE", "BrotliDecoder", "Decoder", "decoder_for"]

DECODABLE = ("gzip", "x-gzip", "deflate")


class Decoder:
    """Bounded gzip/deflate decoding: never yields more than it is allowed to."""

    def __init__(self, coding: str) -> None:
        wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}.get(
            coding, zlib.MAX_WBITS
        )
        self.coding = coding
        self._z = zlib.decompressobj(wbits)

    def decode(self, data: bytes, limit: int) -> bytes:
        try:
            # max_length keeps a compression bomb from expanding past `limit` in one go.
            return self._z.decompress(data, limit)
        except zlib.error as exc:
            raise FormatError(f"body is not valid {self.coding}: {exc}") from None

    def finish(self) -> None:
        if not self._z.eof:
            raise FormatError(f"{self.coding} body is truncated")


class BrotliDecoder:
    """Bounded br decoding (what browsers are served), with the `brotli` module."""

    coding = "br"

    def __init__(self) -> None:
        import brotli

        self._error: type[Exception] = brotli.error
        self._d = brotli.Decompressor()

    def decode(self, data: bytes, limit: int) -> bytes:
        try:
            try:
                # The output stops growing at `limit`: past it the body is over the cap.
                out: bytes = self._d.process(data, output_buffer_limit=max(limit, 1))
            except TypeError:  # brotli before 1.1: one socket read's worth, then the cap
                out = self._d.process(data)
        except self._error as exc:
            raise FormatError(f"body is not valid br: {exc}") from None
        return out

    def finish(self) -> None:
        if not self._d.is_finished():
            raise FormatError("br body is truncated")


def decoder_for(coding: str, asked: str) -> Decoder | BrotliDecoder | None:
    """The decoder of `coding`; br only when it was asked for (a browser's request)."""
    if coding in DECODABLE:
        return Decoder(coding)
    if coding == "br" and "br" in {c.split(";")[0].strip() for c in asked.lower().split(",")}:
        try:
            return BrotliDecoder()
        except ImportError:
            return None
    return None
