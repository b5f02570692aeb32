"""Test data helpers: object names, payloads, uploads to the test Swift."""

import hashlib
import random
import uuid

CONTAINER = "fractals"

# Leading bytes of each format the gateway sniffs, padded to a body.
JPEG_MAGIC = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
GIF_MAGIC = b"GIF89a"
WEBP_MAGIC = b"RIFF\x24\x00\x00\x00WEBPVP8 "


def new_uuid():
    """A fresh lowercase uuid4, as faafo names fractals."""
    return str(uuid.uuid4())


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def random_bytes(n, seed=0):
    """n deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(n)


def upload(saio, data, content_type="image/png", name=None,
           container=CONTAINER, headers=None):
    """Put data into Swift under a fresh uuid (or name); returns
    (name, etag) with Swift's unquoted ETag."""
    name = name or new_uuid()
    etag = saio.put_object(container, name, data, content_type, headers)
    return name, etag
