# test_write.py: the write path end to end: InfluxDB 1.x/2.x /write, /api/v1/write (line protocol and JSON), /ping,
# partial writes, type conflicts, limits, gzip, quality, and every written sample read back through /api/v1/raw.
import gzip
import json
import os
import shutil
import signal
import subprocess
import threading
import time

from harness import DaemonTest, main

SEC = 1_000_000_000


def raw(d, tag, **params):
    return d.raw(tag, **params)


class Writes(DaemonTest):
    def post(self, d, path, body, ctype="text/plain; charset=utf-8", headers=None):
        h = {"Content-Type": ctype}
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        return d.request("POST", path, body=body, headers=h)

    def test_influx_v1_write_and_read_back(self):
        d = self.daemon()
        body = ("boiler,site=north,unit=3 temp=81.5,pressure=2.125 1735689600\n"
                "boiler,unit=3,site=north temp=81.75,pressure=2.25 1735689601\n"
                "# a comment\n\n"
                "pump7.speed value=1450i 1735689600\r\n"
                "valve,id=v1 open=true,state=\"half \\\"open\\\"\" 1735689600\n")
        status, _, resp = self.post(d, "/write?db=plant&precision=s", body)
        self.assertEqual(status, 204, resp)
        doc = raw(d, "boiler.temp,site=north,unit=3")
        self.assertEqual(doc["type"], "float")
        self.assertEqual([(s["t_ns"], s["v"], s["q"]) for s in doc["samples"]],
                         [(1735689600 * SEC, 81.5, 0), (1735689601 * SEC, 81.75, 0)])
        self.assertEqual(doc["samples"][0]["t"], "2025-01-01T00:00:00Z")
        self.assertEqual(raw(d, "pump7.speed")["samples"][0]["v"], 1450)
        self.assertEqual(raw(d, "pump7.speed")["type"], "integer")
        self.assertIs(raw(d, "valve.open,id=v1")["samples"][0]["v"], True)
        self.assertEqual(raw(d, "valve.state,id=v1")["samples"][0]["v"], 'half "open"')

    def test_one_batch_many_spellings_of_a_series(self):
        # Within one body a (series, field) is looked up by the bytes the line
        # used; differently ordered or escaped spellings of one series must
        # still land on one tag, and a type conflict inside the batch still
        # refuses its line.
        d = self.daemon()
        body = ("m,b=2,a=1 f=1,g=10 1735689600\n"
                "m,a=1,b=2 f=2 1735689601\n"
                "m,b=2,a=1 g=11,f=3 1735689602\n"
                "m,a=1,b=2 f=4i 1735689603\n"            # conflict: f is float
                "m\\ x,a=1 f=5 1735689600\n"             # measurement "m x"
                "m\\ x,a=1 f=6 1735689601\n"
                "m,a\\ =1,b=2 f=7 1735689600\n"           # label key "a " is another series
                "m,b=2,a=1 f=8 1735689604\n")
        status, headers, resp = self.post(d, "/write?precision=s", body)
        doc = self.assertJsonError(status, headers, resp, 400, "partial_write")
        self.assertEqual([e["line"] for e in doc["error"]["errors"]], [4])
        self.assertEqual(doc["error"]["written_samples"], 9)
        self.assertEqual([s["v"] for s in raw(d, "m.f,a=1,b=2")["samples"]], [1, 2, 3, 8])
        self.assertEqual([s["v"] for s in raw(d, "m.g,a=1,b=2")["samples"]], [10, 11])
        self.assertEqual([s["v"] for s in raw(d, "m x.f,a=1")["samples"]], [5, 6])
        self.assertEqual([s["v"] for s in raw(d, "m.f,a =1,b=2")["samples"]], [7])

    def test_v2_write_gzip_and_precisions(self):
        d = self.daemon()
        for prec, ts, want in (("ns", "1735689600000000007", 1735689600 * SEC + 7),
                               ("us", "1735689600000001", 1735689600 * SEC + 1000),
                               ("ms", "1735689600001", 1735689600 * SEC + 1000000),
                               ("s", "1735689601", 1735689601 * SEC)):
            body = gzip.compress(("m,p=%s v=1 %s\n" % (prec, ts)).encode())
            status, _, resp = self.post(d, "/api/v2/write?org=o&bucket=b&precision=" + prec, body,
                                        headers={"Content-Encoding": "gzip"})
            self.assertEqual(status, 204, resp)
            self.assertEqual(raw(d, "m.v,p=" + prec)["samples"][0]["t_ns"], want)

    def test_line_without_time_takes_arrival_time(self):
        d = self.daemon()
        before = time.time_ns()
        status, _, _ = self.post(d, "/write", "now,x=1 v=2\n")
        after = time.time_ns()
        self.assertEqual(status, 204)
        t = raw(d, "now.v,x=1")["samples"][0]["t_ns"]
        self.assertTrue(before <= t <= after, (before, t, after))

    def test_large_body_parsed_in_two_halves(self):
        # A body over 256 KiB is parsed on two threads when a core is free;
        # what is stored and reported must be what one thread makes of it:
        # line numbers across a string that spans lines, bad lines in both
        # halves, a type fixed in the first half and broken in the second.
        d = self.daemon()
        lines, expect_bad, n = [], [], 0
        t0 = 1735689600
        for i in range(12000):
            if i in (10, 9000):
                lines.append("garbage line %d" % i)
                expect_bad.append(n + 1)
            elif i == 6000:
                lines.append('big,u=2 s="first\nsecond" %d' % (t0 + i))
            elif i == 11000:
                lines.append("big,u=1 v=7i %d" % (t0 + i))   # v is a float tag
                expect_bad.append(n + 1)
            elif i == 11500:
                lines.append("late,u=3 x=%di %d" % (i, t0 + i))
            else:
                lines.append("big,u=1 v=%d.5 %d" % (i, t0 + i))
            n += lines[-1].count("\n") + 1
        body = "\n".join(lines) + "\n"
        self.assertGreater(len(body), 300 * 1024)
        status, headers, resp = self.post(d, "/write?precision=s", body)
        doc = self.assertJsonError(status, headers, resp, 400, "partial_write")
        self.assertEqual([e["line"] for e in doc["error"]["errors"]], expect_bad)
        self.assertEqual(doc["error"]["refused_lines"], 3)
        self.assertEqual(doc["error"]["written_samples"], 12000 - 3)
        v = raw(d, "big.v,u=1", limit=20000)["samples"]
        self.assertEqual(len(v), 12000 - 5)
        self.assertEqual([s["v"] for s in v[:3]], [0.5, 1.5, 2.5])
        self.assertEqual(v[-1]["v"], 11999.5)
        self.assertEqual(raw(d, "big.s,u=2")["samples"][0]["v"], "first\nsecond")
        self.assertEqual(raw(d, "late.x,u=3")["samples"][0]["v"], 11500)
        status, _, body = d.get("/metrics")
        split = [l for l in body.decode().splitlines()
                 if l.startswith("historian_ingest_split_parses_total ")]
        self.assertEqual(len(split), 1)
        self.assertEqual(float(split[0].split()[1]), 1 if (os.cpu_count() or 1) >= 2 else 0)

    def test_partial_write_reports_bad_lines(self):
        d = self.daemon()
        body = ("good,a=1 v=1 1735689600000000000\n"
                "bad line here\n"
                "good,a=1 v=2 1735689601000000000\n"
                "good,a=1 v= 1735689602000000000\n")
        status, headers, resp = self.post(d, "/write", body)
        doc = self.assertJsonError(status, headers, resp, 400, "partial_write")
        err = doc["error"]
        self.assertEqual(err["written_samples"], 2)
        self.assertEqual(err["refused_lines"], 2)
        self.assertEqual([e["line"] for e in err["errors"]], [2, 4])
        self.assertTrue(all(e["message"] for e in err["errors"]))
        self.assertGreater(err["errors"][0]["column"], 0)
        self.assertEqual([s["v"] for s in raw(d, "good.v,a=1")["samples"]], [1, 2])

    def test_type_conflict_refused_never_converted(self):
        d = self.daemon()
        self.assertEqual(self.post(d, "/write", "t v=1.5 1735689600000000000\n")[0], 204)
        status, headers, resp = self.post(d, "/write", "t v=2i 1735689601000000000\n"
                                                       "t v=3.5 1735689602000000000\n")
        doc = self.assertJsonError(status, headers, resp, 400, "partial_write")
        self.assertIn("float", doc["error"]["errors"][0]["message"])
        self.assertIn("integer", doc["error"]["errors"][0]["message"])
        self.assertEqual([s["v"] for s in raw(d, "t.v")["samples"]], [1.5, 3.5])

    def test_quality_field(self):
        d = self.daemon()
        body = ("ai,plc=1 value=4.2,quality=2147483648i 1735689600000000000\n"   # Bad
                "ai,plc=1 value=4.3,quality=1073741824i 1735689601000000000\n"   # Uncertain
                "ai,plc=1 value=4.4 1735689602000000000\n")                      # Good
        self.assertEqual(self.post(d, "/write", body)[0], 204)
        doc = raw(d, "ai,plc=1")
        self.assertEqual([s["q"] for s in doc["samples"]], [0x8000, 0x4000, 0])
        status, _, _ = d.get("/api/v1/raw?tag=ai.quality%2Cplc%3D1")
        self.assertEqual(status, 404, "quality is no tag of its own")

    def test_json_writes(self):
        d = self.daemon()
        body = {"samples": [
            {"tag": "flow.fic101", "t": "2025-01-01T00:00:00Z", "v": 12.5},
            {"tag": "flow.fic101", "t": "2025-01-01T00:00:01.5+00:00", "v": 13, "q": 1073741824},
            {"tag": "pump.on", "t": 1735689600, "v": True},
            {"tag": "", "t": 1, "v": 1},
        ]}
        status, headers, resp = self.post(d, "/api/v1/write?precision=s", json.dumps(body),
                                          ctype="application/json")
        doc = self.assertJsonError(status, headers, resp, 400, "partial_write")
        self.assertEqual(doc["error"]["errors"][0]["line"], 4)
        got = raw(d, "flow.fic101")["samples"]
        self.assertEqual([(s["t_ns"], s["v"], s["q"]) for s in got],
                         [(1735689600 * SEC, 12.5, 0), (1735689601 * SEC + SEC // 2, 13.0, 0x4000)])
        self.assertIs(raw(d, "pump.on")["samples"][0]["v"], True)
        body = {"tag": "level.lt7", "samples": [[1735689600000, 1.25], [1735689601000, 1.5, 0]]}
        status, _, resp = self.post(d, "/api/v1/write?precision=ms", json.dumps(body),
                                    ctype="application/json")
        self.assertEqual(status, 204, resp)
        self.assertEqual([s["v"] for s in raw(d, "level.lt7")["samples"]], [1.25, 1.5])
        status, headers, resp = self.post(d, "/api/v1/write", "{not json", ctype="application/json")
        self.assertJsonError(status, headers, resp, 400, "partial_write")

    def test_v1_write_takes_line_protocol(self):
        d = self.daemon()
        status, _, resp = self.post(d, "/api/v1/write?precision=s", "x v=1 1735689600\n")
        self.assertEqual(status, 204, resp)

    def test_errors(self):
        d = self.daemon(config="[http]\nmax_body_size = 1KiB\n")
        status, headers, resp = self.post(d, "/write", "x v=1\n" * 300)
        self.assertJsonError(status, headers, resp, 413, "body_too_large")
        status, headers, resp = self.post(d, "/write", gzip.compress(b"x v=1\n" * 3000),
                                          headers={"Content-Encoding": "gzip"})
        self.assertJsonError(status, headers, resp, 413, "body_too_large")
        status, headers, resp = self.post(d, "/write", b"garbage", headers={"Content-Encoding": "gzip"})
        self.assertJsonError(status, headers, resp, 400, "bad_encoding")
        status, headers, resp = self.post(d, "/api/v1/write", "<x/>", ctype="application/xml")
        self.assertJsonError(status, headers, resp, 415, "unsupported_media_type")
        status, headers, resp = self.post(d, "/write?precision=fortnight", "x v=1\n")
        self.assertJsonError(status, headers, resp, 400, "bad_parameter")
        status, headers, resp = d.get("/write")
        self.assertJsonError(status, headers, resp, 405, "method_not_allowed")
        self.assertEqual(headers["allow"], "POST")
        status, headers, resp = d.get("/api/v1/raw?tag=nope")
        self.assertJsonError(status, headers, resp, 404, "unknown_tag")
        status, headers, resp = d.get("/api/v1/raw")
        self.assertJsonError(status, headers, resp, 400, "bad_parameter")
        status, headers, resp = d.get("/api/v1/raw?tag=x&start=yesterday-ish")
        self.assertJsonError(status, headers, resp, 400, "bad_parameter")
        self.assertEqual(d.json("/health")["status"], "ok")

    def test_ping(self):
        d = self.daemon()
        for method in ("GET", "HEAD"):
            status, headers, body = d.request(method, "/ping")
            self.assertEqual(status, 204)
            self.assertEqual(body, b"")
            self.assertRegex(headers["x-influxdb-version"], r"^1\.\d+")

    def test_raw_limit_and_range(self):
        d = self.daemon()
        body = "".join("r v=%d %d\n" % (i, 1735689600 + i) for i in range(100))
        self.assertEqual(self.post(d, "/write?precision=s", body)[0], 204)
        doc = raw(d, "r.v", start="2025-01-01T00:00:10Z", end="%dns" % ((1735689600 + 20) * SEC), limit=5)
        self.assertEqual([s["v"] for s in doc["samples"]], [10, 11, 12, 13, 14])
        self.assertTrue(doc["truncated"])
        doc = raw(d, "r.v", start="1735689690s")
        self.assertEqual(len(doc["samples"]), 10)
        self.assertFalse(doc["truncated"])

    def test_acknowledged_writes_survive_kill9(self):
        d = self.daemon()
        acked, stop = [], threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                body = "".join("dur,w=%d v=%d %d\n" % (k, i, 1735689600 + i) for k in range(50))
                try:
                    status, _, _ = self.post(d, "/write?precision=s", body)
                except OSError:
                    return
                if status == 204:
                    acked.append(i)
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(1.0)
        d.kill()
        stop.set()
        t.join()
        self.assertGreater(len(acked), 10)
        again = self.daemon(data_dir=d.data_dir)
        for k in (0, 17, 49):
            got = {s["v"] for s in raw(again, "dur.v,w=%d" % k, limit=1000000)["samples"]}
            missing = [i for i in acked if i not in got]
            self.assertEqual(missing, [], "acknowledged but lost after kill -9")


if __name__ == "__main__":
    main()
