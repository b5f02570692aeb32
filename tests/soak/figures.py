"""Figures of the soak: percentiles, a gateway's RSS, counters from
/metrics, the RSS slope, and the tables printed as Markdown."""

import re


def percentile(values, q):
    """The q-th percentile (0..100) of values, nearest rank; None if empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ms(seconds):
    return "-" if seconds is None else "%.1f" % (seconds * 1000.0)


def rss_kib(pid):
    """(VmRSS, RssAnon, RssFile) of a live process in KiB, or None once it
    is gone."""
    want = ("VmRSS:", "RssAnon:", "RssFile:")
    got = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(want):
                    got[line.split()[0]] = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    if len(got) != len(want):
        return None
    return tuple(got[k] for k in want)


_KIND_RE = re.compile(r'swiftgate_errors_total\{kind="([^"]+)"\}')


def gateway_errors(metrics):
    """{kind: count} from a gw.metrics() dict."""
    out = {}
    for key, value in metrics.items():
        m = _KIND_RE.fullmatch(key)
        if m:
            out[m.group(1)] = int(value)
    return out


def responses(metrics):
    """Total of swiftgate_requests_total over every status and result."""
    return int(sum(v for k, v in metrics.items()
                   if k.startswith("swiftgate_requests_total{")))


def diff(now, before):
    """{key: now - before} for the keys whose difference is not zero."""
    out = {}
    for key in set(now) | set(before):
        d = now.get(key, 0) - before.get(key, 0)
        if d:
            out[key] = d
    return out


def kinds_text(counts):
    """'a=1 b=2' sorted by name, or '-'."""
    return " ".join("%s=%d" % kv for kv in sorted(counts.items())) or "-"


def pooled_slope(groups):
    """Least-squares slope shared by several series, each with its own
    intercept (one series per gateway process, so that a restart's drop
    is not read as a trend).  groups: [[(x, y)]].  None if fewer than two
    distinct x in every group together."""
    sxx = sxy = 0.0
    for pts in groups:
        if len(pts) < 2:
            continue
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        sxx += sum((x - mx) ** 2 for x, _ in pts)
        sxy += sum((x - mx) * (y - my) for x, y in pts)
    return sxy / sxx if sxx > 0 else None


def markdown(header, rows):
    """A Markdown table: header is a list of column names, rows lists of
    cells (converted with str)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells])
              for i, h in enumerate(header)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in
                                       zip(r, widths)) + " |"
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)
