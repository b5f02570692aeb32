#!/usr/bin/python3
"""tests/lib/faultorigin.py in a process of its own, for `make bench`.

The slow-origin coalescing case times 50 clients to the millisecond; an
origin serving from threads in the same Python process would compete with
them for the interpreter lock.  Commands on stdin, one per line; each
answer is one line on stdout:

    put NAME SIZE SEED [FAULT]   -> md5 hex   (random bytes from SEED)
    count METHOD NAME            -> number of requests seen
    quit                         -> stops (so does end of input)

The first line printed is "ready PORT TOKEN".
"""

import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))

import faultorigin  # noqa: E402


def main():
    origin = faultorigin.FaultOrigin().start()
    print("ready %d %s" % (origin.port, origin.token), flush=True)
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "put":
                data = random.Random(int(words[3])).randbytes(int(words[2]))
                fault = words[4] if len(words) > 4 else None
                print(origin.put("fractals", words[1], data, fault=fault),
                      flush=True)
            elif words[0] == "count":
                print(origin.count(words[1], words[2]), flush=True)
            elif words[0] == "quit":
                break
            else:
                print("error unknown command", flush=True)
    finally:
        origin.stop()


if __name__ == "__main__":
    main()
