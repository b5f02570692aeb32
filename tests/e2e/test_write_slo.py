"""A PUT over [swift] segment_size through the gateway, against the real
Swift: stored as a static large object (segments in fractals_segments under
<uuid>/<timestamp>/, then the manifest), which Swift itself serves byte for
byte and the gateway serves from its cache at once.  A body that does not
match its Content-MD5, or a client that goes mid-body, leaves nothing:
no object, no segment, nothing cached.

A chunked body goes as segments from its start: over segment_size it ends
as an SLO, within one segment as a plain object Swift copies from it (the
segment then deleted).
"""

import base64
import hashlib
import json
import urllib.parse

import fixtures
import httputil
from answers import describe, get
from test_inspect import inspected
from test_write import CONTAINER, TOKEN, _cut_mid_body, _hwm_kib, png_bytes, put
from waits import wait_until

SEGMENTS = CONTAINER + "_segments"
MIB = 1 << 20


def slo_writer(ctx, segment_size="1M", **swift):
    return ctx.gateway(server={"write_token": TOKEN},
                       swift=dict({"segment_size": segment_size}, **swift))


def segments_of(ctx, name):
    """The names in fractals_segments under <name>/."""
    url = "%s?format=json&prefix=%s" % (ctx.saio.object_url(SEGMENTS),
                                        urllib.parse.quote(name + "/"))
    r = ctx.saio.request("GET", url)
    if r.status == 204:
        return []
    assert r.status == 200, r.status
    return [e["name"] for e in json.loads(r.body)]


def test_put_over_segment_size_is_an_slo_swift_serves(ctx):
    """5 MiB with segment_size 1M: 201 with the SLO ETag; Swift says SLO and
    serves the same bytes; five 1 MiB segments under <uuid>/<timestamp>/;
    the gateway's GET after is a HIT, byte for byte, with no GET at Swift."""
    gw = slo_writer(ctx)
    name, data = fixtures.new_uuid(), png_bytes(5 * MIB, seed=71)
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    status, h, body = put(gw, name, data, {"Content-MD5": md5})
    assert status == 201, (status, body)
    seg_md5s = [hashlib.md5(data[i:i + MIB]).hexdigest() for i in range(0, len(data), MIB)]
    slo_etag = hashlib.md5("".join(seg_md5s).encode()).hexdigest()
    assert h.get("etag") == '"%s"' % slo_etag, h
    st, sh, sbody = ctx.saio.get_object(CONTAINER, name)
    assert st == 200 and sbody == data, (st, len(sbody))
    assert (sh.get("X-Static-Large-Object") or "").lower() == "true", sh
    assert (sh.get("Content-Type") or "").startswith("image/png"), sh
    info = inspected(gw, name)
    assert info["kind"] == "slo" and info["manifest_etag"] == sh.get("X-Manifest-Etag"), \
        (info, sh)
    assert info["segments"]["count"] == 5 and info["segments"]["cached"] == 5, info
    segs = segments_of(ctx, name)
    assert len(segs) == 5, segs
    assert len(set(s.rsplit("/", 1)[0] for s in segs)) == 1, segs
    swift_gets = lambda: ctx.saio.proxy_log_count("GET", "/v1/AUTH_test/.*%s.*" % name)
    before = swift_gets()
    r = get(gw, name, timeout=60)
    assert r.status == 200 and r.body == data, describe(r)
    assert r.headers.get("X-Cache") == "HIT", describe(r)
    assert r.headers.get("ETag") == '"%s"' % slo_etag, describe(r)
    assert swift_gets() == before, "the gateway asked Swift for what it had cached"


def test_wrong_content_md5_leaves_no_segments(ctx):
    """A 5 MiB body whose Content-MD5 is another's: 422, no object in Swift,
    no segment left in fractals_segments, nothing cached."""
    gw = slo_writer(ctx)
    name, data = fixtures.new_uuid(), png_bytes(5 * MIB, seed=72)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    status, _, body = put(gw, name, data, {"Content-MD5": bad})
    assert status == 422, (status, body)
    assert ctx.saio.head_object(CONTAINER, name)[0] == 404
    assert segments_of(ctx, name) == []
    assert gw.error_count("upload_digest_mismatch") == 1
    r = get(gw, name)
    assert r.status == 404 and r.headers.get("X-Cache") != "HIT", describe(r)


