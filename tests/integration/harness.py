# harness.py: starts the real historiand on free loopback ports with a temporary data dir, and talks to it.
# Every integration test imports this; daemons are stopped by pid, and any left at exit are killed.
"""Integration test harness for historiand.

    with Daemon() as d:                    # temp data dir, ports chosen by the kernel
        status, headers, body = d.get("/health")
        d.json("/health")["status"]
        d.stop()                           # SIGTERM, returns the exit status

Environment (set by `make check`): HISTORIAND, the binary under test;
HS_SRCDIR and HS_BUILDDIR, the source and build trees.
"""
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

HISTORIAND = os.environ.get("HISTORIAND") or os.path.abspath("historiand")
SRCDIR = os.environ.get("HS_SRCDIR") or os.path.abspath(".")
BUILDDIR = os.environ.get("HS_BUILDDIR") or os.path.abspath(".")

_live = set()


def _kill_leftovers():
    for proc in list(_live):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


atexit.register(_kill_leftovers)

# historiand reports readiness with the systemd notify protocol: a datagram
# "READY=1\nSTATUS=ready; http 127.0.0.1:41234; ..." on $NOTIFY_SOCKET.
STATUS_LISTENER_RE = re.compile(r"; (\w+) ([^;\s]+)")


def run_historiand(*args, timeout=10, env=None):
    """Run historiand to completion (for --help, bad configs...): (status, stdout, stderr)."""
    proc = subprocess.run([HISTORIAND, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    return proc.returncode, proc.stdout, proc.stderr


class DaemonError(Exception):
    pass


class Daemon:
    """One historiand process. Listeners default to 127.0.0.1 port 0 (a free
    port chosen by the kernel); the real addresses are read from its log.

    config: text of a historiand.conf to pass with --config (optional).
    data_dir: use this directory instead of a fresh temporary one.
    args: extra command-line arguments.
    data_dir_option: pass --data-dir (False leaves it to the config file).
    """

    def __init__(self, *args, config=None, data_dir=None, log_file=None, env=None,
                 data_dir_option=True):
        self.tmp = tempfile.mkdtemp(prefix="hs-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "stderr.log")
        self.log_file = log_file
        self.args = list(args)
        self.config = config
        self.env = env
        self.data_dir_option = data_dir_option
        self.proc = None
        self.addr = {}
        self._stderr = None

    # -- lifecycle -----------------------------------------------------------
    def command(self):
        cmd = [HISTORIAND, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--udp", "127.0.0.1:0"]
        if self.data_dir_option:
            cmd += ["--data-dir", self.data_dir]
        if self.config is not None:
            path = os.path.join(self.tmp, "historiand.conf")
            with open(path, "w") as f:
                f.write(self.config)
            cmd[1:1] = ["--config", path]
        if self.log_file:
            cmd += ["--log-file", self.log_file]
        return cmd + self.args

    def start(self, timeout=10):
        """Start and wait for READY=1; fills self.addr {"http": "127.0.0.1:PORT", ...}."""
        notify_path = os.path.join(self.tmp, "notify.sock")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            notify.bind(notify_path)
            notify.settimeout(0.05)
            env = dict(self.env if self.env is not None else os.environ)
            env["NOTIFY_SOCKET"] = notify_path
            self._stderr = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.command(), stdout=self._stderr,
                                         stderr=self._stderr, env=env)
            _live.add(self.proc)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    msg = notify.recv(4096).decode()
                except socket.timeout:
                    msg = ""
                fields = dict(line.split("=", 1) for line in msg.splitlines() if "=" in line)
                if fields.get("READY") == "1":
                    self.addr = {k: v for k, v in STATUS_LISTENER_RE.findall(fields["STATUS"])
                                 if v != "off"}
                    return self
                if self.proc.poll() is not None:
                    raise DaemonError("historiand exited with %d before it was ready:\n%s"
                                      % (self.proc.returncode, self.log()))
            self.proc.kill()
            raise DaemonError("historiand not ready after %ss:\n%s" % (timeout, self.log()))
        finally:
            notify.close()

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Send sig (SIGTERM by default) and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            _live.discard(self.proc)

    def kill(self):
        """SIGKILL, as a crash would."""
        self.proc.kill()
        self.proc.wait()
        _live.discard(self.proc)

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        if self._stderr:
            self._stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def log(self):
        """Everything the daemon wrote to stderr so far."""
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5):
        """Wait until the log matches the regular expression; return the match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            time.sleep(0.02)
        raise AssertionError("log never matched %r:\n%s" % (pattern, self.log()))

    # -- HTTP ----------------------------------------------------------------
    @property
    def http_addr(self):
        host, port = self.addr["http"].rsplit(":", 1)
        return host, int(port)

    def url(self, path):
        host, port = self.http_addr
        return "http://%s:%d%s" % (host, port, path)

    def request(self, method, path, body=None, headers=None, timeout=10):
        """Returns (status, headers as a dict with lower-case names, body bytes)."""
        host, port = self.http_addr
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def json(self, path, expect=200):
        status, headers, body = self.get(path)
        if status != expect:
            raise AssertionError("GET %s: %d, expected %d: %r" % (path, status, expect, body))
        return json.loads(body)

    def raw(self, tag, **params):
        """One tag's samples through GET /api/v1/raw, over all time unless start/end are given.
        Asks for epoch-ns times and adds each sample's RFC 3339 text as "t" with the number as
        "t_ns"; "truncated" tells that a next page exists."""
        q = {"tag": tag, "start": "0s", "end": "now+1000d", "limit": 1000000, "time_format": "ns"}
        q.update(params)
        series = self.json("/api/v1/raw?" + urllib.parse.urlencode(q))["series"][0]
        for s in series["samples"]:
            s["t_ns"] = s["t"]
            s["t"] = rfc3339(s["t"])
        series["truncated"] = series["next"] is not None
        return series


def rfc3339(ns):
    """historian's RFC 3339 text of an epoch-ns time (UTC, trailing zeros of the fraction dropped)."""
    secs, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        text += "." + ("%09d" % frac).rstrip("0")
    return text + "Z"


class DaemonTest(unittest.TestCase):
    """A TestCase with helpers to start daemons that are cleaned up after each test."""

    def daemon(self, *args, start=True, **kw):
        d = Daemon(*args, **kw)
        self.addCleanup(d.cleanup)
        return d.start() if start else d

    def assertJsonError(self, status, headers, body, want_status, want_code):
        self.assertEqual(status, want_status, body)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), headers)
        doc = json.loads(body)
        self.assertEqual(doc["error"]["code"], want_code, doc)
        self.assertIsInstance(doc["error"]["message"], str)
        self.assertTrue(doc["error"]["message"])
        return doc


def main():
    unittest.main(verbosity=2)
