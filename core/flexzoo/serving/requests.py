"""Reading request bodies safely: a size limit, JSON of any depth, images recognized by their bytes.

Every refusal is a :class:`Problem` whose message a client can act on and that holds no Python repr.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

__all__ = ["Problem", "is_image", "json_text", "parse_json", "read_body", "replay"]

# The first bytes of the image formats Pillow decodes that are sent over HTTP.
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
               b"\x00\x00\x01\x00", b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")


class Problem(Exception):
    """An HTTP error with its status and the message the client gets."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with a 413 as soon as it passes ``limit`` bytes: the rest is never read.

    A declared ``Content-Length`` over the limit is refused before reading anything; a chunked upload is
    read chunk by chunk (uvicorn pauses the socket while a chunk waits), so at most ``limit`` bytes plus
    one chunk are ever held.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"the request body is {int(declared):,} bytes, over the limit of {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"the request body is over the limit of {limit:,} bytes (refused after {size:,})")
        chunks.append(chunk)
    return b"".join(chunks)


def replay(request: Request, body: bytes) -> Request:
    """``request`` again, with its body (already read and checked by ``read_body``) given back to Starlette."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def parse_json(body: bytes, hint: str) -> Any:
    """The JSON value of ``body``; a 400 naming the fault (with ``hint`` on what to send) otherwise.

    Nesting deeper than the interpreter's recursion limit is refused like any other malformed body.
    """
    try:
        return json.loads(body)
    except RecursionError:
        raise Problem(400, f"the JSON body is nested too deeply to read; {hint}") from None
    except UnicodeDecodeError:
        raise Problem(400, f"the body is not valid JSON (not UTF-8 text); {hint}") from None
    except ValueError as exc:
        raise Problem(400, f"the body is not valid JSON ({exc}); {hint}") from None


def is_image(body: bytes) -> bool:
    """Whether ``body`` starts like an image file (PNG, JPEG, GIF, BMP, TIFF, ICO, PNM, WebP)."""
    return body.startswith(_SIGNATURES) or (body[:4] == b"RIFF" and body[8:12] == b"WEBP")


def json_text(value: Any, limit: int = 60) -> str:
    """``value`` as a client wrote it (JSON, not a Python repr), cut to ``limit`` characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"
