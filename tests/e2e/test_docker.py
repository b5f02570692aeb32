"""The container side of a deployment, checked without a Docker engine:
the image installs exactly the "run" role of docker/debian-packages.txt
(the libraries the binary links, plus CA certificates), asks /healthz with
the gateway's own binary and bakes in no Swift or credentials;
docker/compose.yaml passes Debian's `docker-compose config`, its gateways
drain before they are killed, Prometheus scrapes each of them; the seeding
job (docker/seed.py) uploads the demo's fractals that a gateway then
serves."""

import os
import re
import subprocess

import gateway
import httputil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DOCKER = os.path.join(ROOT, "docker")


def _stages():
    """{stage name: [instruction lines, continuations joined]}, in order."""
    with open(os.path.join(DOCKER, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages, cur = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?$", line, re.I)
        if m:
            cur = stages.setdefault(m.group(1) or "stage%d" % len(stages), [])
        cur.append(line)
    return stages


def _role(role):
    """Packages of `role`, read from the list here, independently of deps.sh."""
    out = []
    with open(os.path.join(DOCKER, "debian-packages.txt")) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 2 and not line.startswith("#") and \
                    role in fields[1].split(","):
                out.append(fields[0])
    return out


def _package_of(path):
    """The Debian package that ships the library at path."""
    for p in (path, os.path.realpath(path), "/usr" + path):
        r = subprocess.run(["dpkg-query", "-S", p], capture_output=True,
                           text=True, timeout=30)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    raise AssertionError("no package ships %s" % path)


def _base_packages():
    """The packages every Debian has: the Essential ones and all they
    depend on (libc6, libgcc-s1, ...), as dpkg records them here."""
    rows = subprocess.run(
        ["dpkg-query", "-W", "-f",
         "${Package}\t${Essential}\t${Pre-Depends}, ${Depends}\n"],
        capture_output=True, text=True, timeout=60).stdout.splitlines()
    deps, todo = {}, []
    for row in rows:
        name, essential, d = row.split("\t")
        deps[name] = [re.split(r"[\s:(]", alt.strip())[0]
                      for alt in re.split(r"[,|]", d) if alt.strip()]
        if essential == "yes":
            todo.append(name)
    seen = set()
    while todo and len(seen) < 10000:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(deps.get(name, []))
    return seen


def _linked_packages(bin):
    """Packages of the libraries bin names (DT_NEEDED), less the ones every
    Debian has."""
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", subprocess.run(
        ["readelf", "-d", bin], capture_output=True, text=True,
        timeout=30).stdout)
    ldd = subprocess.run(["ldd", bin], capture_output=True, text=True,
                         timeout=30).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    base = _base_packages()
    assert "libc6" in base, len(base)
    pkgs = {_package_of(paths[lib]).split(":")[0] for lib in needed}
    return needed, pkgs - base


def test_image_installs_exactly_the_run_role(ctx):
    stages = _stages()
    names = list(stages)
    assert names[-1] == "run", names          # `docker build` makes this one
    run = stages["run"]
    installs = [ln for ln in run if ln.startswith("RUN")]
    roles = [re.findall(r"deps\.sh((?:\s+[a-z]+)+)", ln) for ln in installs]
    assert [r[0].split() for r in roles if r] == [["run"]], installs
    assert not any(re.search(r"apt-get|\bapt\s+install|\bdpkg\s+-i|\bpip3?\s", ln)
                   for ln in installs), installs
    listed = subprocess.run([os.path.join(DOCKER, "deps.sh"), "--list",
                             "run"], capture_output=True, text=True,
                            timeout=30)
    assert listed.returncode == 0, listed.stderr
    run_role = _role("run")
    assert listed.stdout.split() == run_role, (listed.stdout, run_role)
    # What the binary links is what the role installs; the one package more
    # is the CA bundle, which libcurl reads for https:// to Swift.
    needed, linked = _linked_packages(ctx.bin)
    assert "libuv.so.1" in needed and "libcurl.so.4" in needed, needed
    assert set(run_role) - linked == {"ca-certificates"}, (run_role, linked)
    assert linked <= set(run_role), (linked, run_role)


def test_image_health_and_no_baked_credentials(ctx):
    run = " ".join(_stages()["run"])
    hc = re.search(r"HEALTHCHECK\s.*?CMD\s+(\[.*?\])", run)
    assert hc and '"/usr/local/bin/swiftgate", "healthcheck"' in hc.group(1), run
    assert not re.search(r"\b(curl|wget)\b", run), run
    assert "SWIFTGATE_SWIFT_" not in run and "auth_url" not in run, run
    # The config the image copies names no Swift: check-config says so.
    assert "COPY conf/swiftgate.conf /etc/swiftgate/swiftgate.conf" in run
    rc, _, err = gateway.check_config(ctx.bin, os.path.join(
        ROOT, "conf", "swiftgate.conf"))
    assert rc == 2 and "[swift] auth_url: required" in err, (rc, err)


def _compose_config(path):
    return subprocess.run(["docker-compose", "-f", path, "config"],
                          capture_output=True, text=True, timeout=60)


