"""A private redis-server (Debian's) on a unix socket in a temporary folder, and a minimal
RESP client for it: what the Python shape benchmarks (`IndexShapes`, `DeleteShapes`)
share. Not a general client: replies are parsed whole, errors raise.

    with private_server() as sock:
        c = Conn(sock)
        c.call("SET", "k", b"v")
        c.pipeline([resp("GET", "k"), resp("DBSIZE")])
"""
import contextlib, os, shutil, socket, subprocess, tempfile, time


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX); self.s.connect(path); self.buf = b""
    def _line(self):
        while b"\r\n" not in self.buf: self.buf += self.s.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1); return line
    def _reply(self):
        line = self._line(); t, rest = line[:1], line[1:]
        if t == b"-": raise RuntimeError(rest.decode())
        if t in (b"+", b":"): return rest
        if t == b"$":
            n = int(rest)
            if n < 0: return None
            while len(self.buf) < n + 2: self.buf += self.s.recv(1 << 20)
            v, self.buf = self.buf[:n], self.buf[n + 2:]; return v
        if t == b"*":
            n = int(rest); return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)
    def pipeline(self, cmds):
        self.s.sendall(b"".join(cmds)); return [self._reply() for _ in cmds]
    def call(self, *args): return self.pipeline([resp(*args)])[0]


def info(c, section):
    d = {}
    for line in c.call("INFO", section).decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1); d[k] = v
    return d


def cpu(c):
    """Redis's CPU seconds so far (user + sys)."""
    i = info(c, "cpu"); return float(i["used_cpu_user"]) + float(i["used_cpu_sys"])


@contextlib.contextmanager
def private_server(prefix="strata-bench-"):
    """A redis-server with AOF everysec (as `strata serve` runs it) and no RDB saves; yields
    its socket path, and stops it and removes its folder on the way out."""
    d = tempfile.mkdtemp(prefix=prefix)
    sock = os.path.join(d, "redis.sock")
    server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--dir", d, "--save", "",
                               "--appendonly", "yes", "--appendfsync", "everysec"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock) or server.poll() is not None: break
            time.sleep(0.05)
        if not os.path.exists(sock): raise RuntimeError("redis-server did not start (exit %r)" % server.poll())
        yield sock
    finally:
        if server.poll() is None: server.terminate()
        server.wait(); shutil.rmtree(d, ignore_errors=True)
