#!/usr/bin/python3
"""A TCP relay on 127.0.0.1 that puts a server "at a distance", for
`make bench` (the distance phase, distance.py).

    relay.py [--delay-ms 2] [--hold answer|request] [--max-conns 256]
             [--lifetime 1800] [--idle 120]

It listens on a free 127.0.0.1 port and, once told where to (`target`),
connects each client to 127.0.0.1:TARGET and copies bytes both ways with
TCP_NODELAY on both sides.  Each exchange is held back once, in one of two
ways:

  answer   the first bytes the server sends after the client has sent
           anything (a request; a request body after "100 Continue")
           leave the relay delay-ms after they arrived; the rest of that
           answer follows at once.  The server goes on sending into the
           socket buffers meanwhile, so a long answer ends less than
           delay-ms later than it would without the relay.
  request  the first bytes the client sends after the server has sent
           anything (or on a new connection) reach the server delay-ms
           after they arrived: the whole answer starts, and ends, delay-ms
           later, as behind a disk seek plus a network hop.

The relay adds its own copying cost on top (measured by the bench beside
the delay).

It is bounded: at most --max-conns connections at once (more are accepted
and closed at once, counted as refused), a connection idle for --idle
seconds in both directions is closed, and the whole process exits by
itself after --lifetime seconds or as soon as its stdin closes.

Commands on stdin, one per line; each answer is one line on stdout:

    target PORT   -> "ok"      (connections before this are closed)
    stats         -> "conns N held N up BYTES down BYTES active N refused N"
                     (held: the exchanges held back)
    quit          -> exits (so does end of input)

The first line printed is "ready PORT".
"""

import argparse
import os
import socket
import sys
import threading
import time

BUF = 256 << 10


class Relay:
    def __init__(self, delay_s, hold, max_conns, idle_s):
        self.delay_s = delay_s
        self.hold_upstream = hold == "request"
        self.idle_s = idle_s
        self.target = None
        self.slots = threading.BoundedSemaphore(max_conns)
        self.lock = threading.Lock()
        self.stats = {"conns": 0, "held": 0, "up": 0, "down": 0,
                      "active": 0, "refused": 0}
        self.socks = set()      # every open socket, closed at the end
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(256)
        self.port = self.lsock.getsockname()[1]

    def add(self, key, n):
        with self.lock:
            self.stats[key] += n

    def serve(self):
        """Accept until the listening socket is closed."""
        while True:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            if self.target is None or not self.slots.acquire(blocking=False):
                self.add("refused", 1)
                client.close()
                continue
            threading.Thread(target=self.connection, args=(client,),
                             daemon=True).start()

    def connection(self, client):
        server = None
        counted = False
        try:
            try:
                server = socket.create_connection(("127.0.0.1", self.target),
                                                  timeout=10)
            except OSError:
                self.add("refused", 1)
                return
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(self.idle_s)
            with self.lock:
                self.socks.update((client, server))
                self.stats["conns"] += 1
                self.stats["active"] += 1
            counted = True
            # turn[0]: who sent bytes last, "client" or "server" (None
            # before anyone has); a change of turn is a new exchange.
            turn = [None]
            up = threading.Thread(target=self.pump,
                                  args=(client, server, turn, True),
                                  daemon=True)
            up.start()
            self.pump(server, client, turn, False)
            up.join(self.idle_s + 5)
        finally:
            with self.lock:
                if counted:
                    self.stats["active"] -= 1
                for s in (client, server):
                    if s is not None:
                        self.socks.discard(s)
                        s.close()
            self.slots.release()

    def pump(self, src, dst, turn, upstream):
        """Copy src to dst until EOF, an error or the idle timeout; then
        pass the EOF on (shutdown for writing)."""
        buf = bytearray(BUF)
        view = memoryview(buf)
        me = "client" if upstream else "server"
        try:
            while True:
                n = src.recv_into(buf)
                if n == 0:
                    break
                due = time.monotonic() + self.delay_s
                self.add("up" if upstream else "down", n)
                if turn[0] != me:
                    # Set before the bytes are passed on: the other side's
                    # reply cannot come back before this is seen.
                    turn[0] = me
                    if upstream == self.hold_upstream:
                        self.add("held", 1)
                        while True:
                            left = due - time.monotonic()
                            if left <= 0:
                                break
                            time.sleep(left)
                dst.sendall(view[:n])
        except OSError:
            # A reset or the idle timeout: end both directions.
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--delay-ms", type=float, default=2.0)
    ap.add_argument("--hold", choices=("answer", "request"), default="answer")
    ap.add_argument("--max-conns", type=int, default=256)
    ap.add_argument("--lifetime", type=float, default=1800.0)
    ap.add_argument("--idle", type=float, default=120.0)
    args = ap.parse_args()
    threading.stack_size(512 << 10)
    relay = Relay(args.delay_ms / 1000.0, args.hold, args.max_conns,
                  args.idle)

    def expire():
        sys.stderr.write("relay: lifetime of %.0f s over, exiting\n"
                         % args.lifetime)
        relay.close()
        os._exit(3)
    timer = threading.Timer(args.lifetime, expire)
    timer.daemon = True
    timer.start()
    threading.Thread(target=relay.serve, daemon=True).start()
    print("ready %d" % relay.port, flush=True)
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "target" and len(words) == 2:
                relay.target = int(words[1])
                print("ok", flush=True)
            elif words[0] == "stats":
                with relay.lock:
                    st = dict(relay.stats)
                print("conns %(conns)d held %(held)d up %(up)d down "
                      "%(down)d active %(active)d refused %(refused)d" % st,
                      flush=True)
            elif words[0] == "quit":
                break
            else:
                print("error unknown command", flush=True)
    finally:
        timer.cancel()
        relay.close()


if __name__ == "__main__":
    main()
