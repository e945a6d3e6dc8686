# test_plant_sim.py: the test and benchmark tools scripts/plant-sim and bench/hs-load, against servers written here
# (http.server and a UDP socket on 127.0.0.1, port 0): determinism, tag counts, line shape, batching and errors.
import collections
import http.server
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import BUILDDIR, SRCDIR, main

PLANT_SIM = os.path.join(SRCDIR, "scripts", "plant-sim")
HS_LOAD = os.environ.get("HS_LOAD") or os.path.join(BUILDDIR, "bench", "hs-load")

# Strict line protocol as plant-sim writes it: measurement, site/area/unit labels, fields (floats with 1 to 3
# decimals, integers with i, booleans, quoted lower-case states), a nanosecond timestamp.
NAME = r"[a-z][a-z_]*"
VALUE = r"(?:-?[0-9]+\.[0-9]{1,3}|-?[0-9]+i|true|false|\"[a-z]+\")"
LINE_RE = re.compile(r"(%s),site=([a-z]+),area=([a-z]+),unit=([0-9]+) (%s=%s(?:,%s=%s)*) ([0-9]{19})"
                     % (NAME, NAME, VALUE, NAME, VALUE))


def sim(*args, check=True, timeout=120):
    """Run plant-sim with this interpreter; returns the CompletedProcess (stdout as bytes)."""
    proc = subprocess.run([sys.executable, PLANT_SIM, "--quiet", *args], capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError("plant-sim %s: exit %d\n%s" % (" ".join(args), proc.returncode, proc.stderr.decode()))
    return proc


def load(*args, timeout=60):
    if not os.path.exists(HS_LOAD):
        raise AssertionError("%s is missing: build it (make check builds bench programs) or set HS_LOAD" % HS_LOAD)
    return subprocess.run([HS_LOAD, *args], capture_output=True, text=True, timeout=timeout)


def results(proc):
    return dict(re.findall(r"^RESULT (\S+) (\S+)", proc.stdout, re.M))


def parse(data):
    """{(series key, field)} and the lines of plant-sim output; fails on any line the strict regex refuses."""
    tags, lines = set(), data.decode().split("\n")
    assert lines[-1] == "", "output does not end with a newline"
    for line in lines[:-1]:
        m = LINE_RE.fullmatch(line)
        if not m:
            raise AssertionError("not strict line protocol: %r" % line)
        key = line.split(" ", 1)[0]
        for f in m.group(5).split(","):
            tags.add((key, f.split("=", 1)[0]))
    return tags, lines[:-1]


def canonical(key, field):
    """server/tagname.h: measurement.field, then the labels sorted by key."""
    parts = key.split(",")
    return parts[0] + ("" if field == "value" else "." + field) + "".join("," + p for p in sorted(parts[1:]))


def batches(data, n):
    lines = data.splitlines(keepends=True)
    return [b"".join(lines[i:i + n]) for i in range(0, len(lines), n)]


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records every POST (client port, path, body); answers server.status with server.answer_body."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.posts.append((self.client_address[1], self.path, body))
        status, payload = self.server.status, self.server.answer_body
        self.send_response(status)
        if self.server.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        if status == 204:
            self.end_headers()
        elif self.server.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = len(payload) // 2
            for part in (payload[:half], payload[half:]):
                if part:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, *args):
        pass


class ToolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = sim("--tags", "200", "--duration", "60s", "--seed", "7").stdout
        cls.tmp = tempfile.TemporaryDirectory(prefix="hs-sim-")
        cls.path = os.path.join(cls.tmp.name, "sim.lp")
        with open(cls.path, "wb") as f:
            f.write(cls.data)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def http_server(self, status=204, answer_body=b"", close=False, chunked=False):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        srv.daemon_threads = True
        srv.lock = threading.Lock()
        srv.posts = []
        srv.status, srv.answer_body, srv.close, srv.chunked = status, answer_body, close, chunked
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()

        def stop():
            srv.shutdown()
            srv.server_close()
            thread.join()
        self.addCleanup(stop)
        return srv, "http://127.0.0.1:%d/write?precision=ns" % srv.server_address[1]

    def udp_receiver(self):
        """A bound UDP socket and a thread collecting datagrams; returns (address, list, stop())."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        got, done = [], threading.Event()

        def run():
            while not done.is_set():
                try:
                    got.append(sock.recv(70000))
                except socket.timeout:
                    pass

        thread = threading.Thread(target=run, daemon=True)
        thread.start()

        def stop(expect_bytes, timeout=10):
            deadline = time.monotonic() + timeout
            while sum(map(len, got)) < expect_bytes and time.monotonic() < deadline:
                time.sleep(0.02)
            done.set()
            thread.join()
            sock.close()
            return got
        self.addCleanup(lambda: (done.set(), thread.join(), sock.close()))
        return "127.0.0.1:%d" % sock.getsockname()[1], got, stop


class PlantSim(ToolTest):
    def test_self_test(self):
        # Run as installed: through its #! line.
        self.assertTrue(os.access(PLANT_SIM, os.X_OK), PLANT_SIM)
        proc = subprocess.run([PLANT_SIM, "--self-test"], capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("self-test: all passed", proc.stdout)

    def test_same_seed_same_bytes(self):
        for ntags in (1, 10, 333):
            with self.subTest(tags=ntags):
                a = sim("--tags", str(ntags), "--duration", "30s", "--seed", "5").stdout
                b = sim("--tags", str(ntags), "--duration", "30s", "--seed", "5").stdout
                c = sim("--tags", str(ntags), "--duration", "30s", "--seed", "6").stdout
                self.assertTrue(a == b, "same seed, other bytes")
                self.assertTrue(a != c, "another seed, same bytes")
                self.assertGreater(len(a), 0)

    def test_tag_count_and_list(self):
        for ntags in (1, 5, 73, 1000, 1234):
            with self.subTest(tags=ntags):
                tags, lines = parse(sim("--tags", str(ntags), "--duration", "20s").stdout)
                self.assertEqual(len(tags), ntags)
                listed = sim("--tags", str(ntags), "--list-tags").stdout.decode().splitlines()
                self.assertEqual(len(listed), ntags)
                rows = [row.split("\t") for row in listed]
                self.assertTrue(all(len(r) == 6 for r in rows), rows[:3])
                self.assertEqual({r[0] for r in rows}, {canonical(k, f) for k, f in tags})
                self.assertEqual({(r[1] + "," + r[2], r[3]) for r in rows}, tags)
                self.assertTrue({r[4] for r in rows} <= {"float", "int", "bool", "string"})

    def test_default_plant_mix(self):
        # 1,000 tags: every kind of value, three sampling periods, timestamps on their grid and in order.
        data = sim("--duration", "20s").stdout
        tags, lines = parse(data)
        self.assertEqual(len(tags), 1000)
        listed = [r.split("\t") for r in sim("--list-tags").stdout.decode().splitlines()]
        self.assertEqual({r[5] for r in listed}, {"100", "1000", "10000"})
        self.assertEqual({r[4] for r in listed}, {"float", "int", "bool", "string"})
        start = 1735689600 * 10**9
        by_series = collections.defaultdict(list)
        last = 0
        for line in lines:
            key, _, ts = line.split(" ")
            ts = int(ts)
            self.assertGreaterEqual(ts, last)
            last = ts
            by_series[key].append(ts)
        period = {r[1] + "," + r[2]: int(r[5]) * 10**6 for r in listed}
        for key, stamps in by_series.items():
            p = period[key]
            self.assertEqual(stamps, list(range(start, start + 20 * 10**9, p)), key)
        self.assertIn(b'="running"', data)
        self.assertRegex(data.decode(), r"=[0-9]+i[, ]")
        self.assertRegex(data.decode(), r"=(true|false)[, ]")

    def test_start_duration_precision(self):
        a = sim("--tags", "20", "--start", "1700000000", "--duration", "1m30s", "--precision", "ms").stdout
        lines = a.decode().splitlines()
        stamps = sorted({int(line.rsplit(" ", 1)[1]) for line in lines})
        self.assertEqual(stamps[0], 1700000000000)
        self.assertEqual(stamps[-1], 1700000089000)
        # The same instant in RFC 3339 with an offset; an hour later only moves the timestamps.
        same = sim("--tags", "20", "--start", "2023-11-14T23:13:20+01:00", "--duration", "90s",
                   "--precision", "ms").stdout
        self.assertTrue(a == same, "RFC 3339 with an offset is not the same instant as epoch seconds")
        later = sim("--tags", "20", "--start", "2023-11-14T23:13:20Z", "--duration", "90s",
                    "--precision", "ms").stdout.decode()
        self.assertTrue(later == re.sub(r" (\d+)$", lambda m: " %d" % (int(m.group(1)) + 3600000), a.decode(),
                                        flags=re.M), "--start an hour later is not the same run an hour later")
        bad = sim("--tags", "1000", "--precision", "s", "--duration", "10s", check=False)
        self.assertEqual(bad.returncode, 2)
        self.assertIn(b"100 ms", bad.stderr)
        bad = sim("--start", "yesterday", check=False)
        self.assertEqual(bad.returncode, 2)

    def test_out_file(self):
        path = os.path.join(self.tmp.name, "out.lp")
        sim("--tags", "200", "--duration", "60s", "--seed", "7", "--out", path)
        with open(path, "rb") as f:
            self.assertTrue(f.read() == self.data, "--out wrote other bytes than stdout")

    def test_http_output(self):
        srv, url = self.http_server()
        sim("--tags", "200", "--duration", "60s", "--seed", "7", "--http", url.split("?")[0], "--batch", "700")
        self.assertEqual(b"".join(body for _, _, body in srv.posts), self.data)
        self.assertEqual([body.count(b"\n") for _, _, body in srv.posts],
                         [b.count(b"\n") for b in batches(self.data, 700)])
        self.assertTrue(all(path == "/write?precision=ns" for _, path, _ in srv.posts), srv.posts[0][1])

    def test_http_output_stops_on_error(self):
        srv, url = self.http_server(status=500, answer_body=b'{"error": {"code": "x", "message": "disk on fire"}}')
        proc = sim("--tags", "50", "--duration", "60s", "--http", url, "--batch", "100", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"500", proc.stderr)
        self.assertIn(b"disk on fire", proc.stderr)
        self.assertEqual(len(srv.posts), 1)

    def test_udp_output(self):
        addr, _, stop = self.udp_receiver()
        sim("--tags", "200", "--duration", "60s", "--seed", "7", "--udp", addr, "--datagram-bytes", "900",
            "--rate", "20000")
        got = stop(len(self.data))
        self.assertTrue(all(len(d) <= 900 and d.endswith(b"\n") for d in got))
        self.assertEqual(b"".join(got), self.data)


class HsLoad(ToolTest):
    def test_help(self):
        proc = load("--help")
        self.assertEqual(proc.returncode, 0)
        for word in ("--url", "--file", "--connections", "--batch", "--addr", "--rate", "--datagram-bytes",
                     "RESULT", "Exit status"):
            self.assertIn(word, proc.stdout)

    def test_http_one_connection_in_order(self):
        srv, url = self.http_server()
        proc = load("http", "--url", url, "--file", self.path, "--connections", "1", "--batch", "250")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(b"".join(body for _, _, body in srv.posts), self.data)
        self.assertEqual([body for _, _, body in srv.posts], batches(self.data, 250))
        r = results(proc)
        nlines = self.data.count(b"\n")
        nsamples = sum(len(line.split(b" ")[1].split(b",")) for line in self.data.splitlines())
        self.assertEqual(int(r["http_lines"]), nlines)
        self.assertEqual(int(r["http_samples"]), nsamples)
        self.assertEqual(int(r["http_requests"]), len(srv.posts))
        self.assertEqual(int(r["http_2xx"]), len(srv.posts))
        for key in ("http_samples_per_s", "http_lines_per_s", "http_mb_per_s", "http_p50_ms", "http_p99_ms"):
            self.assertGreater(float(r[key]), 0, key)

    def test_http_connections_share_batches(self):
        srv, url = self.http_server()
        proc = load("http", "--url", url, "--file", self.path, "--connections", "3", "--batch", "100")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        want = batches(self.data, 100)
        self.assertEqual(sorted(body for _, _, body in srv.posts), sorted(want))
        # Each connection (client port) sent batches i, i+3, i+6... in order.
        by_conn = collections.defaultdict(list)
        for port, _, body in srv.posts:
            by_conn[port].append(body)
        self.assertEqual(len(by_conn), 3)
        self.assertEqual(sorted(map(tuple, by_conn.values())), sorted(tuple(want[i::3]) for i in range(3)))

    def test_http_close_and_chunked_answers(self):
        srv, url = self.http_server(status=200, answer_body=b"fine, thanks\n" * 50, close=True, chunked=True)
        proc = load("http", "--url", url, "--file", self.path, "--connections", "2", "--batch", "400")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(sorted(body for _, _, body in srv.posts), sorted(batches(self.data, 400)))
        self.assertEqual(len({port for port, _, _ in srv.posts}), len(srv.posts))   # a new connection each

    def test_http_500_fails(self):
        srv, url = self.http_server(status=500, answer_body=b'{"error": {"code": "io", "message": "no space"}}')
        proc = load("http", "--url", url, "--file", self.path, "--connections", "2", "--batch", "500")
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("no space", proc.stderr)
        r = results(proc)
        self.assertEqual(int(r["http_5xx"]), len(batches(self.data, 500)))   # nothing retried, nothing skipped
        self.assertEqual(int(r["http_2xx"]), 0)

    def test_http_errors_exit_2(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()                                     # nothing listens there now
        proc = load("http", "--url", "http://127.0.0.1:%d/write" % port, "--file", self.path)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("refused", proc.stderr.lower())
        for url in ("ftp://x/write", "https://127.0.0.1/write", "http://:80/write", "http://127.0.0.1:99999/"):
            proc = load("http", "--url", url, "--file", self.path)
            self.assertEqual(proc.returncode, 2, url)
            self.assertIn("--url", proc.stderr)
        proc = load("http", "--url", "http://127.0.0.1:1/write", "--file", os.path.join(self.tmp.name, "none"))
        self.assertEqual(proc.returncode, 2)
        self.assertIn("No such file", proc.stderr)
        proc = load("http", "--file", self.path)
        self.assertEqual(proc.returncode, 2)
        proc = load("tcp", "--file", self.path)
        self.assertEqual(proc.returncode, 2)

    def test_udp_whole_lines(self):
        addr, _, stop = self.udp_receiver()
        proc = load("udp", "--addr", addr, "--file", self.path, "--rate", "20000", "--datagram-bytes", "600")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        got = stop(len(self.data))
        self.assertEqual(b"".join(got), self.data)
        for d in got:
            self.assertLessEqual(len(d), 600)
            self.assertTrue(d.endswith(b"\n"))
            parse(d)                                   # every line in it whole and well formed
        r = results(proc)
        self.assertEqual(int(r["udp_datagrams"]), len(got))
        self.assertEqual(int(r["udp_lines"]), self.data.count(b"\n"))
        self.assertGreater(float(r["udp_samples_sent_per_s"]), 0)
        # 20,000 lines/s pacing: the run cannot be much faster than lines / rate.
        self.assertGreater(float(r["udp_seconds"]), 0.9 * self.data.count(b"\n") / 20000)

    def test_udp_line_too_long(self):
        addr, _, stop = self.udp_receiver()
        proc = load("udp", "--addr", addr, "--file", self.path, "--datagram-bytes", "40")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--datagram-bytes", proc.stderr)
        stop(0, timeout=0)


if __name__ == "__main__":
    main()