def test_client_stopping_mid_body_leaves_no_segments(ctx):
    """2.5 MiB of a 5 MiB body, then the client goes: two segments were
    stored by then, and both are deleted; no object, nothing cached."""
    gw = slo_writer(ctx)
    name, data = fixtures.new_uuid(), png_bytes(5 * MIB, seed=73)
    _cut_leaves_nothing(ctx, gw, name, "Content-Length: %d\r\n" % len(data),
                        data[:5 * MIB // 2], stored=2)


def _cut_leaves_nothing(ctx, gw, name, head_fields, first_part, stored):
    """The client sends head_fields and first_part, then goes: the `stored`
    segments Swift had by then are deleted; no object, nothing cached."""
    _cut_mid_body(gw, name, head_fields, first_part)
    wait_until(lambda: gw.error_count("upload_aborted") >= 1, timeout=10,
               what="the upload counted as aborted")
    wait_until(lambda: segments_of(ctx, name) == [], timeout=10,
               what="no segment left in %s" % SEGMENTS)
    assert ctx.saio.head_object(CONTAINER, name)[0] == 404
    deleted = ctx.saio.proxy_log_count("DELETE", "/v1/AUTH_test/%s/%s/.*" % (SEGMENTS, name))
    assert deleted >= stored, "%d segments deleted, %d were stored" % (deleted, stored)
    r = get(gw, name)
    assert r.status == 404, describe(r)


def test_big_slo_upload_is_streamed_in_bounded_memory(ctx):
    """44 MiB and a bit with segment_size 8M (the last segment short): the
    peak RSS grows by far less than the body or a segment; Swift serves it
    byte for byte, and so does the gateway's cache."""
    gw = slo_writer(ctx, segment_size="8M")
    name, data = fixtures.new_uuid(), png_bytes(44 * MIB + 1234, seed=74)
    assert get(gw, fixtures.new_uuid()).status == 404  # warm up the worker
    before = _hwm_kib(gw.proc.pid)
    status, h, _ = put(gw, name, data)
    grown = _hwm_kib(gw.proc.pid) - before
    assert status == 201, status
    assert grown < 8 << 10, "peak RSS grew by %d KiB for a 44 MiB upload" % grown
    print("44 MiB SLO upload: peak RSS +%d KiB" % grown)
    assert len(segments_of(ctx, name)) == 6
    st, _, sbody = ctx.saio.get_object(CONTAINER, name)
    assert st == 200 and hashlib.md5(sbody).hexdigest() == hashlib.md5(data).hexdigest()
    r = get(gw, name, timeout=60)
    assert r.headers.get("X-Cache") == "HIT" and r.body == data, describe(r)


def test_swift_failing_a_segment_or_the_manifest_leaves_nothing(ctx):
    """Through the fault origin, 3.5 MiB in four segments: the third
    segment refused (503), reset mid-body, or stored under another ETag, or
    the manifest answered with an ETag that is not the SLO's: 502, every
    segment Swift got is deleted (and the manifest), nothing is cached."""
    import faultorigin
    cases = [("seg", "status=503", "upload_aborted"),
             ("seg", "reset=100000", "upload_aborted"),
             ("seg", "wrong_etag", "upload_digest_mismatch"),
             ("manifest", "wrong_etag", "upload_digest_mismatch")]
    with faultorigin.FaultOrigin() as origin:
        gw = ctx.gateway(server={"write_token": TOKEN},
                         swift=dict(origin.swift_conf(), segment_size="1M"))
        for i, (where, fault, kind) in enumerate(cases):
            name, data = fixtures.new_uuid(), png_bytes(7 * MIB // 2, seed=80 + i)
            if where == "seg":
                origin.set_put_fault(SEGMENTS, name + "/*/00000002", fault)
            else:
                origin.set_put_fault(CONTAINER, name, fault)
            before = gw.error_count(kind)
            status, _, body = put(gw, name, data)
            assert status == 502, (fault, status, body)
            assert gw.error_count(kind) == before + 1, (fault, kind)
            left = origin.names(SEGMENTS, name + "/")
            assert left == [], (fault, left)
            assert origin.names(CONTAINER, name) == [], fault
            assert origin.count("PUT", name, CONTAINER) == (1 if where == "manifest" else 0)
            r = get(gw, name)
            assert r.status == 404 and r.headers.get("X-Cache") != "HIT", (fault, describe(r))


def test_no_segment_container_is_502_and_nothing_stored(ctx):
    """A container with no <container>_segments beside it: Swift answers
    the first segment 404; the client gets 502 and Swift has nothing."""
    ctx.saio.put_container("lonely")
    gw = slo_writer(ctx, container="lonely")
    name, data = fixtures.new_uuid(), png_bytes(3 * MIB, seed=90)
    status, _, body = put(gw, name, data)
    assert status == 502, (status, body)
    assert ctx.saio.head_object("lonely", name)[0] == 404
    assert gw.error_count("upload_aborted") == 1


def _answer_to_head(gw, name, length):
    """The gateway's answer to a PUT head of Content-Length `length`, no body sent."""
    import socket
    host, port, _ = httputil.split_url(gw.url)
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(("PUT /fractal/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Length: %d\r\n\r\n" % (name, TOKEN, length)).encode())
        return s.recv(4096)


def test_refused_before_swift_when_it_cannot_be_an_slo(ctx):
    """More segments than [swift] max_segments allows: 413; a segment
    container the gateway may not read (segment_containers): 500.  Swift
    is asked nothing."""
    gw = slo_writer(ctx, max_segments="4")
    name = fixtures.new_uuid()
    assert _answer_to_head(gw, name, 5 * MIB).startswith(b"HTTP/1.1 413 "), name
    gw = slo_writer(ctx, segment_containers=CONTAINER)
    assert _answer_to_head(gw, name, 5 * MIB).startswith(b"HTTP/1.1 500 "), name
    assert ctx.saio.proxy_log_count("PUT", "/v1/AUTH_test/.*%s.*" % name) == 0


def _swift_gets(ctx, name):
    return ctx.saio.proxy_log_count("GET", "/v1/AUTH_test/.*%s.*" % name)


def test_chunked_body_over_segment_size_is_an_slo(ctx):
    """Chunked bodies with segment_size 1M: 3.5 MiB is an SLO of four
    segments, 2 MiB (ending on a segment's end) one of two; Swift says SLO
    and serves the same bytes, and the gateway's GET is a HIT with no GET
    at Swift."""
    gw = slo_writer(ctx)
    for size, count, seed in ((7 * MIB // 2, 4, 100), (2 * MIB, 2, 101)):
        name, data = fixtures.new_uuid(), png_bytes(size, seed=seed)
        status, h, body = put(gw, name, data, chunked=True)
        assert status == 201, (size, status, body)
        seg_md5s = [hashlib.md5(data[i:i + MIB]).hexdigest() for i in range(0, size, MIB)]
        slo_etag = hashlib.md5("".join(seg_md5s).encode()).hexdigest()
        assert h.get("etag") == '"%s"' % slo_etag, (size, h)
        st, sh = ctx.saio.head_object(CONTAINER, name)
        assert st == 200 and (sh.get("X-Static-Large-Object") or "").lower() == "true", sh
        st, _, sbody = ctx.saio.get_object(CONTAINER, name)
        assert st == 200 and sbody == data, (size, st, len(sbody))
        assert len(segments_of(ctx, name)) == count, (size, segments_of(ctx, name))
        before = _swift_gets(ctx, name)
        r = get(gw, name, timeout=60)
        assert r.status == 200 and r.body == data, describe(r)
        assert r.headers.get("X-Cache") == "HIT", describe(r)
        assert _swift_gets(ctx, name) == before, "the gateway asked Swift for what it had cached"


def test_chunked_body_within_a_segment_is_a_plain_object(ctx):
    """300 KiB chunked (its type sniffed), and an empty chunked body with a
    type, with segment_size 1M: plain objects (no X-Static-Large-Object),
    of the body's MD5 and the type the upload chose, no segment left under
    the uuid, and the gateway's GET is a HIT of an object entry."""
    gw = slo_writer(ctx)
    for data, headers, ctype in ((png_bytes(300 << 10, seed=102), {}, "image/png"),
                                 (b"", {"Content-Type": "image/webp"}, "image/webp")):
        name = fixtures.new_uuid()
        status, h, body = put(gw, name, data, headers, chunked=True)
        assert status == 201, (status, body)
        md5 = hashlib.md5(data).hexdigest()
        assert h.get("etag") == '"%s"' % md5, h
        st, sh, sbody = ctx.saio.get_object(CONTAINER, name)
        assert st == 200 and sbody == data, (st, len(sbody))
        assert "X-Static-Large-Object" not in sh and sh.get("Etag", "").strip('"') == md5, sh
        assert (sh.get("Content-Type") or "").startswith(ctype), sh
        assert segments_of(ctx, name) == []
        assert inspected(gw, name)["kind"] == "object"
        before = _swift_gets(ctx, name)
        r = get(gw, name)
        assert r.status == 200 and r.body == data, describe(r)
        assert r.headers.get("X-Cache") == "HIT", describe(r)
        assert _swift_gets(ctx, name) == before


def test_swift_failing_the_copy_of_a_chunked_body_leaves_nothing(ctx):
    """Through the fault origin, 300 KiB chunked: the copy to the object
    refused (503) or stored under another ETag: 502, the copy deleted (the
    object Swift stored must go), the segment deleted, nothing cached."""
    import faultorigin
    cases = [("status=503", "upload_aborted"), ("wrong_etag", "upload_digest_mismatch")]
    with faultorigin.FaultOrigin() as origin:
        gw = ctx.gateway(server={"write_token": TOKEN},
                         swift=dict(origin.swift_conf(), segment_size="1M"))
        for i, (fault, kind) in enumerate(cases):
            name, data = fixtures.new_uuid(), png_bytes(300 << 10, seed=110 + i)
            origin.set_put_fault(CONTAINER, name, fault)
            before = gw.error_count(kind)
            status, _, body = put(gw, name, data, chunked=True)
            assert status == 502, (fault, status, body)
            assert gw.error_count(kind) == before + 1, (fault, kind)
            assert origin.names(SEGMENTS, name + "/") == [], fault
            assert origin.names(CONTAINER, name) == [], fault
            r = get(gw, name)
            assert r.status == 404 and r.headers.get("X-Cache") != "HIT", (fault, describe(r))


def test_chunked_body_with_wrong_content_md5_leaves_nothing(ctx):
    """Chunked bodies of one segment and of four whose Content-MD5 is
    another's: 422, no object, no segment, nothing cached."""
    gw = slo_writer(ctx)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    for size, seed in ((300 << 10, 103), (7 * MIB // 2, 104)):
        name, data = fixtures.new_uuid(), png_bytes(size, seed=seed)
        status, _, body = put(gw, name, data, {"Content-MD5": bad}, chunked=True)
        assert status == 422, (size, status, body)
        assert ctx.saio.head_object(CONTAINER, name)[0] == 404
        assert segments_of(ctx, name) == []
        r = get(gw, name)
        assert r.status == 404 and r.headers.get("X-Cache") != "HIT", describe(r)
    assert gw.error_count("upload_digest_mismatch") == 2


def test_chunked_client_stopping_mid_body_leaves_nothing(ctx):
    """1.5 MiB of chunks, then the client goes: the segment stored by then
    is deleted; no object, nothing cached."""
    gw = slo_writer(ctx)
    name, data = fixtures.new_uuid(), png_bytes(3 * MIB // 2, seed=105)
    step = 256 << 10
    chunks = b"".join(b"%x\r\n%s\r\n" % (step, data[i:i + step])
                      for i in range(0, len(data), step))
    _cut_leaves_nothing(ctx, gw, name, "Transfer-Encoding: chunked\r\n", chunks, stored=1)


def test_chunked_body_needing_too_many_segments_is_413(ctx):
    """max_segments 2 and 3.5 MiB chunked: 413 at the third segment's
    first byte; the two stored segments are deleted, no object."""
    gw = slo_writer(ctx, max_segments="2")
    name, data = fixtures.new_uuid(), png_bytes(7 * MIB // 2, seed=106)
    status, _, body = put(gw, name, data, chunked=True)
    assert status == 413, (status, body)
    assert ctx.saio.head_object(CONTAINER, name)[0] == 404
    wait_until(lambda: segments_of(ctx, name) == [], timeout=10,
               what="no segment left in %s" % SEGMENTS)
