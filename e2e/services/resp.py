#!/usr/bin/env python3
"""Minimal RESP client for redis.sh: the wheels ship no usable redis-cli (redis-stack's needs libssl1.1).

  resp.py PORT wait SECONDS   wait until PING answers
  resp.py PORT verify         check the search module, vector sets and a vector index work
  resp.py PORT CMD [ARG...]   run one command and print the reply
"""
import socket
import sys
import time


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError("unexpected RESP reply %r" % line)

    def cmd(self, *args):
        self.sock.sendall(encode(args))
        reply = self.read()
        if isinstance(reply, RuntimeError):
            raise reply
        return reply


def show(reply, indent=""):
    if isinstance(reply, list):
        for i, item in enumerate(reply):
            print("%s%d)" % (indent, i + 1))
            show(item, indent + "  ")
    elif isinstance(reply, bytes):
        try:
            print(indent + reply.decode())
        except UnicodeDecodeError:
            print(indent + repr(reply))
    else:
        print(indent + str(reply))


def wait(port, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            if Conn(port, timeout=1.0).cmd("PING") == "PONG":
                return
        except (OSError, ConnectionError, RuntimeError):
            pass
        if time.monotonic() > deadline:
            sys.exit("redis on port %d did not answer PING within %ss" % (port, seconds))
        time.sleep(0.1)


def verify(port):
    import struct

    c = Conn(port)
    modules = {m[m.index(b"name") + 1].decode() for m in c.cmd("MODULE", "LIST")}
    if "search" not in modules:
        sys.exit("search module not loaded (MODULE LIST: %s)" % sorted(modules))
    key, idx, prefix = "__redis_sh_check:vs", "__redis_sh_check_idx", "__redis_sh_check:doc:"
    c.cmd("VADD", key, "VALUES", 2, 1, 0, "a")
    if c.cmd("VSIM", key, "VALUES", 2, 1, 0)[:1] != [b"a"]:
        sys.exit("VSIM did not find the vector just added")
    c.cmd("DEL", key)
    c.cmd("FT.CREATE", idx, "ON", "HASH", "PREFIX", 1, prefix, "SCHEMA",
          "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 2, "DISTANCE_METRIC", "COSINE")
    c.cmd("HSET", prefix + "1", "v", struct.pack("<2f", 1, 0))
    hits = c.cmd("FT.SEARCH", idx, "*=>[KNN 1 @v $q AS d]", "PARAMS", 2, "q",
                 struct.pack("<2f", 1, 0.1), "DIALECT", 2)
    c.cmd("FT.DROPINDEX", idx, "DD")
    if not hits or hits[0] != 1:
        sys.exit("FT.SEARCH KNN returned %r" % (hits,))
    print("verified: modules=%s, VADD/VSIM and FT.CREATE/FT.SEARCH KNN work" % ",".join(sorted(modules)))


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    port, what = int(argv[1]), argv[2]
    if what == "wait":
        wait(port, float(argv[3]) if len(argv) > 3 else 10.0)
    elif what == "verify":
        verify(port)
    else:
        try:
            show(Conn(port).cmd(*argv[2:]))
        except RuntimeError as e:
            sys.exit("(error) %s" % e)


if __name__ == "__main__":
    main(sys.argv)
