"""/metrics after real traffic (hits, misses, a coalesced fill, an
eviction, auth), and the Grafana dashboard and Prometheus rules shipped in
conf/: promtool accepts them, and every metric they name is one the
gateway exports."""

import json
import os
import re
import subprocess
import time

import fixtures
import httputil
from waits import together, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "conf", "grafana", "swiftgate.json")
RULES = os.path.join(ROOT, "conf", "prometheus", "swiftgate-rules.yml")
PROM_CONFIG = os.path.join(ROOT, "docker", "prometheus.yml")

DURATION = "swiftgate_request_duration_seconds"


def _series(m, name):
    """{labels text: value} of every sample of metric `name` in m."""
    out = {}
    for key, value in m.items():
        if key == name:
            out[""] = value
        elif key.startswith(name + "{"):
            out[key[len(name) + 1:-1]] = value
    return out


def _label(labels, name):
    m = re.search(r'(?:^|,)%s="([^"]*)"' % name, labels)
    return m.group(1) if m else None


def _sum(m, name, **want):
    """The sum of name's samples whose labels match want."""
    return sum(v for labels, v in _series(m, name).items()
               if all(_label(labels, k) == w for k, w in want.items()))


def _get(gw, name):
    r = httputil.get(gw.url + "/fractal/" + name, timeout=30)
    return r.status, r.headers.get("X-Cache"), r.body


def _check_histograms(m):
    """Each cache result's buckets never decrease and end in _count; the
    counts sum to the requests counted by status."""
    buckets = {}
    for labels, v in _series(m, DURATION + "_bucket").items():
        le = _label(labels, "le")
        buckets.setdefault(_label(labels, "cache"), []).append(
            (float("inf") if le == "+Inf" else float(le), v))
    assert set(buckets) == {"NONE", "HIT", "MISS", "STALE", "REVALIDATED", "PASS"}, buckets
    total = 0
    for cache, pairs in buckets.items():
        pairs.sort()
        values = [v for _, v in pairs]
        assert values == sorted(values), (cache, pairs)
        count = m['%s_count{cache="%s"}' % (DURATION, cache)]
        assert pairs[-1] == (float("inf"), count), (cache, pairs, count)
        assert count == _sum(m, "swiftgate_requests_total", cache=cache), (cache, count)
        total += count
    return total


