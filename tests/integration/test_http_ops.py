# test_http_ops.py: the HTTP server's operations endpoints and error handling: /health, /metrics, 404, 405.
# /metrics is checked against the Prometheus text exposition format 0.0.4 by a strict parser below.
import json
import os
import math
import re
import socket
import threading
import time
import urllib.parse

from harness import DaemonTest, main, run_historiand

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(%s)(\{(.*)\})? (\S+)$" % NAME)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_prometheus(text):
    """Parse exposition text; returns {family: {"type":, "samples": [(name, labels, value)]}}.
    Raises AssertionError on anything the format does not allow."""
    families, types = {}, {}
    assert text.endswith("\n"), "exposition must end with a newline"
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            assert re.fullmatch(NAME, parts[2]), "line %d: bad HELP name" % n
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, "line %d: second TYPE for %s" % (n, name)
            types[name] = kind
            families[name] = {"type": kind, "samples": []}
            continue
        assert not line.startswith("#"), "line %d: unknown comment form" % n
        m = SAMPLE.match(line)
        assert m, "line %d: not a sample: %r" % (n, line)
        name, _, labeltext, value = m.groups()
        labels = {}
        if labeltext:
            pos = 0
            while pos < len(labeltext):
                lm = LABEL.match(labeltext, pos)
                assert lm, "line %d: bad labels %r" % (n, labeltext)
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        v = float(value)  # accepts +Inf, NaN
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in types:
                family = name[: -len(suffix)]
        assert family in types, "line %d: sample %s before its TYPE" % (n, name)
        families[family]["samples"].append((name, labels, v))
    return families


def check_histograms(testcase, families):
    for fname, fam in families.items():
        if fam["type"] != "histogram":
            continue
        series = {}
        for name, labels, v in fam["samples"]:
            key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "count": None})
            if name.endswith("_bucket"):
                series[key]["buckets"].append((float(labels["le"]), v))
            elif name.endswith("_count"):
                series[key]["count"] = v
        for key, s in series.items():
            les = [le for le, _ in s["buckets"]]
            testcase.assertEqual(les, sorted(les), key)
            testcase.assertEqual(les[-1], math.inf, key)
            counts = [c for _, c in s["buckets"]]
            testcase.assertEqual(counts, sorted(counts), "buckets must be cumulative")
            testcase.assertEqual(counts[-1], s["count"], "+Inf bucket must equal _count")


class Health(DaemonTest):
    def test_health_fields(self):
        d = self.daemon()
        status, headers, body = d.get("/health")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        doc = json.loads(body)
        _, version, _ = run_historiand("--version")
        self.assertEqual(doc["status"], "ok")
        self.assertEqual("historiand " + doc["version"] + "\n", version)
        self.assertIsInstance(doc["uptime_s"], int)
        self.assertGreaterEqual(doc["uptime_s"], 0)
        self.assertEqual(doc["data_dir"], os.path.realpath(d.data_dir))

    def test_head_health_has_no_body(self):
        d = self.daemon()
        status, _, body = d.request("HEAD", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")

    def test_many_concurrent_requests(self):
        d = self.daemon()
        failures = []

        def worker():
            for _ in range(25):
                status, _, _ = d.get("/health")
                if status != 200:
                    failures.append(status)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])

        def settled(fams):
            assert request_counts(fams)[(("code", "200"), ("route", "/health"))] == 200

        settled_metrics(d, settled)


