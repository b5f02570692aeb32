"""The summary of a client command that works through a list (`swiftgate
warm`, `swiftgate backup`): its --summary-json object on stdout and the
human line on stderr, which must say the same."""

import json

import gateway


def summary_json(out, err):
    """The --summary-json object: the last line of stdout."""
    lines = out.strip().splitlines()
    assert lines, "no --summary-json line on stdout; stderr:\n%s" % (
        gateway.tail(err))
    return json.loads(lines[-1])


def assert_counts(js, err, summary_re, keys, **want):
    """js has the counts `want`; the line summary_re finds on stderr gives
    the counts named `keys`, in its order, as js does."""
    got = {k: js.get(k) for k in want}
    assert got == want, "summary: want %s, got %s\nstderr:\n%s" % (
        want, js, gateway.tail(err, 20))
    m = summary_re.search(err)
    assert m, "no summary line on stderr:\n%s" % gateway.tail(err)
    for k, v in zip(keys, map(int, m.groups())):
        assert js[k] == v, "stderr says %s %d, JSON says %d" % (k, v, js[k])
