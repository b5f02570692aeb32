"""Mandelbrot and Julia set PNGs in pure Python (zlib + struct only).

The images are deterministic (same arguments, same bytes), RGB 8-bit, with
smooth (continuous escape time) colouring through a cyclic palette.

    png = mandelbrot(256, 256)
    png = julia(512, 384, c=complex(-0.8, 0.156))
"""

import math
import struct
import zlib

BAILOUT = 256.0          # large radius: smooth colouring looks better
_LOG2 = math.log(2.0)


def _palette(size=256):
    """A smooth cyclic palette: deep blue -> white -> orange -> black."""
    stops = [(0.0, (0, 7, 100)), (0.16, (32, 107, 203)),
             (0.42, (237, 255, 255)), (0.6425, (255, 170, 0)),
             (0.8575, (0, 2, 0)), (1.0, (0, 7, 100))]
    out = []
    for i in range(size):
        t = i / size
        for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
            if t0 <= t <= t1:
                f = (t - t0) / (t1 - t0)
                f = f * f * (3 - 2 * f)          # smoothstep between stops
                out.append(bytes(round(a + (b - a) * f)
                                 for a, b in zip(c0, c1)))
                break
    return out


_PALETTE = _palette()
_INSIDE = bytes((0, 0, 0))


def _colour(n, z, max_iter):
    """RGB bytes for a point that escaped at iteration n with value z."""
    if n >= max_iter:
        return _INSIDE
    nu = n + 1 - math.log(math.log(abs(z))) / _LOG2
    idx = int(nu * 6.0) % len(_PALETTE)        # 6 palette steps per iteration
    return _PALETTE[idx]


def _in_main_bulbs(c):
    """True for points of the main cardioid or the period-2 bulb."""
    x, y = c.real, c.imag
    q = (x - 0.25) ** 2 + y * y
    in_cardioid = q * (q + (x - 0.25)) <= 0.25 * y * y
    return in_cardioid or (x + 1) ** 2 + y * y <= 0.0625


def _escape(z, c, max_iter):
    """Iterate z = z*z + c; returns (n, z) at escape or (max_iter, z)."""
    for n in range(max_iter):
        if z.real * z.real + z.imag * z.imag > BAILOUT:
            return n, z
        z = z * z + c
    return max_iter, z


def png_encode(width, height, rows):
    """A PNG (RGB, 8 bit) from `height` rows of width*3 bytes each."""
    raw = b"".join(b"\x00" + row for row in rows)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _render(width, height, centre, span, max_iter, point):
    """Rows of RGB bytes; point(p) -> (z0, c) for the plane point p."""
    scale = span / width
    x0 = centre.real - span / 2
    y0 = centre.imag + scale * height / 2
    rows = []
    for j in range(height):
        y = y0 - j * scale
        row = bytearray()
        for i in range(width):
            z, c = point(complex(x0 + i * scale, y))
            if z is None:
                row += _INSIDE
                continue
            n, z = _escape(z, c, max_iter)
            row += _colour(n, z, max_iter)
        rows.append(bytes(row))
    return rows


def mandelbrot(width, height, centre=complex(-0.6, 0.0), span=3.2,
               max_iter=80):
    """A Mandelbrot set PNG; span is the width of the view in the plane."""
    def point(p):
        return (None, p) if _in_main_bulbs(p) else (0j, p)
    return png_encode(width, height,
                      _render(width, height, centre, span, max_iter, point))


def julia(width, height, c=complex(-0.8, 0.156), centre=0j, span=3.2,
          max_iter=80):
    """A Julia set PNG for parameter c."""
    def point(p):
        return p, c
    return png_encode(width, height,
                      _render(width, height, centre, span, max_iter, point))