def settled_metrics(d, check, timeout=3):
    """A request is counted when libmicrohttpd reports it complete, just
    after the client has its answer: poll until check(families) holds."""
    deadline = time.monotonic() + timeout
    while True:
        status, headers, body = d.get("/metrics")
        fams = parse_prometheus(body.decode())
        try:
            check(fams)
            return status, headers, body
        except (AssertionError, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def request_counts(fams):
    return {tuple(sorted(l.items())): v
            for _, l, v in fams["historian_http_requests_total"]["samples"]}


class Metrics(DaemonTest):
    def test_metrics_is_prometheus_text(self):
        d = self.daemon()
        for _ in range(3):
            d.get("/health")
        d.get("/no/such/thing")
        d.request("DELETE", "/health")

        def settled(fams):
            got = request_counts(fams)
            assert got[(("code", "200"), ("route", "/health"))] == 3
            assert got[(("code", "405"), ("route", "/health"))] == 1
            assert got[(("code", "404"), ("route", "unmatched"))] == 1

        status, headers, body = settled_metrics(d, settled)
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        fams = parse_prometheus(body.decode())
        for name in ("historian_build_info", "historian_start_time_seconds",
                     "historian_http_requests_total", "historian_http_request_duration_seconds",
                     "process_resident_memory_bytes", "process_open_fds"):
            self.assertIn(name, fams)
        info = fams["historian_build_info"]["samples"][0]
        self.assertEqual(info[2], 1)
        self.assertRegex(info[1]["version"], r"^\d+\.\d+\.\d+$")
        got = {tuple(sorted(l.items())): v
               for _, l, v in fams["historian_http_requests_total"]["samples"]}
        self.assertEqual(got[(("code", "200"), ("route", "/health"))], 3)
        self.assertEqual(got[(("code", "404"), ("route", "unmatched"))], 1)
        self.assertEqual(got[(("code", "405"), ("route", "/health"))], 1)
        check_histograms(self, fams)
        counts = {l["route"]: v for n, l, v in
                  fams["historian_http_request_duration_seconds"]["samples"]
                  if n.endswith("_count")}
        self.assertEqual(counts["/health"], 4)

    def test_prometheus_parser_rejects_bad_text(self):
        # The checker above must be able to fail.
        for bad in ("x 1\n", "# TYPE x counter\nx{a=b} 1\n", "# TYPE x counter\nx one\n",
                    "# TYPE x counter\nx 1"):
            with self.assertRaises((AssertionError, ValueError)):
                parse_prometheus(bad)


class Errors(DaemonTest):
    def test_unknown_route_is_404_json(self):
        d = self.daemon()
        for path in ("/nope", "/", "/health/", "/healthz", "/api/v1/unknown"):
            status, headers, body = d.get(path)
            self.assertJsonError(status, headers, body, 404, "not_found")

    def test_wrong_method_is_405_with_allow(self):
        d = self.daemon()
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, headers, body = d.request(method, "/health", body=b"{}")
            doc = self.assertJsonError(status, headers, body, 405, "method_not_allowed")
            self.assertEqual(headers["allow"], "GET, HEAD")
            self.assertIn(method, doc["error"]["message"])
        status, headers, body = d.request("POST", "/metrics")
        self.assertJsonError(status, headers, body, 405, "method_not_allowed")

    def test_invalid_utf8_path_still_gets_json(self):
        d = self.daemon()
        with socket.create_connection(d.http_addr) as s:
            s.sendall(b"GET /caf%C3%28%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"404", head.split(b"\r\n")[0])
        self.assertEqual(json.loads(body)["error"]["code"], "not_found")

    def test_request_memory_bounds_the_url(self):
        # 2,000 tag= parameters (126 KB of URL) are answered with the default
        # 256 KiB of request memory, 7,000 with 1 MiB; under the 64 KiB
        # minimum the daemon refuses to start.
        d = self.daemon()
        names = ["plant.unit%04d.temperature,site=north,area=boilers" % i for i in range(2000)]
        query = "&".join("tag=" + urllib.parse.quote(n) for n in names)
        status, _, body = d.get("/api/v1/current?" + query)
        self.assertEqual(status, 404, body)
        self.assertIn(b"unknown_tag", body)
        big = self.daemon(config="[http]\nrequest_memory = 1MiB\n")
        names = ["plant.unit%04d.temperature,site=north,area=boilers" % i for i in range(7000)]
        query = "&".join("tag=" + urllib.parse.quote(n) for n in names)
        status, _, body = big.get("/api/v1/current?" + query, timeout=20)
        self.assertEqual(status, 404, body)
        self.assertIn(b"unknown_tag", body)
        small = os.path.join(d.tmp, "small.conf")
        with open(small, "w") as f:
            f.write("[http]\nrequest_memory = 32KiB\n")
        status, _, err = run_historiand("--config", small, "--print-config")
        self.assertEqual(status, 2)
        self.assertIn("request_memory", err)

    def test_garbage_request_does_not_take_daemon_down(self):
        d = self.daemon()
        for junk in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"G" * 100000 + b"\r\n\r\n"):
            with socket.create_connection(d.http_addr) as s:
                s.settimeout(1)  # libmicrohttpd waits out some junk until its timeout
                try:
                    s.sendall(junk)
                    s.recv(1024)
                except OSError:
                    pass
        self.assertEqual(d.json("/health")["status"], "ok")
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    main()
