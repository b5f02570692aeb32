"""Syscalls per request, for `make bench` (phase `syscalls`).

`strace -c -f -p PID ...` attached to every process of a server (with -f,
strace attaches every thread of each, and follows threads and children
made later) counts the system calls the server makes while wrk runs
against it for a short while; their sum divided by the requests wrk
completed in that run is the server's syscalls per request.  strace stops
the server at every system call, so such a run is much slower than a
timed one: it is a run of its own, and its req/s are not reported as
throughput.  What the count includes besides the requests: the 64
connections' accept and close, and the partial responses in flight when
wrk stops (which matter only when few requests complete, as with 16 MiB
objects).

    measure(pids, url, paths_file, duration, workdir, tag) -> row
"""

import os
import re
import signal
import subprocess
import time

import load

STRACE = "strace"
ATTACH_TIMEOUT_S = 20.0
DETACH_TIMEOUT_S = 30.0
TOP = 10


class StraceError(RuntimeError):
    """strace could not attach, or printed no summary."""


def version():
    try:
        r = subprocess.run([STRACE, "-V"], capture_output=True, text=True,
                           timeout=10)
        return r.stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def thread_count(pids):
    """Threads of these processes now."""
    n = 0
    for pid in pids:
        try:
            n += len(os.listdir("/proc/%d/task" % pid))
        except OSError:
            pass
    return n


def _attached(err_path):
    """Threads strace has reported attached so far."""
    try:
        with open(err_path, errors="replace") as f:
            text = f.read()
    except OSError:
        return 0
    n = 0
    for m in re.finditer(r"^strace: Process \d+ attached(?: with (\d+) "
                         r"threads)?", text, re.MULTILINE):
        n += int(m.group(1) or 1)
    return n


def parse(text):
    """strace -c -U name,calls,errors output -> {"calls": {name: n},
    "errors": {name: n}, "total": n, "total_errors": n}."""
    calls, errors = {}, {}
    total = total_err = None
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or words[0].startswith(("-", "syscall")):
            continue
        if not words[1].isdigit():
            continue
        n = int(words[1])
        e = int(words[2]) if len(words) > 2 and words[2].isdigit() else 0
        if words[0] == "total":
            total, total_err = n, e
        else:
            calls[words[0]] = n
            errors[words[0]] = e
    if total is None:
        if not calls:
            raise StraceError("no strace summary in %r" % text[-300:])
        total, total_err = sum(calls.values()), sum(errors.values())
    return {"calls": calls, "errors": errors, "total": total,
            "total_errors": total_err}


def measure(pids, url, paths_file, duration, workdir, tag):
    """Attach strace to pids, run wrk on url for duration seconds, detach.
    Returns {"requests", "syscalls", "per_request", "errors", "top": [[name,
    calls, per request], ...], "threads", "attached", "wrk_errors",
    "traced_rps", "wall_s"}; raises StraceError if strace fails."""
    out_path = os.path.join(workdir, "strace-%s.txt" % tag)
    err_path = os.path.join(workdir, "strace-%s.err" % tag)
    argv = [STRACE, "-c", "-f", "-U", "name,calls,errors", "-o", out_path]
    for pid in pids:
        argv += ["-p", str(pid)]
    threads = thread_count(pids)
    t0 = time.monotonic()
    with open(err_path, "w") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + ATTACH_TIMEOUT_S
        while _attached(err_path) < threads:
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        attached = _attached(err_path)
        if proc.poll() is not None or attached == 0:
            with open(err_path, errors="replace") as f:
                raise StraceError("strace did not attach (exit %s): %s"
                                  % (proc.poll(), f.read()[-300:]))
        res = load.run_wrk(url, duration, paths_file=paths_file)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(DETACH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with open(out_path, errors="replace") as f:
        summary = parse(f.read())
    req = res["requests"]
    dur = res["duration_us"] / 1e6
    top = sorted(summary["calls"].items(), key=lambda kv: -kv[1])[:TOP]
    return {
        "requests": req, "syscalls": summary["total"],
        "errors": summary["total_errors"],
        "per_request": summary["total"] / req if req else None,
        "top": [[name, n, n / req if req else None] for name, n in top],
        "threads": threads, "attached": attached,
        "wrk_errors": {k[4:]: res[k] for k in res
                       if k.startswith("err_") and res[k]},
        "traced_rps": req / dur if dur else None,
        "wall_s": round(time.monotonic() - t0, 2),
    }
