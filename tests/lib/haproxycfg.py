"""conf/haproxy.cfg as tests and the demo use it: its sections, its
servers, and a copy whose addresses alone are changed."""

import re

_SERVER_LINE = re.compile(r"^(\s*server\s+(\S+)\s+)(\S+)(.*)$")
_BIND_LINE = re.compile(r"^(\s*bind\s+)(\S+)(.*)$")


def sections(text):
    """[(section, [lines])] in file order, every line in one: section is
    "frontend web", "global", ... ("" for the lines before the first)."""
    out = [("", [])]
    for line in text.split("\n"):
        words = line.split()
        if words and not line[0].isspace() and not words[0].startswith("#"):
            out.append((" ".join(words[:2]), []))
        out[-1][1].append(line)
    return out


def servers_of(text, backend):
    """Names of the servers of `backend`, in file order."""
    for name, lines in sections(text):
        if name == "backend " + backend:
            return [m.group(2) for m in map(_SERVER_LINE.match, lines) if m]
    raise AssertionError("no backend %s" % backend)


def rewrite_addresses(text, servers, binds):
    """text with each server's address set from servers {name: "ip:port"}
    and each frontend's bind from binds {frontend: "ip:port"}; every server
    and bind of the file must be given one."""
    out, seen = [], []
    for section, lines in sections(text):
        frontend = (section.split() or [""])[-1]
        for line in lines:
            m = _SERVER_LINE.match(line)
            if m:
                line = m.group(1) + servers[m.group(2)] + m.group(4)
                seen.append(("server", m.group(2)))
            m = _BIND_LINE.match(line)
            if m:
                line = m.group(1) + binds[frontend] + m.group(3)
                seen.append(("bind", frontend))
            out.append(line)
    want = [("server", s) for s in servers] + [("bind", f) for f in binds]
    assert sorted(seen) == sorted(want), (seen, want)
    return "\n".join(out)
