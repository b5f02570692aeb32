"""What the soak asks for, and the bytes each answer must hold: objects
uploaded to Swift (plain ones of 4 KiB to 1 MiB, a few of 8 MiB, SLOs and
DLOs through tests/lib/largeobj.py), fresh objects uploaded while the load
runs (cold misses), and uuids Swift never had."""

import hashlib
import math
import random
import threading
import time
import uuid

import largeobj

CONTAINER = "fractals"


class Obj:
    """One object as the gateway must serve it."""

    def __init__(self, name, data, etag, kind):
        self.name = name
        self.data = data
        self.etag = etag
        self.kind = kind            # plain, big, slo, dlo, fresh

    @property
    def path(self):
        return "/fractal/" + self.name

    def __repr__(self):
        return "<Obj %s %s %d bytes>" % (self.kind, self.name, len(self.data))


def log_uniform_size(rnd, lo, hi):
    return int(math.exp(rnd.uniform(math.log(lo), math.log(hi))))


def put_plain(saio, rnd, size, kind):
    name = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    data = rnd.randbytes(size)
    etag = saio.put_object(CONTAINER, name, data, "application/octet-stream")
    assert etag == hashlib.md5(data).hexdigest(), (name, etag)
    return Obj(name, data, etag, kind)


def put_large(saio, rnd, kind, sizes):
    """An SLO or a DLO over fresh segments of the given sizes."""
    name = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    segs = largeobj.put_segments(saio, name, sizes,
                                 seed=rnd.getrandbits(32))
    if kind == "slo":
        lo = largeobj.put_slo(saio, name,
                              [largeobj.seg_part(s) for s in segs])
    else:
        lo = largeobj.put_dlo(saio, name, segs,
                              "%s/%s/" % (largeobj.SEGMENTS, name))
    return Obj(name, lo.data, lo.etag, kind)


class Catalogue:
    """The objects in Swift that the load may ask for.  Thread-safe: an
    uploader thread adds fresh objects while the clients pick."""

    def __init__(self, rnd):
        self.rnd = rnd
        self.plain = []
        self.big = []
        self.large = []
        self._fresh = []            # uploaded, not yet asked for
        self.recent = []            # fresh objects already asked for
        self.recent_cap = 200
        self.uploaded = 0
        self._lock = threading.Lock()

    def fill(self, saio, n_plain=60, n_big=2, n_slo=2, n_dlo=2):
        rnd = self.rnd
        for _ in range(n_plain):
            self.plain.append(put_plain(saio, rnd, log_uniform_size(
                rnd, 4 << 10, 1 << 20), "plain"))
        for _ in range(n_big):
            self.big.append(put_plain(saio, rnd, 8 << 20, "big"))
        for i in range(n_slo):
            self.large.append(put_large(saio, rnd, "slo",
                                        [1 << 20] * 3 + [300000 + i]))
        for i in range(n_dlo):
            self.large.append(put_large(saio, rnd, "dlo",
                                        [700000, 700001 + i, 5000]))
        return self

    def everything(self):
        with self._lock:
            return self.plain + self.big + self.large + list(self.recent)

    def pick_hit(self, rnd):
        with self._lock:
            pool = self.plain + self.recent
            return pool[rnd.randrange(len(pool))]

    def pick_large(self, rnd):
        return rnd.choice(self.big + self.large)

    def pick_any(self, rnd):
        """Any object: for ranges, HEADs, conditionals and purges."""
        with self._lock:
            pool = self.plain + self.big + self.large + self.recent
            return pool[rnd.randrange(len(pool))]

    def take_fresh(self):
        """An object uploaded during the load and never asked for, or None.
        Once its first answer is in, asked() lets hits pick it: before,
        another client's GET could make that first answer a HIT."""
        with self._lock:
            return self._fresh.pop(0) if self._fresh else None

    def asked(self, obj):
        with self._lock:
            self.recent.append(obj)
            del self.recent[:-self.recent_cap]

    def fresh_waiting(self):
        with self._lock:
            return len(self._fresh)

    def uploader(self, saio, stop, rate=4.0, backlog=40, errors=None):
        """Upload fresh objects (4 KiB to 256 KiB) at most `rate` a second,
        keeping at most `backlog` waiting, until stop (an Event) is set.
        Upload failures are appended to errors."""
        rnd = random.Random(self.rnd.getrandbits(64))
        while not stop.is_set():
            t0 = time.monotonic()
            if self.fresh_waiting() < backlog:
                try:
                    obj = put_plain(saio, rnd, log_uniform_size(
                        rnd, 4 << 10, 256 << 10), "fresh")
                except Exception as e:      # counted; the soak fails on it
                    if errors is not None:
                        errors.append("upload: %s" % e)
                    stop.wait(1.0)
                    continue
                with self._lock:
                    self._fresh.append(obj)
                    self.uploaded += 1
            stop.wait(max(0.0, 1.0 / rate - (time.monotonic() - t0)))


def missing_uuid(rnd):
    """A uuid no object was ever uploaded under (its first group is
    fixed, and the catalogue's are random)."""
    return "00000000-" + str(uuid.UUID(int=rnd.getrandbits(128),
                                       version=4))[9:]