def _check_process(gw, m, t_start):
    with open("/proc/%d/stat" % gw.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        btime = int(re.search(r"^btime (\d+)$", f.read(), re.M).group(1))
    start = btime + int(fields[19]) / ticks
    assert abs(m["process_start_time_seconds"] - start) < 0.02, (m["process_start_time_seconds"], start)
    assert t_start - 60 < start <= time.time(), (start, t_start)
    assert 0 < m["process_open_fds"] < m["process_max_fds"], m
    # Nothing runs meanwhile but the gateway's own upkeep.
    assert abs(len(os.listdir("/proc/%d/fd" % gw.proc.pid)) - m["process_open_fds"]) <= 8, m
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    assert 0.5 * rss < m["process_resident_memory_bytes"] < 2 * rss + (64 << 20), (m, rss)
    assert m["process_virtual_memory_bytes"] >= m["process_resident_memory_bytes"], m
    # 20 MiB hashed and sent at least once: some CPU time, and no more than it has had.
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    assert 0 < m["process_cpu_seconds_total"] <= cpu + 0.01, (m["process_cpu_seconds_total"], cpu)


def _check_build_info(gw, m):
    info = _series(m, "swiftgate_build_info")
    assert len(info) == 1 and list(info.values()) == [1], info
    labels = list(info)[0]
    version = subprocess.run([gw.bin, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.split()[-1]
    assert _label(labels, "version") == version, (labels, version)
    commit = _label(labels, "commit")
    if commit != "unknown":
        # Built from this checkout: the commit is one git knows here.
        r = subprocess.run(["git", "-C", ROOT, "cat-file", "-e", commit + "^{commit}"],
                           capture_output=True, timeout=10)
        assert re.fullmatch(r"[0-9a-f]{7,40}", commit) and r.returncode == 0, (commit, r.stderr)


def test_metrics_after_traffic(ctx):
    """Misses, hits, a coalesced fill and evictions under max_size: the new
    series are there with the values the traffic implies."""
    t_start = time.time()
    big = fixtures.random_bytes(12 << 20, seed=901)
    small = [fixtures.random_bytes(2 << 20, seed=910 + i) for i in range(6)]
    big_names = [fixtures.upload(ctx.saio, big)[0] for _ in range(3)]
    names = [fixtures.upload(ctx.saio, d)[0] for d in small]
    gw = ctx.gateway(server={"workers": "2"},
                     cache={"max_size": "24M", "max_object_size": "16M"})
    made = 0
    # Coalescing: clients released together on a cold 12 MiB object; a
    # fresh object again (three at most) if every one came too late to join.
    for name in big_names:
        statuses = together(8, lambda i, name=name: _get(gw, name)[0])
        made += len(statuses)
        assert statuses == [200] * 8, statuses
        if _sum(gw.metrics(), "swiftgate_coalesced_requests_total", kind="object") > 0:
            break
    hits = 0
    for name, data in zip(names, small):
        status, xcache, body = _get(gw, name)
        assert status == 200 and body == data and xcache == "MISS", (status, xcache)
        status, xcache, body = _get(gw, name)
        assert status == 200 and body == data and xcache == "HIT", (status, xcache)
        made += 2
        hits += 1
    # 12 MiB and 12 MiB more of small objects passed 24M: evictions for size.
    m = wait_until(lambda: (lambda m: m if _sum(m, "swiftgate_cache_evictions_total",
                                                 reason="size") > 0 else None)(gw.metrics()),
                   5.0, "an eviction for size")

    assert _check_histograms(m) == made, (made, m)
    assert m['%s_count{cache="HIT"}' % DURATION] >= hits, m
    assert m['%s_count{cache="MISS"}' % DURATION] >= len(names) + 1, m
    assert m['%s_sum{cache="MISS"}' % DURATION] > 0, m

    coalesced = _sum(m, "swiftgate_coalesced_requests_total", kind="object")
    assert 1 <= coalesced <= made - len(names), m
    assert m['swiftgate_cache_evictions_total{reason="entries"}'] == 0, m
    assert m['swiftgate_cache_evictions_total{reason="index"}'] == 0, m
    assert m["swiftgate_cache_max_bytes"] == 24 << 20, m
    assert 0 < m["swiftgate_cache_bytes"] <= m["swiftgate_cache_max_bytes"], m
    assert m["swiftgate_cache_index_size_bytes"] == 1 << 30, m
    assert 0 < m["swiftgate_cache_index_used_bytes"] < m["swiftgate_cache_index_size_bytes"], m
    assert m['swiftgate_auth_requests_total{result="ok"}'] >= 1, m
    assert m['swiftgate_auth_requests_total{result="refused"}'] == 0, m
    _check_build_info(gw, m)
    _check_process(gw, m, t_start)
    print("requests %d, coalesced %d, evicted for size %d, open fds %d" % (
        made, coalesced, m['swiftgate_cache_evictions_total{reason="size"}'],
        m["process_open_fds"]))


def test_auth_refused_is_counted(ctx):
    """A wrong key: the token request is answered and refused, and counted so."""
    name, _ = fixtures.upload(ctx.saio, fixtures.random_bytes(1000, seed=930))
    gw = ctx.gateway(swift={"key": "wrong"})
    assert _get(gw, name)[0] == 502
    m = gw.metrics()
    assert m['swiftgate_auth_requests_total{result="refused"}'] >= 1, m
    assert m['swiftgate_auth_requests_total{result="ok"}'] == 0, m


# -- the dashboard and the rules ---------------------------------------------------

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                "and", "or", "unless", "offset", "inf", "nan"}


def promql_metrics(expr):
    """The metric names a PromQL expression reads (functions, keywords,
    label names and Grafana variables left out)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)       # strings
    e = re.sub(r"\$\{?\w+\}?", "", e)                    # Grafana variables
    e = re.sub(r"\{[^}]*\}", "", e)                      # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                     # ranges
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        if word.lower() in PROMQL_WORDS or re.match(r"\s*\(", e[m.end():]):
            continue
        names.add(word)
    return names


def dashboard_exprs(panels):
    for p in panels:
        for t in p.get("targets", []):
            if "expr" in t:
                yield p["title"], t["expr"]
        yield from dashboard_exprs(p.get("panels", []))    # rows


def rule_exprs(text):
    """(alert name, expr) of each rule, expr: on one line or a block scalar."""
    out, alert, lines = [], None, text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*- alert:\s*(\S+)", line)
        if m:
            alert = m.group(1)
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if not m:
            continue
        expr = m.group(2)
        if expr in ("|", ">", "|-", ">-"):
            block = []
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= len(m.group(1)):
                    break
                block.append(nxt.strip())
            expr = " ".join(block)
        out.append((alert, expr))
    return out


def exported_names(gw):
    """Every metric name /metrics declares (# TYPE), a histogram's series too."""
    body = httputil.get(gw.admin_url + "/metrics", timeout=10).body.decode()
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", body, re.M):
        names.add(name)
        if kind == "histogram":
            names.update(name + s for s in ("_bucket", "_sum", "_count"))
    return names


def _check_promql_parser():
    """promql_metrics() finds metrics, and only them."""
    assert promql_metrics(
        'histogram_quantile(0.99, sum by (le, cache) (rate(a_bucket{job=~"$job",'
        'cache!="NONE"}[$__rate_interval])))') == {"a_bucket"}
    assert promql_metrics('sum by (job) (rate(x_total{s=~"5.."}[5m])) / on(job) '
                          'sum without (s) (y) > 0.01 and up{job="z"} == 0') == \
        {"x_total", "y", "up"}


def test_dashboard_and_rules_name_exported_metrics(ctx):
    _check_promql_parser()
    with open(DASHBOARD) as f:
        dash = json.load(f)
    assert isinstance(dash.get("schemaVersion"), int), "no schemaVersion"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and \
        variables["datasource"]["query"] == "prometheus", variables
    titles = {p["title"] for p in dash["panels"]}
    for want in ("Hit ratio", "Requests/s by status", "Latency quantiles",
                 "Origin fetches and errors", "Cache fill", "File descriptors"):
        assert want in titles, (want, titles)
    with open(RULES) as f:
        rules = rule_exprs(f.read())
    alerts = {a for a, _ in rules}
    for want in ("SwiftgateHigh5xxRatio", "SwiftgateDigestMismatch",
                 "SwiftgateIndexMapOver80Percent", "SwiftgateAuthFailures", "SwiftgateDown"):
        assert want in alerts, (want, alerts)

    gw = ctx.gateway()
    exported = exported_names(gw) | {"up"}          # up: Prometheus's own, per scrape
    used = {}
    for v in variables.values():
        if v["type"] == "query":
            m = re.match(r"label_values\((\w+)", v["definition"])
            assert m, v
            used.setdefault(m.group(1), "variable " + v["name"])
    for where, expr in list(dashboard_exprs(dash["panels"])) + rules:
        names = promql_metrics(expr)
        assert names, "%s: no metric in %r" % (where, expr)
        for n in names:
            used.setdefault(n, where)
    missing = {n: where for n, where in used.items() if n not in exported}
    assert not missing, "named but not exported by /metrics: %s" % missing
    print("%d metrics named by the dashboard and the rules, all exported" % len(used))


def test_promtool_accepts_rules_and_config(ctx):
    """promtool (Debian's prometheus package, a test dependency of make deps)
    accepts the rules, and docker/prometheus.yml with them."""
    for args in (["check", "rules", RULES], ["check", "config", PROM_CONFIG]):
        try:
            r = subprocess.run(["promtool"] + args, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise AssertionError("promtool not installed: make deps installs it "
                                 "(docker/debian-packages.txt, prometheus)") from None
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert "SUCCESS" in r.stdout + r.stderr, (args, r.stdout, r.stderr)