def _services(text):
    """{service: its lines} from `docker-compose config` (normalized YAML:
    services at two spaces, their keys at four)."""
    out, cur, inside = {}, None, False
    for line in text.splitlines():
        if re.match(r"^\S", line):
            inside = line == "services:"
            continue
        m = re.match(r"^  (\S+):$", line)
        if inside and m:
            cur = out.setdefault(m.group(1), [])
        elif inside and cur is not None:
            cur.append(line)
    return out


def _seconds(v):
    m = re.fullmatch(r"(\d+)(ms|s|m)", v)
    assert m, v
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def test_compose_file(ctx):
    compose = os.path.join(DOCKER, "compose.yaml")
    res = _compose_config(compose)
    assert res.returncode == 0, res.stderr
    services = _services(res.stdout)
    assert set(services) == {"swift", "seed", "swiftgate1", "swiftgate2",
                             "haproxy", "prometheus"}, list(services)
    gws = [n for n, lines in services.items() if "      target: run" in lines]
    assert sorted(gws) == ["swiftgate1", "swiftgate2"], gws
    with open(os.path.join(ROOT, "conf", "swiftgate.conf")) as f:
        conf = dict(re.findall(r"^(\w+) = (\S+)", f.read(), re.M))
    for name in gws:
        body = "\n".join(services[name])
        env = dict(re.findall(r"^      (SWIFTGATE_\w+): (\S+)", body, re.M))
        grace = re.search(r"^    stop_grace_period: (\S+)", body, re.M)
        drain = env.get("SWIFTGATE_SERVER_DRAIN_DELAY", conf["drain_delay"])
        shut = env.get("SWIFTGATE_SERVER_SHUTDOWN_GRACE",
                       conf["shutdown_grace"])
        assert grace and _seconds(grace.group(1)) > \
            _seconds(drain) + _seconds(shut), (name, body)
        admin = env["SWIFTGATE_SERVER_ADMIN_LISTEN"].rsplit(":", 1)[1]
        with open(os.path.join(DOCKER, "prometheus.yml")) as f:
            assert '"%s:%s"' % (name, admin) in f.read(), name
    hap = "\n".join(services["haproxy"])
    assert os.path.join(ROOT, "conf", "haproxy.cfg") + \
        ":/usr/local/etc/haproxy/haproxy.cfg" in hap, hap
    # The balancer's servers are these gateways, on their listen port, and
    # what it binds is what compose publishes.
    with open(os.path.join(ROOT, "conf", "haproxy.cfg")) as f:
        cfg = f.read()
    servers = re.findall(r"^\s+server swiftgate\d+ (swiftgate\d+):(\d+)", cfg, re.M)
    with open(os.path.join(DOCKER, "Dockerfile")) as f:
        listen = re.search(r"SWIFTGATE_SERVER_LISTEN=\S+:(\d+)", f.read()).group(1)
    for name in gws:
        assert (name, listen) in servers, (name, servers)
    bind = re.search(r"^\s+bind :(\d+)$", cfg, re.M).group(1)
    assert re.search(r"- published: 8080\n\s+target: %s\n" % bind, hap), (bind, hap)
    drain = _seconds(env.get("SWIFTGATE_SERVER_DRAIN_DELAY", conf["drain_delay"]))
    inter = re.search(r"check inter (\d+)s fall (\d+)", cfg)
    assert drain > int(inter.group(1)) * int(inter.group(2)), (drain, inter.group(0))
    # The checker is a real one: a key compose does not know is refused.
    bad = os.path.join(ctx.tmpdir, "compose.yaml")
    with open(compose) as f, open(bad, "w") as out:
        out.write(f.read().replace("  stop_grace_period: 45s",
                                   "  stop_grace_perio: 45s"))
    res = _compose_config(bad)
    assert res.returncode != 0 and "stop_grace_perio" in res.stderr, res


def test_seed_job_uploads_what_a_gateway_serves(ctx):
    out = os.path.join(ctx.tmpdir, "uuids")
    env = dict(os.environ, SWIFT_AUTH_URL=ctx.saio.auth_url,
               SWIFT_USER="test:tester", SWIFT_KEY="testing")
    res = subprocess.run(["/usr/bin/python3", os.path.join(DOCKER, "seed.py"),
                          "--images", "2", "--wait", "20", "--out", out,
                          "--gateway", "http://balancer"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "seeded 2 of 2" in res.stdout, res.stdout
    with open(out) as f:
        names = f.read().split()
    assert len(names) == 2 and len(set(names)) == 2, names
    gw = ctx.gateway()
    for name in names:
        assert "http://balancer/fractal/" + name in res.stdout
        r = httputil.get(gw.url + "/fractal/" + name, timeout=30)
        assert r.status == 200 and r.body.startswith(b"\x89PNG\r\n"), r
        assert r.body == ctx.saio.get_object("fractals", name)[2]
    # Swift that never answers: the job gives up within --wait.
    env["SWIFT_AUTH_URL"] = "http://127.0.0.1:%d/auth/v1.0" % \
        httputil.free_port()
    res = subprocess.run(["/usr/bin/python3", os.path.join(DOCKER, "seed.py"),
                          "--wait", "1"], capture_output=True, text=True,
                         env=env, timeout=30)
    assert res.returncode != 0 and "no token" in res.stderr, res
