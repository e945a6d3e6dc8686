# test_query_api.py: the query API end to end: /api/v1/tags (search, detail, PATCH), current, raw, aggregate, trend,
# interpolated and export, every parameter error, the [query] limits, and an export streamed past max_response_size.
#
# Expected values come from the samples this file writes, through a small model of query/agg.h's signal (ref_bucket,
# ref_interp) and a few hand-computed literals that pin the model itself down.
import bisect
import csv
import datetime
import decimal
import gzip
import http.client
import io
import json
import math
import socket
import time
import urllib.parse
import zoneinfo

from harness import Daemon, DaemonTest, main

NS = 1_000_000_000
MIN = 60 * NS
HOUR = 60 * MIN
T = 1709251200 * NS              # 2024-03-01T00:00:00Z: every fixture sample lies long before "now"
Q_BAD = 2147483648               # OPC UA status codes written with quality=...i
Q_UNCERTAIN = 1073741824
API_BAD, API_UNCERTAIN = 0x8000, 0x4000   # what the API reports (the upper 16 bits)


# --- helpers -------------------------------------------------------------------------------------------------------

def url(path, params=()):
    """path?query from a dict or a list of pairs (repeat a key by repeating the pair)."""
    items = list(params.items()) if isinstance(params, dict) else list(params)
    return path + ("?" + urllib.parse.urlencode(items) if items else "")


def tag_path(name):
    return "/api/v1/tags/" + urllib.parse.quote(name, safe="")


def iso(ns):
    """RFC 3339 as the daemon writes it: UTC, Z, fraction without trailing zeros."""
    s, frac = divmod(ns, NS)
    text = datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += ("." + "%09d" % frac).rstrip("0")
    return text + "Z"


def iso_ns(text):
    """Nanoseconds of an RFC 3339 UTC time with whole seconds."""
    return int(datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
               .timestamp()) * NS


def ep(ns):
    """A time parameter: epoch nanoseconds with their unit."""
    return "%dns" % ns


def q_good(q):
    return q & 0xC000 == 0


def q_bad(q):
    return q & 0x8000 != 0


def usable(v, q, mode):
    if v is None or math.isnan(v):
        return False
    return {"not_bad": not q_bad(q), "good": q_good(q), "all": True}[mode]


TIME_WEIGHTED = ("twa", "integral", "percent_good")


def ref_bucket(samples, lo, hi, linear=True, mode="not_bad", stale=0):
    """Every aggregate function of bucket [lo, hi) of samples [(t_ns, v, q)] (ascending), per query/agg.h.
    "quality" is the bucket's quality when a time-weighted function is asked (the signal counts);
    "quality_samples" when none is (skip_signal: the bucket's own samples alone)."""
    times = [s[0] for s in samples]
    i0 = max(bisect.bisect_right(times, lo) - 1, 0)      # the sample governing lo, if any
    i1 = bisect.bisect_left(times, hi)
    inb = [v for t, v, q in samples[i0:i1] if lo <= t < hi and usable(v, q, mode)]
    r = dict.fromkeys(("sum", "mean", "min", "max", "first", "last", "delta", "range", "stddev"))
    r["count"] = len(inb)
    if inb:
        r.update(sum=math.fsum(inb), min=min(inb), max=max(inb), first=inb[0], last=inb[-1])
        r["mean"] = r["sum"] / len(inb)
        r["delta"], r["range"] = r["last"] - r["first"], r["max"] - r["min"]
    if len(inb) > 1:
        r["stddev"] = math.sqrt(math.fsum((v - r["mean"]) ** 2 for v in inb) / (len(inb) - 1))
    integral, usable_ns, good_ns, uncertain = [], 0, 0, False
    for i in range(i0, min(i1 + 1, len(samples))):
        t, v, q = samples[i]
        nxt = samples[i + 1] if i + 1 < len(samples) else None
        end = nxt[0] if nxt else hi
        if stale:
            end = min(end, t + stale)
        a, b = max(t, lo), min(end, hi)
        if b <= a:
            continue
        if q_good(q):
            good_ns += b - a
        if not (q_good(q) and usable(v, q, mode)):
            uncertain = True
        if not usable(v, q, mode):
            continue
        lin = (linear and nxt is not None and usable(nxt[1], nxt[2], mode)
               and (not stale or nxt[0] - t <= stale))
        at = (lambda x: v + (nxt[1] - v) * (x - t) / (nxt[0] - t)) if lin else (lambda x: v)
        integral.append((at(a) + at(b)) / 2 * (b - a) / NS)
        usable_ns += b - a
    r["integral"] = math.fsum(integral) if usable_ns else None
    r["twa"] = r["integral"] / (usable_ns / NS) if usable_ns else None
    r["percent_good"] = 100.0 * good_ns / (hi - lo)
    r["quality"] = "bad" if not inb and not usable_ns else "uncertain" if uncertain else "good"
    own = [(v, q) for t, v, q in samples[i0:i1] if lo <= t < hi]
    r["quality_samples"] = ("bad" if not inb else "good" if all(q_good(q) and usable(v, q, mode) for v, q in own)
                            else "uncertain")
    return r


def ref_interp(samples, t, linear=True, mode="not_bad", stale=0):
    """(value, quality) of the signal at t, per query/query.h (query_interp)."""
    times = [s[0] for s in samples]
    k = bisect.bisect_right(times, t)
    if k == 0:
        return None, "bad"
    pt, pv, pq = samples[k - 1]
    if not usable(pv, pq, mode) or (stale and t - pt > stale):
        return None, "bad"
    quality = "good" if q_good(pq) else "uncertain"
    if linear and k < len(samples) and t != pt:
        nt, nv, nq = samples[k]
        if usable(nv, nq, mode) and (not stale or nt - pt <= stale):
            return pv + (nv - pv) * (t - pt) / (nt - pt), quality if q_good(nq) else "uncertain"
    return pv, quality


def trend_width(start, end, n):
    """A trend's bucket width, per query/bucket.h (bucket_plan_trend)."""
    span = end - start
    width = -(-span // n)
    unit = next((u for u in (HOUR, MIN, NS, 1) if width >= u), 1)
    width = -(-width // unit) * unit
    while (end - 1) // width - start // width + 1 > n:
        width += unit
    return width


def close(got, want):
    if want is None or got is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


# --- fixtures --------------------------------------------------------------------------------------------------------

RAMP = [(T, 0.0, 0), (T + 30 * MIN, 10.0, 0)]                                   # agg.ramp, meta.p, ip.*
QUAL = [(T, 1.0, 0), (T + 10 * MIN, 100.0, API_BAD), (T + 20 * MIN, 3.0, API_UNCERTAIN)]   # agg.q
ONOFF = [(T, 1.0, 0), (T + 15 * MIN, 0.0, 0), (T + 45 * MIN, 1.0, 0)]            # agg.on
RAW = [(T + i * MIN, i * 1.5 - 3, 0) for i in range(25)]                         # raw.r
OVL = [(T + i * MIN, float(i * i % 17), 0) for i in range(20)]                 # ovl.v: two interleaved writes
FLOATS = [1e300, -1.5e-7, 5e-324, 0.1 + 0.2, 123456789.12345679, -0.0, 2.0 ** 53 + 2, 1.7976931348623157e308]
STRING = 'tab\there \u00fc \u20ac \\ back "q"'                             # fmt.s
WEIRD = 'weird.v,k=a"b\\,c\\=d e/f'                                         # from weird,k=a"b\,c\=d\ e/f v=1
RAWP = [(T + i * NS, float(i), 0) for i in range(2500)]                         # raw.p
TREND = [(T + i * 10 * NS, 1000.0 if i == 15 else -500.0 if i == 22 else ((i * 37) % 11) - 5 + 0.25 * (i % 3), 0)
         for i in range(30)]                                                    # trend.t: a spike and a dip
DST_FIRST = 1729893600 * NS                                                     # 2024-10-25T22:00:00Z
DST = [(DST_FIRST + h * HOUR, 2.0, 0) for h in range(73)]                       # dst.flow, hourly to 10-28T22Z
# exp.*: (tag, t, line-protocol value, CSV text, JSON value)
EXPORT = [
    ("exp.s", T, '"x,y"', "x,y", "x,y"),
    ("exp.s", T + 2 * MIN, '"say \\"hi\\""', 'say "hi"', 'say "hi"'),
    ("exp.a", T, "1.5", "1.5", 1.5),
    ("exp.a", T + MIN, "2.5", "2.5", 2.5),
    ("exp.a", T + 3 * MIN, "-3", "-3", -3),
    ("exp.b", T + MIN, "true", "true", True),
    ("exp.i", T + 2 * MIN, "7i", "7", 7),
    ("exp.i", T + 3 * MIN, "-8i", "-8", -8),
]
EXPORT_ORDER = ["exp.s", "exp.a", "exp.b", "exp.i"]


def lp_series(key, field, samples):
    out = []
    for t, v, q in samples:
        qf = ",quality=%di" % (Q_BAD if q == API_BAD else Q_UNCERTAIN) if q else ""
        out.append("%s %s=%r%s %d\n" % (key, field, v, qf, t))
    return out


def fixture_lines():
    lines = [
        "plant,area=north temp=1 %d\n" % T,
        "plant,area=south temp=2 %d\n" % T,
        "plant,area=north,line=2 temp=3 %d\n" % T,
        "plant,area=north pressure=4 %d\n" % T,
        "page %s %d\n" % (",".join("t%d=%d" % (i, i) for i in range(7)), T),
        "meta fl=2 %d\nmeta fl=3 %d\n" % (T + HOUR, T + 2 * HOUR),
        "meta i=0i %d\nmeta b=true %d\nmeta s=\"x\" %d\n" % (T, T, T),
        "cur a=5 %d\n" % (T + HOUR),
        "cur bad=1 %d\ncur bad=2,quality=%di %d\n" % (T, Q_BAD, T + MIN),
        "cur s=\"hello, \\\"world\\\"\" %d\ncur on=true %d\ncur on=false %d\ncur n=42i %d\n"
        % (T, T, T + MIN, T),
        "raw frac=1 %d\nraw frac=2 %d\n" % (T + 1500 * NS // 1000, T + 2 * NS + 1234),
        "agg int=0i %d\nagg int=10i %d\n" % (T, T + 30 * MIN),
        "aggs str=\"a\" %d\n" % T,
        "ip int=0i %d\nip int=10i %d\nip on=true %d\nip on=false %d\n" % (T, T + 30 * MIN, T, T + 30 * MIN),
    ]
    for key, field in (("meta", "p"), ("agg", "ramp"), ("ip", "x"), ("ip", "stale")):
        lines += lp_series(key, field, RAMP)
    lines += lp_series("agg", "q", QUAL)
    lines += ["agg on=%s %d\n" % ("true" if v else "false", t) for t, v, q in ONOFF]
    lines += ["fmt v=%r %d\n" % (v, T + i) for i, v in enumerate(FLOATS)]
    lines += ["fmt i=%di %d\nfmt i=%di %d\n" % (2 ** 63 - 1, T, -2 ** 63, T + 1)]
    lines += ['fmt s="%s" %d\n' % (STRING.replace("\\", "\\\\").replace('"', '\\"'), T)]
    lines += ['weird,k=a"b\\,c\\=d\\ e/f v=1 %d\n' % T]
    lines += lp_series("raw", "r", RAW) + lp_series("raw", "p", RAWP) + lp_series("ovl", "v", OVL[0::2])
    lines += lp_series("trend", "t", TREND) + lp_series("dst", "flow", DST)
    lines += ["exp %s=%s %d\n" % (tag.split(".")[1], lpv, t) for tag, t, lpv, _, _ in EXPORT]
    return "".join(lines)


class ApiTest(DaemonTest):
    """Helpers that say which request failed and what came back."""

    def call(self, d, method, path, params=(), body=None, headers=None, timeout=10):
        u = url(path, params)
        status, hdrs, data = d.request(method, u, body=body, headers=headers, timeout=timeout)
        return "%s %s" % (method, u), status, hdrs, data

    def ok(self, d, path, params=(), parse_float=float):
        what, status, headers, body = self.call(d, "GET", path, params)
        self.assertEqual(status, 200, "%s: %r" % (what, body[:2000]))
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), (what, headers))
        return json.loads(body, parse_float=parse_float)

    def error(self, d, path, params, status, code, prefix=None, method="GET", body=None):
        """The request fails with status and code; the message starts with prefix (a parameter name)."""
        what, got, headers, data = self.call(d, method, path, params, body=body)
        self.assertEqual(got, status, "%s: expected %d %s, got %r" % (what, status, code, data[:500]))
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), (what, headers))
        err = json.loads(data)["error"]
        self.assertEqual(err["code"], code, "%s: %r" % (what, err))
        self.assertIsInstance(err["message"], str, what)
        if prefix is not None:
            msg = err["message"]
            self.assertTrue(msg.startswith(prefix) and not msg[len(prefix):len(prefix) + 1].isalnum(),
                            "%s: message should start with %r: %r" % (what, prefix, msg))
        return err

    def bad(self, d, path, params, name):
        return self.error(d, path, params, 400, "bad_parameter", name)

    def assertClose(self, got, want, what):
        self.assertTrue(close(got, want), "%s: got %r, expected %r" % (what, got, want))

    def assertBucket(self, got, want, fns, what):
        """Compare a daemon bucket with a ref_bucket() result for fns, and its quality."""
        for f in fns:
            if f == "count":
                self.assertEqual(got.get(f), want[f], "%s: %s" % (what, f))
            else:
                self.assertIn(f, got, "%s: %s missing from %r" % (what, f, got))
                self.assertClose(got[f], want[f], "%s: %s" % (what, f))
        quality = want["quality"] if set(fns) & set(TIME_WEIGHTED) else want["quality_samples"]
        self.assertEqual(got["quality"], quality, "%s: quality of %r" % (what, got))


class QueryApi(ApiTest):
    """One daemon with default limits and every fixture; each test reads its own tags."""
    SEAL = False    # QueryApiSealed: seal the first write into chunks, so later writes overlap sealed data

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.d.start()
        try:
            d = cls.d
            status, _, body = d.request("POST", "/write", body=fixture_lines().encode())
            assert status == 204, body
            if cls.SEAL:
                status, _, body = d.request("POST", "/api/v1/admin/compact", timeout=60)
                assert status == 200, body
                assert json.loads(body)["sealed_samples"] > 0, body
            # Older samples after newer ones: first/last and current must still be right.
            later = ["meta fl=1 %d\ncur a=7 %d\n" % (T, T)] + lp_series("ovl", "v", OVL[1::2])
            status, _, body = d.request("POST", "/write", body="".join(later).encode())
            assert status == 204, body
            # A refused line still creates the tags of its other fields (docs/INGEST.md): cur.empty, no sample.
            status, _, body = d.request("POST", "/write", body=("cur a=1i,empty=2 %d\n" % T).encode())
            assert status == 400, body
        except BaseException:
            cls.d.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_interleaved_writes(self):
        # ovl.v: even minutes in the first write, odd minutes in the second (into sealed chunks for QueryApiSealed).
        s = self.ok(self.d, "/api/v1/raw", {"tag": "ovl.v", "start": ep(T), "end": ep(T + HOUR), "time_format": "ns"})
        self.assertEqual([(x["t"], x["v"]) for x in s["series"][0]["samples"]], [(t, v) for t, v, q in OVL],
                         "raw: both writes merged in time order")
        pages = self.walk("ovl.v", {"start": ep(T), "end": ep(T + HOUR), "time_format": "ns"}, OVL, 3, True)
        self.assertEqual(pages, 7, "ovl.v: 20 samples in pages of 3")
        fns = ["twa", "mean", "min", "max", "count", "sum", "stddev", "first", "last", "integral"]
        for interval, width in (("10m", 10 * MIN), ("1h", HOUR)):
            buckets = self.aggregate("ovl.v", T, T + HOUR, interval, fns)["series"][0]["buckets"]
            for k, b in enumerate(buckets):
                lo = T + k * width
                self.assertBucket(b, ref_bucket(OVL, lo, lo + width), fns, "ovl.v %s bucket %s" % (interval, b["t"]))
        _, _, body = self.export([("tag", "ovl.v"), ("start", ep(T)), ("end", ep(T + HOUR)), ("time_format", "ns")])
        rows = body.decode().split("\r\n")[1:-1]
        self.assertEqual(rows, ["ovl.v,%d,%s,0" % (t, int(v)) for t, v, q in OVL], "export of ovl.v")
        cur = self.ok(self.d, "/api/v1/current", {"tag": "ovl.v"})["values"][0]
        self.assertEqual((cur["t"], cur["v"]), (iso(OVL[-1][0]), OVL[-1][1]), "current of ovl.v")

    # -- tags -------------------------------------------------------------------------------------------------------
    def names(self, doc):
        return [t["name"] for t in doc["tags"]]

    def test_tags_search(self):
        d = self.d
        temps = {"plant.temp,area=north", "plant.temp,area=south", "plant.temp,area=north,line=2"}
        doc = self.ok(d, "/api/v1/tags", {"match": "plant.temp*"})
        self.assertEqual(set(self.names(doc)), temps, "match=plant.temp*")
        self.assertIsNone(doc["next"], "match=plant.temp*: one page")
        by_name = {t["name"]: t for t in doc["tags"]}
        self.assertEqual(by_name["plant.temp,area=north,line=2"]["labels"], {"area": "north", "line": "2"})
        self.assertEqual(by_name["plant.temp,area=north,line=2"]["type"], "float")
        self.assertEqual(set(self.names(self.ok(d, "/api/v1/tags", {"match": "page.t[0-2]"}))),
                         {"page.t0", "page.t1", "page.t2"}, "match=page.t[0-2]")
        self.assertEqual(len(self.names(self.ok(d, "/api/v1/tags", {"match": "page.t?"}))), 7, "match=page.t?")
        self.assertEqual(set(self.names(self.ok(d, "/api/v1/tags", {"label": "area=north"}))),
                         {"plant.temp,area=north", "plant.temp,area=north,line=2", "plant.pressure,area=north"},
                         "label=area=north")
        self.assertEqual(self.names(self.ok(d, "/api/v1/tags", [("label", "area=north"), ("label", "line=2")])),
                         ["plant.temp,area=north,line=2"], "two labels: both must hold")
        self.assertEqual(set(self.names(self.ok(d, "/api/v1/tags", {"match": "plant.temp*", "label": "area=north"}))),
                         {"plant.temp,area=north", "plant.temp,area=north,line=2"}, "match and label")
        doc = self.ok(d, "/api/v1/tags", {"label": "area=east"})
        self.assertEqual((doc["tags"], doc["next"]), ([], None), "label matching nothing: an empty list")
        self.assertEqual(self.names(self.ok(d, "/api/v1/tags", {"match": "nothing*"})), [], "match nothing")
        all_tags = self.names(self.ok(d, "/api/v1/tags", {"limit": 10000}))
        self.assertEqual(len(all_tags), len(set(all_tags)), "no tag twice")
        self.assertIn("cur.empty", all_tags, "a tag created by a refused line is listed")

    def test_tags_paging(self):
        d = self.d
        for limit, sizes in ((3, [3, 3, 1]), (7, [7]), (2, [2, 2, 2, 1]), (1, [1] * 7)):
            seen, got_sizes, after = [], [], None
            while True:
                params = {"match": "page.*", "limit": limit}
                if after is not None:
                    params["after"] = after
                doc = self.ok(d, "/api/v1/tags", params)
                seen += self.names(doc)
                got_sizes.append(len(doc["tags"]))
                after = doc["next"]
                if after is None:
                    break
                self.assertLess(len(got_sizes), 20, "paging does not end")
            self.assertEqual(got_sizes, sizes, "match=page.* limit=%d: page sizes" % limit)
            self.assertEqual(sorted(seen), ["page.t%d" % i for i in range(7)], "limit=%d: every tag once" % limit)
        first = self.ok(d, "/api/v1/tags", {"label": "area=north", "limit": 2})
        self.assertEqual(len(first["tags"]), 2)
        rest = self.ok(d, "/api/v1/tags", {"label": "area=north", "limit": 2, "after": first["next"]})
        self.assertEqual(len(rest["tags"]), 1, "label=area=north, second page")
        self.assertIsNone(rest["next"])
        self.assertFalse(set(self.names(first)) & set(self.names(rest)), "pages overlap")

    def test_tag_detail(self):
        d = self.d
        doc = self.ok(d, tag_path("plant.temp,area=north,line=2"))
        want = {"name": "plant.temp,area=north,line=2", "type": "float", "labels": {"area": "north", "line": "2"},
                "unit": "", "description": "", "eng_low": None, "eng_high": None, "interpolation": "linear",
                "display_digits": None, "stale_timeout": "0s", "stale_timeout_ns": 0, "first": iso(T), "last": iso(T)}
        self.assertEqual({k: doc.get(k, "(missing)") for k in want}, want, "metadata defaults of a float tag")
        for name, typ in (("meta.i", "integer"), ("meta.b", "boolean"), ("meta.s", "string")):
            doc = self.ok(d, tag_path(name))
            self.assertEqual((doc["type"], doc["interpolation"], doc["labels"]), (typ, "step", {}),
                             "%s: type and default interpolation" % name)
        doc = self.ok(d, tag_path("meta.fl"))
        self.assertEqual((doc["first"], doc["last"]), (iso(T), iso(T + 2 * HOUR)),
                         "first/last after an out-of-order older write")
        doc = self.ok(d, tag_path("meta.fl"), {"time_format": "ns"})
        self.assertEqual((doc["first"], doc["last"]), (T, T + 2 * HOUR), "first/last with time_format=ns")
        doc = self.ok(d, tag_path("cur.empty"))
        self.assertEqual((doc["first"], doc["last"]), (None, None), "a tag without samples")

    def patch(self, name, obj):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        return self.call(self.d, "PATCH", tag_path(name), body=body, headers={"Content-Type": "application/json"})

    def test_tag_patch(self):
        d = self.d
        agg = {"tag": "meta.p", "start": ep(T), "end": ep(T + 30 * MIN), "interval": "30m", "fn": "twa"}

        def twa(params=()):
            return self.ok(d, "/api/v1/aggregate", dict(agg, **dict(params)))["series"][0]["buckets"][0]["twa"]

        self.assertClose(twa(), ref_bucket(RAMP, T, T + 30 * MIN)["twa"], "meta.p twa, linear by default")
        self.assertClose(twa(), 5.0, "meta.p twa, linear by default (by hand)")
        change = {"unit": "m³/h", "description": "feed flow, line 2", "eng_low": -10, "eng_high": 250.5,
                  "interpolation": "step", "display_digits": 3, "stale_timeout": "5m"}
        what, status, _, body = self.patch("meta.p", change)
        self.assertEqual(status, 200, "%s %s: %r" % (what, change, body))
        want = {"unit": "m³/h", "description": "feed flow, line 2", "eng_low": -10, "eng_high": 250.5,
                "interpolation": "step", "display_digits": 3, "stale_timeout": "5m", "stale_timeout_ns": 300 * NS}
        patched = json.loads(body)
        read = self.ok(d, tag_path("meta.p"))
        for key, value in want.items():
            self.assertEqual(patched.get(key), value, "PATCH answer: %s" % key)
            self.assertEqual(read.get(key), value, "GET after PATCH: %s" % key)
        self.assertEqual((read["first"], read["last"], read["type"]), (iso(T), iso(T + 30 * MIN), "float"))
        # Step and a 5 min stale timeout: 0 for 5 min, then a gap.
        self.assertClose(twa(), ref_bucket(RAMP, T, T + 30 * MIN, linear=False, stale=300 * NS)["twa"],
                         "twa after PATCH interpolation=step, stale_timeout=5m")
        what, status, _, body = self.patch("meta.p", {"stale_timeout": None})
        self.assertEqual(status, 200, body)
        self.assertClose(twa(), 0.0, "twa after PATCH interpolation=step (step holds 0 until 10 arrives)")
        self.assertClose(twa({"interpolation": "linear"}), 5.0, "interpolation=linear overrides the tag's step")
        # Only what is named changes; null resets to the default.
        what, status, _, body = self.patch("meta.p", {"unit": None, "eng_high": None, "interpolation": None,
                                                      "display_digits": None, "description": None})
        self.assertEqual(status, 200, "%s: %r" % (what, body))
        read = self.ok(d, tag_path("meta.p"))
        self.assertEqual((read["unit"], read["description"], read["eng_low"], read["eng_high"], read["interpolation"],
                          read["display_digits"], read["stale_timeout_ns"], read.get("stale_timeout")),
                         ("", "", -10, None, "linear", None, 0, "0s"), "after PATCH with nulls")
        self.assertClose(twa(), 5.0, "twa after interpolation reset to null (linear for a float tag)")
        what, status, _, body = self.patch("meta.p", {})
        self.assertEqual(status, 200, "%s {}: %r" % (what, body))
        self.assertEqual(json.loads(body)["eng_low"], -10, "an empty PATCH changes nothing")
        # Integers may interpolate linearly; null brings back step.
        for value, want_interp in (("linear", "linear"), (None, "step")):
            what, status, _, body = self.patch("meta.i", {"interpolation": value})
            self.assertEqual((status, json.loads(body).get("interpolation")), (200, want_interp),
                             "%s interpolation=%s: %r" % (what, value, body))

    def test_tag_patch_errors(self):
        d = self.d
        before = self.ok(d, tag_path("meta.s"))
        cases = [
            (b"{not json", "bad_json", "body"),
            (b"[1, 2]", "bad_json", "body"),
            (b"", "bad_json", "body"),
            ({"colour": "red"}, "bad_metadata", "colour"),
            ({"unit": 5}, "bad_metadata", "unit"),
            ({"unit": "x" * 64}, "bad_metadata", "unit"),
            ({"description": ["a"]}, "bad_metadata", "description"),
            ({"eng_low": "low"}, "bad_metadata", "eng_low"),
            ({"eng_high": True}, "bad_metadata", "eng_high"),
            ({"eng_low": 5, "eng_high": 1}, "bad_metadata", None),
            ({"interpolation": "cubic"}, "bad_metadata", "interpolation"),
            ({"interpolation": 1}, "bad_metadata", "interpolation"),
            ({"display_digits": 18}, "bad_metadata", "display_digits"),
            ({"display_digits": -1}, "bad_metadata", "display_digits"),
            ({"display_digits": 2.5}, "bad_metadata", "display_digits"),
            ({"stale_timeout": "5 minutes"}, "bad_metadata", "stale_timeout"),
            ({"stale_timeout": 300}, "bad_metadata", "stale_timeout"),
            ({"unit": "kg", "colour": "red"}, "bad_metadata", "colour"),   # nothing applied
        ]
        for obj, code, prefix in cases:
            with self.subTest(patch=obj):
                body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
                self.error(d, tag_path("meta.s"), (), 400, code, prefix, method="PATCH", body=body)
        with self.subTest(patch="linear interpolation of a string tag"):
            self.error(d, tag_path("meta.s"), (), 400, "bad_metadata", None, method="PATCH",
                       body=b'{"interpolation": "linear"}')
        with self.subTest(patch="linear interpolation of a boolean tag"):
            self.error(d, tag_path("meta.b"), (), 400, "bad_metadata", None, method="PATCH",
                       body=b'{"interpolation": "linear"}')
        self.assertEqual(self.ok(d, tag_path("meta.s")), before, "refused PATCHes changed nothing")
        self.error(d, tag_path("no.such.tag"), (), 404, "unknown_tag", method="PATCH", body=b'{"unit": "m"}')

    def test_values_and_names_round_trip(self):
        d = self.d
        rng = {"start": ep(T), "end": ep(T + MIN)}
        want = [(T + i, v) for i, v in enumerate(FLOATS)]
        s = self.raw(dict(rng, time_format="ns"), tag="fmt.v")
        self.assertEqual([(x["t"], x["v"]) for x in s["samples"]], want, "raw: floats exactly as written")
        what, _, _, body = self.call(d, "GET", "/api/v1/raw", dict(rng, tag="fmt.v"))
        self.assertIn(b'"v":-0,', body, "%s: -0 keeps its sign" % what)
        s = self.raw(rng, tag="fmt.i")
        self.assertEqual([x["v"] for x in s["samples"]], [2 ** 63 - 1, -2 ** 63], "raw: 64-bit integers exactly")
        s = self.raw(rng, tag="fmt.s")
        self.assertEqual(s["samples"][0]["v"], STRING, "raw: a string with tab, UTF-8, backslash and quotes")
        _, _, body = self.export([("tag", "fmt.v"), ("tag", "fmt.i"), ("tag", "fmt.s"), ("tag", WEIRD)]
                                 + list(rng.items()) + [("time_format", "ns")])
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))[1:]
        self.assertEqual([(r[0], int(r[1]), float(r[2])) for r in rows[:len(FLOATS)]],
                         [("fmt.v", t, v) for t, v in want], "CSV export: floats exactly as written")
        self.assertEqual([r[2] for r in rows[len(FLOATS):]], [str(2 ** 63 - 1), str(-2 ** 63), STRING, "1"],
                         "CSV export: integers, the string (quoted), the weird tag")
        self.assertEqual(rows[-1][0], WEIRD, "CSV export: a tag name with quote, comma, '=' and space")
        _, _, body = self.export([("tag", "fmt.v"), ("tag", "fmt.s"), ("tag", WEIRD), ("format", "jsonl")]
                                 + list(rng.items()))
        lines = [json.loads(x) for x in body.decode("utf-8").splitlines()]
        self.assertEqual([x["v"] for x in lines], FLOATS + [STRING, 1], "JSON lines export: values exactly")
        self.assertEqual(lines[-1]["tag"], WEIRD)
        doc = self.ok(d, "/api/v1/tags", {"match": "weird*"})
        self.assertEqual(doc["tags"], [{"name": WEIRD, "type": "float", "labels": {"k": 'a"b,c=d e/f'}}],
                         "name and labels of a tag with escapes")
        detail = self.ok(d, tag_path(WEIRD))
        self.assertEqual((detail["name"], detail["first"]), (WEIRD, iso(T)), "GET %s" % tag_path(WEIRD))
        what, status, _, body = self.call(d, "PATCH", tag_path(WEIRD), body=b'{"unit": "bar"}')
        self.assertEqual((status, json.loads(body).get("unit")), (200, "bar"), "%s: %r" % (what, body))

    def test_aggregate_up_to_now(self):
        # No signal exists in the future: buckets after now have no twa and no percent_good.
        before = time.time_ns()
        doc = self.ok(self.d, "/api/v1/aggregate", {"tag": "agg.ramp", "start": "now-3h", "end": "now+3h",
                                                    "interval": "1h", "fn": "twa,percent_good,count"})
        after = time.time_ns()
        buckets = doc["series"][0]["buckets"]
        self.assertIn(len(buckets), (6, 7), "6 hours of 1 h buckets")
        past = [b for b in buckets if iso_ns(b["t"]) + HOUR <= before]
        future = [b for b in buckets if iso_ns(b["t"]) > after]
        self.assertGreaterEqual(len(past), 2)
        self.assertGreaterEqual(len(future), 2)
        for b in past:
            self.assertEqual((b["twa"], b["percent_good"], b["count"], b["quality"]), (10, 100, 0, "good"),
                             "a past bucket: the last sample (10) holds: %r" % b)
        for b in future:
            self.assertEqual((b["twa"], b["percent_good"], b["count"], b["quality"]), (None, None, 0, "bad"),
                             "a bucket in the future: %r" % b)

    # -- current ----------------------------------------------------------------------------------------------------
    def test_current(self):
        d = self.d
        doc = self.ok(d, "/api/v1/current", [("tag", "cur.a"), ("tag", "cur.bad"), ("tag", "cur.s"),
                                             ("tag", "cur.on"), ("tag", "cur.n"), ("tag", "cur.empty")])
        got = {v["tag"]: v for v in doc["values"]}
        self.assertEqual([v["tag"] for v in doc["values"]],
                         ["cur.a", "cur.bad", "cur.s", "cur.on", "cur.n", "cur.empty"], "tag= order kept")
        want = {
            "cur.a": ("float", iso(T + HOUR), 5, 0, "good"),      # 7 at T was written later but is older
            "cur.bad": ("float", iso(T + MIN), 2, API_BAD, "bad"),
            "cur.s": ("string", iso(T), 'hello, "world"', 0, "good"),
            "cur.on": ("boolean", iso(T + MIN), False, 0, "good"),
            "cur.n": ("integer", iso(T), 42, 0, "good"),
        }
        for name, (typ, t, v, q, quality) in want.items():
            g = got[name]
            self.assertEqual((g["type"], g["t"], g["v"], g["q"], g["quality"]), (typ, t, v, q, quality),
                             "current of %s: %r" % (name, g))
        self.assertIs(got["cur.on"]["v"], False, "a boolean stays a boolean")
        self.assertEqual((got["cur.empty"]["t"], got["cur.empty"]["v"]), (None, None), "a tag without samples")
        doc = self.ok(d, "/api/v1/current", {"match": "cur.*", "time_format": "ms"})
        got = {v["tag"]: v for v in doc["values"]}
        self.assertEqual(set(got), {"cur.a", "cur.bad", "cur.s", "cur.on", "cur.n", "cur.empty"}, "match=cur.*")
        self.assertEqual(got["cur.a"]["t"], (T + HOUR) // 1000000, "time_format=ms")
        doc = self.ok(d, "/api/v1/current", {"label": "area=south"})
        self.assertEqual([(v["tag"], v["v"]) for v in doc["values"]], [("plant.temp,area=south", 2)], "label=")

    # -- raw --------------------------------------------------------------------------------------------------------
    def raw(self, params, tag="raw.r"):
        doc = self.ok(self.d, "/api/v1/raw", dict({"tag": tag}, **params))
        self.assertEqual(len(doc["series"]), 1, params)
        return doc["series"][0]

    def pairs(self, series):
        return [(s["t"], s["v"]) for s in series["samples"]]

    def test_raw_range(self):
        s = self.raw({"start": ep(T + 5 * MIN), "end": ep(T + 10 * MIN)})
        self.assertEqual((s["tag"], s["type"]), ("raw.r", "float"))
        self.assertEqual(self.pairs(s), [(iso(t), v) for t, v, q in RAW[5:10]], "[start, end): end excluded")
        self.assertIsNone(s["next"])
        self.assertNotIn("before", s, "bounds only when asked")
        self.assertEqual(s["samples"][0]["q"], 0)
        self.assertEqual(s["samples"][0]["quality"], "good")
        s = self.raw({"start": "2024-03-01T00:05:00Z", "end": "2024-03-01T01:10:00+01:00", "order": "desc"})
        self.assertEqual(self.pairs(s), [(iso(t), v) for t, v, q in reversed(RAW[5:10])], "RFC 3339 range, desc")
        s = self.raw({"start": ep(T), "end": ep(T + HOUR)}, tag="agg.q")
        self.assertEqual([(x["q"], x["quality"]) for x in s["samples"]],
                         [(0, "good"), (API_BAD, "bad"), (API_UNCERTAIN, "uncertain")], "qualities of agg.q")
        doc = self.ok(self.d, "/api/v1/raw", [("tag", "raw.r"), ("tag", "agg.ramp"), ("start", ep(T)),
                                              ("end", ep(T + 2 * MIN))])
        self.assertEqual([(x["tag"], len(x["samples"])) for x in doc["series"]], [("raw.r", 2), ("agg.ramp", 1)],
                         "two tags, one series each")
        s = self.raw({"start": ep(T - HOUR), "end": ep(T)})
        self.assertEqual((s["samples"], s["next"]), ([], None), "a range before the data")

    def walk(self, tag, params, samples, limit, desc):
        """Page through with next; every sample exactly once, in order."""
        got, cursor, pages = [], None, 0
        while True:
            p = dict(params, limit=limit, order="desc" if desc else "asc")
            if cursor:
                p["cursor"] = cursor
            s = self.raw(p, tag=tag)
            pages += 1
            self.assertLessEqual(len(s["samples"]), limit, "page %d longer than limit" % pages)
            got += [(x["t"], x["v"]) for x in s["samples"]]
            cursor = s["next"]
            if cursor is None:
                break
            self.assertTrue(s["samples"], "an empty page with a next cursor (%s limit=%d)" % (tag, limit))
            self.assertLess(pages, 1000, "paging does not end")
        want = [(t, v) for t, v, q in (reversed(samples) if desc else samples)]
        self.assertEqual(got, want, "%s limit=%d %s: every sample exactly once, in order"
                         % (tag, limit, "desc" if desc else "asc"))
        return pages

    def test_raw_paging(self):
        rng = {"start": ep(T), "end": ep(T + HOUR), "time_format": "ns"}
        for limit, pages in ((7, 4), (5, 5), (1, 25), (25, 1), (24, 2), (10000, 1)):
            for desc in (False, True):
                got = self.walk("raw.r", rng, RAW, limit, desc)
                self.assertEqual(got, pages, "raw.r limit=%d: pages" % limit)
        inner = {"start": ep(T + 3 * MIN), "end": ep(T + 20 * MIN), "time_format": "ns"}
        self.walk("raw.r", inner, RAW[3:20], 4, True)
        self.walk("raw.r", inner, RAW[3:20], 4, False)
        rngp = {"start": ep(T), "end": ep(T + HOUR), "time_format": "ns"}
        self.assertEqual(self.walk("raw.p", rngp, RAWP, 1000, False), 3)
        self.assertEqual(self.walk("raw.p", rngp, RAWP, 999, True), 3)

    def test_raw_bounds(self):
        s = self.raw({"start": ep(T + 5 * MIN), "end": ep(T + 10 * MIN), "bounds": "true"})
        self.assertEqual((s["before"]["t"], s["before"]["v"]), (iso(RAW[4][0]), RAW[4][1]), "before: last before start")
        self.assertEqual((s["after"]["t"], s["after"]["v"]), (iso(RAW[10][0]), RAW[10][1]), "after: first at end")
        self.assertEqual(s["before"]["quality"], "good")
        s = self.raw({"start": ep(T + 5 * MIN + 1), "end": ep(T + 10 * MIN + 1), "bounds": "true"})
        self.assertEqual((s["before"]["v"], s["after"]["v"]), (RAW[5][1], RAW[11][1]), "bounds 1 ns later")
        self.assertEqual(len(s["samples"]), 5)
        s = self.raw({"start": ep(T - HOUR), "end": ep(T), "bounds": "true"})
        self.assertEqual((s["before"], s["after"]["t"]), (None, iso(T)), "range before the data")
        s = self.raw({"start": ep(T + HOUR), "end": ep(T + 2 * HOUR), "bounds": "true"})
        self.assertEqual((s["before"]["t"], s["after"], s["samples"]), (iso(RAW[-1][0]), None, []),
                         "range after the data")
        s = self.raw({"start": ep(T + 5 * MIN), "end": ep(T + 10 * MIN), "bounds": "false"})
        self.assertNotIn("before", s)

    def test_raw_time_formats(self):
        t1, t2 = T + 1500 * NS // 1000, T + 2 * NS + 1234
        D = decimal.Decimal
        for fmt, want in (("ns", [t1, t2]),
                          ("us", [D(t1) / 1000, D(t2) / 1000]),
                          ("ms", [D(t1) / 1000000, D(t2) / 1000000]),
                          ("s", [D(t1) / NS, D(t2) / NS]),
                          ("rfc3339", [iso(t1), iso(t2)])):
            doc = self.ok(self.d, "/api/v1/raw", {"tag": "raw.frac", "start": ep(T), "end": ep(T + MIN),
                                                  "time_format": fmt}, parse_float=D)
            got = [x["t"] for x in doc["series"][0]["samples"]]
            self.assertEqual(got, want, "time_format=%s" % fmt)
        self.assertEqual(iso(t2), "2024-03-01T00:00:02.000001234Z")
        s = self.raw({"start": ep(T), "end": ep(T + MIN)}, tag="raw.frac")
        self.assertEqual([x["t"] for x in s["samples"]], ["2024-03-01T00:00:01.5Z", "2024-03-01T00:00:02.000001234Z"])

    def test_raw_default_range_is_the_last_hour(self):
        d = self.d
        status, _, body = d.request("POST", "/write", body=b"live v=1\n")
        self.assertEqual(status, 204, body)
        s = self.raw({}, tag="live.v")
        self.assertEqual([x["v"] for x in s["samples"]], [1], "no start/end: the last hour up to now")
        s = self.raw({})
        self.assertEqual(s["samples"], [], "raw.r's samples are years old")

    # -- aggregate --------------------------------------------------------------------------------------------------
    ALL_FNS = ["twa", "mean", "min", "max", "count", "sum", "stddev", "first", "last", "delta", "range",
               "integral", "percent_good"]

    def aggregate(self, tag, start, end, interval, fns, **extra):
        params = dict({"start": ep(start), "end": ep(end), "interval": interval, "fn": ",".join(fns)}, **extra)
        if tag:
            params["tag"] = tag
        return self.ok(self.d, "/api/v1/aggregate", params)

    def test_aggregate_every_function(self):
        doc = self.aggregate("agg.ramp", T, T + HOUR, "15m", self.ALL_FNS)
        self.assertEqual((doc["start"], doc["end"], doc["interval"], doc["tz"]), (iso(T), iso(T + HOUR), "15m", "UTC"))
        buckets = doc["series"][0]["buckets"]
        self.assertEqual([b["t"] for b in buckets], [iso(T + k * 15 * MIN) for k in range(4)], "bucket times")
        for k, b in enumerate(buckets):
            lo = T + k * 15 * MIN
            self.assertBucket(b, ref_bucket(RAMP, lo, lo + 15 * MIN), self.ALL_FNS, "agg.ramp 15m bucket %d" % k)
        # The model, by hand: 0 -> 10 over 30 min, then 10.
        self.assertEqual([b["twa"] for b in buckets], [2.5, 7.5, 10, 10], "twa by hand")
        self.assertEqual([b["integral"] for b in buckets], [2250, 6750, 9000, 9000], "integral by hand")
        self.assertEqual([b["count"] for b in buckets], [1, 0, 1, 0], "count by hand")
        self.assertEqual([b["mean"] for b in buckets], [0, None, 10, None], "mean: null in empty buckets")
        self.assertNotIn("filled", buckets[1], "fill=null marks nothing")
        doc = self.aggregate("agg.ramp", T, T + HOUR, "1h", self.ALL_FNS, integral_unit="h")
        b = doc["series"][0]["buckets"][0]
        want = ref_bucket(RAMP, T, T + HOUR)
        want["integral"] /= 3600
        self.assertBucket(b, want, self.ALL_FNS, "agg.ramp 1h, integral_unit=h")
        self.assertEqual({k: b[k] for k in ("twa", "integral", "count", "sum", "mean", "min", "max", "first", "last",
                                            "delta", "range", "percent_good")},
                         {"twa": 7.5, "integral": 7.5, "count": 2, "sum": 10, "mean": 5, "min": 0, "max": 10,
                          "first": 0, "last": 10, "delta": 10, "range": 10, "percent_good": 100}, "1h by hand")
        self.assertClose(b["stddev"], math.sqrt(50), "stddev by hand")
        b = self.aggregate("agg.ramp", T, T + HOUR, "1h", ["integral"], integral_unit="s")["series"][0]["buckets"][0]
        self.assertEqual(b["integral"], 27000, "integral_unit=s")
        doc = self.ok(self.d, "/api/v1/aggregate", {"tag": "agg.ramp", "start": ep(T), "end": ep(T + HOUR),
                                                    "interval": "1h"})
        self.assertEqual(set(doc["series"][0]["buckets"][0]), {"t", "twa", "quality"}, "fn defaults to twa")

    def test_aggregate_partial_buckets(self):
        # Range edges inside buckets: the buckets keep their aligned names, values cover the part inside.
        doc = self.aggregate("agg.ramp", T + 5 * MIN, T + 40 * MIN, "15m", ["twa", "count", "integral"])
        buckets = doc["series"][0]["buckets"]
        self.assertEqual([b["t"] for b in buckets], [iso(T), iso(T + 15 * MIN), iso(T + 30 * MIN)],
                         "aligned names of partial buckets")
        edges = [(T + 5 * MIN, T + 15 * MIN), (T + 15 * MIN, T + 30 * MIN), (T + 30 * MIN, T + 40 * MIN)]
        for b, (lo, hi) in zip(buckets, edges):
            self.assertBucket(b, ref_bucket(RAMP, lo, hi), ["twa", "count", "integral"], "partial bucket %s" % iso(lo))
        for b, want in zip(buckets, [(5 / 3 + 5) / 2, 7.5, 10]):
            self.assertClose(b["twa"], want, "twa of the partial bucket %s, by hand" % b["t"])

    def test_aggregate_quality_with_and_without_the_signal(self):
        # agg.h: [T+5m, T+10m) has no sample, but the sample at T governs it: good when a time-weighted function
        # is asked; without one only the bucket's own samples count, and it has none: bad.
        want = ref_bucket(RAMP, T + 5 * MIN, T + 10 * MIN)
        self.assertEqual((want["quality"], want["quality_samples"]), ("good", "bad"))
        for fns, quality in ((["twa"], "good"), (["count", "twa"], "good"), (["percent_good"], "good"),
                             (["integral", "max"], "good"), (["count"], "bad"), (["mean"], "bad"),
                             (["max", "first"], "bad")):
            with self.subTest(fn=",".join(fns)):
                params = {"tag": "agg.ramp", "start": ep(T + 5 * MIN), "end": ep(T + 10 * MIN), "interval": "5m",
                          "fn": ",".join(fns)}
                b = self.ok(self.d, "/api/v1/aggregate", params)["series"][0]["buckets"][0]
                self.assertEqual(b["quality"], quality, "GET %s: %r" % (url("/api/v1/aggregate", params), b))
        b = self.aggregate("agg.q", T, T + 30 * MIN, "30m", ["count"])["series"][0]["buckets"][0]
        self.assertEqual((b["count"], b["quality"]), (2, "uncertain"), "agg.q samples alone: one bad, one uncertain")

    def test_aggregate_repeated_fn(self):
        # routes_query.c: "fn=twa,min,max (comma-separated, or repeated)".
        params = [("tag", "agg.ramp"), ("start", ep(T)), ("end", ep(T + HOUR)), ("interval", "1h"),
                  ("fn", "twa"), ("fn", "count,max")]
        b = self.ok(self.d, "/api/v1/aggregate", params)["series"][0]["buckets"][0]
        self.assertEqual({k: b.get(k) for k in ("twa", "count", "max")}, {"twa": 7.5, "count": 2, "max": 10},
                         "GET %s: repeated fn= must all count" % url("/api/v1/aggregate", params))

    def test_aggregate_types(self):
        b = self.aggregate("agg.int", T, T + HOUR, "1h", ["twa", "count", "sum"])["series"][0]["buckets"][0]
        self.assertEqual((b["twa"], b["count"], b["sum"]), (5, 2, 10), "integer tag: step by default")
        b = self.aggregate("agg.int", T, T + HOUR, "1h", ["twa"], interpolation="linear")["series"][0]["buckets"][0]
        self.assertEqual(b["twa"], 7.5, "integer tag, interpolation=linear")
        b = self.aggregate("agg.ramp", T, T + HOUR, "1h", ["twa"], interpolation="step")["series"][0]["buckets"][0]
        self.assertEqual(b["twa"], 5, "float tag, interpolation=step")
        for interp in ("step", "linear"):
            b = self.aggregate("agg.on", T, T + HOUR, "1h", ["twa", "count", "sum", "min", "max", "percent_good"],
                               interpolation=interp)["series"][0]["buckets"][0]
            want = ref_bucket(ONOFF, T, T + HOUR, linear=False)
            self.assertBucket(b, want, ["twa", "count", "sum", "min", "max", "percent_good"],
                              "boolean tag, interpolation=%s (always step)" % interp)
            self.assertEqual(b["twa"], 0.5, "boolean on 30 of 60 min")

    def test_aggregate_quality_modes(self):
        fns = ["twa", "mean", "min", "max", "count", "sum", "first", "last", "integral", "percent_good"]
        for mode in ("not_bad", "all", "good"):
            extra = {} if mode == "not_bad" else {"quality": mode}
            b = self.aggregate("agg.q", T, T + 30 * MIN, "30m", fns, **extra)["series"][0]["buckets"][0]
            self.assertBucket(b, ref_bucket(QUAL, T, T + 30 * MIN, mode=mode), fns, "agg.q quality=%s" % mode)
        b = self.aggregate("agg.q", T, T + 30 * MIN, "30m", fns)["series"][0]["buckets"][0]
        self.assertEqual((b["count"], b["mean"], b["max"], b["twa"], b["quality"]), (2, 2, 3, 2, "uncertain"),
                         "default (not_bad) skips the bad sample, by hand")
        b = self.aggregate("agg.q", T, T + 30 * MIN, "30m", fns, quality="all")["series"][0]["buckets"][0]
        self.assertEqual((b["count"], b["max"], b["twa"]), (3, 100, 35), "quality=all uses it, by hand")
        b = self.aggregate("agg.q", T, T + 30 * MIN, "30m", fns, quality="good")["series"][0]["buckets"][0]
        self.assertEqual((b["count"], b["mean"], b["twa"]), (1, 1, 1), "quality=good: good samples only, by hand")
        b = self.aggregate("agg.q", T + 10 * MIN, T + 20 * MIN, "10m", ["twa", "count"])["series"][0]["buckets"][0]
        self.assertEqual((b["twa"], b["count"], b["quality"]), (None, 0, "bad"), "only a bad sample governs")

    def test_aggregate_fill(self):
        rng = (T, T + HOUR, "15m")
        base = [0, None, 10, None]
        cases = [("null", base, [False] * 4),
                 ("previous", [0, 0, 10, 10], [False, True, False, True]),
                 ("linear", [0, 5, 10, None], [False, True, False, False]),   # nothing after the range
                 ("-1.5", [0, -1.5, 10, -1.5], [False, True, False, True]),
                 ("42", [0, 42, 10, 42], [False, True, False, True])]
        for fill, want, filled in cases:
            buckets = self.aggregate("agg.ramp", *rng, ["mean", "count"], fill=fill)["series"][0]["buckets"]
            self.assertEqual([b["mean"] for b in buckets], want, "fill=%s: mean" % fill)
            self.assertEqual([b.get("filled", False) for b in buckets], filled, "fill=%s: filled marks" % fill)
            self.assertEqual([b["count"] for b in buckets], [1, 0, 1, 0], "fill=%s never fills count" % fill)
            for b, f in zip(buckets, filled):
                if f:
                    self.assertEqual(b["quality"], "uncertain", "fill=%s: a filled bucket is uncertain" % fill)
        buckets = self.aggregate("agg.ramp", *rng, ["mean"], fill="none")["series"][0]["buckets"]
        self.assertEqual([(b["t"], b["mean"]) for b in buckets], [(iso(T), 0), (iso(T + 30 * MIN), 10)], "fill=none")
        buckets = self.aggregate("agg.ramp", *rng, ["count"], fill="none")["series"][0]["buckets"]
        self.assertEqual([b["count"] for b in buckets], [1, 1], "fill=none with count only drops count 0")
        buckets = self.aggregate("agg.ramp", *rng, ["twa", "mean"], fill="none")["series"][0]["buckets"]
        self.assertEqual(len(buckets), 4, "fill=none keeps buckets where twa has a value")
        # previous and linear look outside the range.
        buckets = self.aggregate("agg.ramp", T + 35 * MIN, T + 50 * MIN, "15m", ["mean"], fill="previous")
        buckets = buckets["series"][0]["buckets"]
        self.assertEqual([(b["t"], b["mean"], b.get("filled")) for b in buckets],
                         [(iso(T + 30 * MIN), 10, True), (iso(T + 45 * MIN), 10, True)],
                         "fill=previous takes the last sample before the range")
        buckets = self.aggregate("agg.ramp", T + 5 * MIN, T + 25 * MIN, "5m", ["mean"], fill="linear")
        buckets = buckets["series"][0]["buckets"]
        for b, k in zip(buckets, range(1, 5)):
            self.assertClose(b["mean"], 10.0 * k / 6, "fill=linear between the samples around the range at %s" % b["t"])
        self.assertEqual(len(buckets), 4)
        buckets = self.aggregate("agg.ramp", T - 30 * MIN, T, "15m", ["mean"], fill="previous")["series"][0]["buckets"]
        self.assertEqual([b["mean"] for b in buckets], [None, None], "fill=previous with nothing before stays null")

    def test_aggregate_calendar_day_across_dst(self):
        berlin = zoneinfo.ZoneInfo("Europe/Berlin")
        days = [datetime.datetime(2024, 10, d, tzinfo=berlin) for d in (26, 27, 28, 29)]
        edges = [int(x.timestamp()) * NS for x in days]
        self.assertEqual([(b - a) // HOUR for a, b in zip(edges, edges[1:])], [24, 25, 24], "Python's own zone data")
        doc = self.ok(self.d, "/api/v1/aggregate", {"tag": "dst.flow", "start": "2024-10-26T00:00:00+02:00",
                                                    "end": "2024-10-29T00:00:00+01:00", "interval": "1d",
                                                    "tz": "Europe/Berlin", "fn": "count,integral,twa",
                                                    "integral_unit": "h"})
        self.assertEqual(doc["tz"], "Europe/Berlin")
        buckets = doc["series"][0]["buckets"]
        self.assertEqual([b["t"] for b in buckets], [iso(e) for e in edges[:3]], "local midnights as bucket names")
        self.assertEqual([b["t"] for b in buckets],
                         ["2024-10-25T22:00:00Z", "2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z"], "by hand")
        self.assertEqual([b["count"] for b in buckets], [24, 25, 24], "hourly samples per local day")
        self.assertEqual([b["integral"] for b in buckets], [48, 50, 48], "2 x hours of each day (integral_unit=h)")
        for b, lo, hi in zip(buckets, edges, edges[1:]):
            want = ref_bucket(DST, lo, hi)
            want["integral"] /= 3600
            self.assertBucket(b, want, ["count", "integral", "twa"], "dst.flow day %s" % b["t"])
        for interval, first, last in (("1w", datetime.datetime(2024, 10, 21), datetime.datetime(2024, 11, 4)),
                                      ("1mo", datetime.datetime(2024, 10, 1), datetime.datetime(2024, 12, 1))):
            edges = [first]
            while edges[-1] < last:
                e = edges[-1]
                edges.append(e + datetime.timedelta(days=7) if interval == "1w"
                             else e.replace(month=e.month + 1))
            edges = [int(e.replace(tzinfo=berlin).timestamp()) * NS for e in edges]
            doc = self.ok(self.d, "/api/v1/aggregate", {"tag": "dst.flow", "start": ep(edges[0]), "end": ep(edges[-1]),
                                                        "interval": interval, "tz": "Europe/Berlin", "fn": "count"})
            got = [(b["t"], b["count"]) for b in doc["series"][0]["buckets"]]
            want = [(iso(lo), sum(1 for t, v, q in DST if lo <= t < hi)) for lo, hi in zip(edges, edges[1:])]
            self.assertEqual(got, want, "dst.flow interval=%s tz=Europe/Berlin" % interval)
        utc = self.ok(self.d, "/api/v1/aggregate", {"tag": "dst.flow", "start": "2024-10-26T00:00:00Z",
                                                    "end": "2024-10-28T00:00:00Z", "interval": "1d", "fn": "count"})
        self.assertEqual([(b["t"], b["count"]) for b in utc["series"][0]["buckets"]],
                         [("2024-10-26T00:00:00Z", 24), ("2024-10-27T00:00:00Z", 24)], "1d in UTC")

    def test_aggregate_several_tags(self):
        doc = self.aggregate(None, T, T + HOUR, "30m", ["twa", "count"], match="agg.*")
        series = {s["tag"]: s["buckets"] for s in doc["series"]}
        self.assertEqual(set(series), {"agg.ramp", "agg.int", "agg.on", "agg.q"}, "match=agg.*")
        want = {"agg.ramp": (RAMP, True), "agg.int": (RAMP, False), "agg.on": (ONOFF, False), "agg.q": (QUAL, True)}
        for name, (samples, linear) in want.items():
            for k, b in enumerate(series[name]):
                lo = T + k * 30 * MIN
                self.assertBucket(b, ref_bucket(samples, lo, lo + 30 * MIN, linear=linear), ["twa", "count"],
                                  "match=agg.* %s bucket %d" % (name, k))
        doc = self.ok(self.d, "/api/v1/aggregate", [("tag", "agg.q"), ("tag", "agg.ramp"), ("tag", "agg.q"),
                                                    ("start", ep(T)), ("end", ep(T + HOUR)), ("interval", "1h")])
        self.assertEqual([s["tag"] for s in doc["series"]], ["agg.q", "agg.ramp"], "tag= order, no repeats")

    # -- trend ------------------------------------------------------------------------------------------------------
    def trend_expect(self, lo, hi):
        inb = [(t, v) for t, v, q in TREND if lo <= t < hi]
        if not inb:
            return {"count": 0, **{k: None for k in ("first", "first_t", "last", "last_t", "min", "min_t",
                                                      "max", "max_t")}}
        vmin = min(v for t, v in inb)
        vmax = max(v for t, v in inb)
        return {"count": len(inb), "first": inb[0][1], "first_t": iso(inb[0][0]), "last": inb[-1][1],
                "last_t": iso(inb[-1][0]), "min": vmin, "min_t": iso(next(t for t, v in inb if v == vmin)),
                "max": vmax, "max_t": iso(next(t for t, v in inb if v == vmax))}

    def test_trend(self):
        # (start, end, points, bucket width by hand): widths round up to a whole second, minute or hour and widen
        # until at most `points` epoch-aligned buckets cover the range (query/bucket.h, bucket_plan_trend).
        cases = [(T, T + 10 * MIN, 10, 60 * NS), (T, T + 10 * MIN, 3, 4 * MIN), (T, T + 10 * MIN, 1, 10 * MIN),
                 (T, T + 10 * MIN, 7, 2 * MIN), (T, T + 10 * MIN, 1000, 600 * NS // 1000), (T, T + 10 * MIN, 600, NS),
                 (T + 30 * NS, T + 630 * NS, 10, 2 * MIN), (T + 5 * NS, T + 25 * NS, 4, 5 * NS),
                 (T, T + 5 * HOUR, 4, 2 * HOUR)]
        wrong_quality = []
        for start, end, points, width in cases:
            what = "trend.t [%s, %s) points=%d" % (iso(start), iso(end), points)
            self.assertEqual(trend_width(start, end, points), width, "the model of %s" % what)
            doc = self.ok(self.d, "/api/v1/trend", {"tag": "trend.t", "start": ep(start), "end": ep(end),
                                                    "points": points})
            self.assertEqual(doc["bucket_ns"], width, "%s: bucket width" % what)
            buckets = doc["series"][0]["buckets"]
            names = list(range(start // width * width, end, width))
            self.assertLessEqual(len(buckets), points, what)
            self.assertEqual([b["t"] for b in buckets], [iso(t) for t in names], "%s: aligned bucket names" % what)
            for b, t in zip(buckets, names):
                lo, hi = max(t, start), min(t + width, end)
                want = self.trend_expect(lo, hi)
                self.assertEqual({key: b[key] for key in want}, want, "%s bucket [%s, %s)" % (what, iso(lo), iso(hi)))
                want_q = ref_bucket(TREND, lo, hi)["quality_samples"]     # a trend asks nothing time-weighted
                if b["quality"] != want_q:
                    wrong_quality.append("%s bucket %s: quality %s, expected %s"
                                         % (what, iso(lo), b["quality"], want_q))
        doc = self.ok(self.d, "/api/v1/trend", {"tag": "trend.t", "start": ep(T), "end": ep(T + 10 * MIN),
                                                "points": 10})
        buckets = doc["series"][0]["buckets"]
        self.assertEqual((buckets[2]["max"], buckets[2]["max_t"]), (1000, iso(T + 150 * NS)), "the spike is kept")
        self.assertEqual((buckets[3]["min"], buckets[3]["min_t"]), (-500, iso(T + 220 * NS)), "the dip is kept")
        self.assertEqual([b["count"] for b in buckets], [6] * 5 + [0] * 5, "empty buckets count 0")
        self.assertEqual({k: buckets[7][k] for k in ("first", "first_t", "last", "last_t", "min", "min_t", "max",
                                                     "max_t")}, dict.fromkeys(("first", "first_t", "last", "last_t",
                                                                                "min", "min_t", "max", "max_t")),
                         "an empty bucket is all nulls")
        one = self.ok(self.d, "/api/v1/trend", {"tag": "trend.t", "start": ep(T), "end": ep(T + 10 * MIN),
                                                "points": 1})["series"][0]["buckets"][0]
        self.assertEqual((one["max"], one["min"], one["count"]), (1000, -500, 30), "points=1")
        for mode, count in ((None, 2), ("all", 3), ("good", 1)):
            params = {"tag": "agg.q", "start": ep(T), "end": ep(T + HOUR), "points": 1}
            if mode:
                params["quality"] = mode
            b = self.ok(self.d, "/api/v1/trend", params)["series"][0]["buckets"][0]
            self.assertEqual(b["count"], count, "trend of agg.q, quality=%s" % mode)
        doc = self.ok(self.d, "/api/v1/trend", {"tag": "trend.t", "start": ep(T), "end": ep(T + 10 * MIN),
                                                "points": 2, "time_format": "s"})
        self.assertEqual([b["t"] for b in doc["series"][0]["buckets"]], [T // NS, T // NS + 300], "time_format=s")
        self.assertEqual(wrong_quality[:20], [], "bucket quality (agg.h: of the bucket's samples alone)")

    # -- interpolated -----------------------------------------------------------------------------------------------
    def interp(self, tag, params):
        doc = self.ok(self.d, "/api/v1/interpolated", [("tag", tag)] + list(params))
        self.assertEqual(len(doc["series"]), 1)
        return doc["series"][0]

    def test_interpolated(self):
        s = self.interp("ip.x", {"start": ep(T - 10 * MIN), "end": ep(T + 40 * MIN), "interval": "10m"}.items())
        self.assertEqual(s["interpolation"], "linear")
        times = [T + k * 10 * MIN for k in range(-1, 4)]
        self.assertEqual([v["t"] for v in s["values"]], [iso(t) for t in times], "interval times in [start, end)")
        for v, t in zip(s["values"], times):
            want_v, want_q = ref_interp(RAMP, t)
            self.assertClose(v["v"], want_v, "ip.x at %s" % iso(t))
            self.assertEqual(v["quality"], want_q, "ip.x quality at %s" % iso(t))
        self.assertEqual((s["values"][0]["v"], s["values"][0]["quality"]), (None, "bad"), "before the first sample")
        self.assertClose(s["values"][2]["v"], 10 / 3, "1/3 of the way, by hand")
        ats = [T + 15 * MIN, T + 5 * MIN, T + 30 * MIN, T + 45 * MIN]
        s = self.interp("ip.x", [("at", ep(t)) for t in ats])
        self.assertEqual([v["t"] for v in s["values"]], [iso(t) for t in sorted(ats)], "at= times, sorted")
        for v, t in zip(s["values"], sorted(ats)):
            self.assertClose(v["v"], ref_interp(RAMP, t)[0], "at=%s" % iso(t))
        self.assertEqual([v["v"] for v in s["values"]][1], 5, "halfway, by hand")
        s = self.interp("ip.x", [("at", ep(t)) for t in ats] + [("interpolation", "step")])
        self.assertEqual((s["interpolation"], [v["v"] for v in s["values"]]), ("step", [0, 0, 10, 10]),
                         "interpolation=step")
        s = self.interp("ip.int", [("at", ep(T + 15 * MIN))])
        self.assertEqual((s["interpolation"], s["values"][0]["v"]), ("step", 0), "integer: step by default")
        s = self.interp("ip.on", [("at", ep(T + 15 * MIN)), ("at", ep(T + 45 * MIN)), ("interpolation", "linear")])
        self.assertEqual([v["v"] for v in s["values"]], [True, False], "boolean: step, booleans out")
        s = self.interp("ip.x", [("at", "now+1h")])
        self.assertEqual((s["values"][0]["v"], s["values"][0]["quality"]), (None, "bad"), "no signal in the future")
        s = self.interp("agg.q", [("at", ep(T + 5 * MIN)), ("at", ep(T + 15 * MIN)), ("at", ep(T + 25 * MIN))])
        self.assertEqual([(v["v"], v["quality"]) for v in s["values"]],
                         [ref_interp(QUAL, T + k * MIN) for k in (5, 15, 25)], "agg.q: bad governs, uncertain")
        self.assertEqual([v["quality"] for v in s["values"]], ["good", "bad", "uncertain"], "by hand")
        s = self.interp("agg.q", [("at", ep(T + 15 * MIN)), ("quality", "all")])
        self.assertClose(s["values"][0]["v"], ref_interp(QUAL, T + 15 * MIN, mode="all")[0], "quality=all")
        doc = self.ok(self.d, "/api/v1/interpolated", [("match", "ip.*"), ("at", ep(T + 15 * MIN))])
        self.assertEqual({x["tag"] for x in doc["series"]}, {"ip.x", "ip.stale", "ip.int", "ip.on"}, "match=ip.*")

    def test_interpolated_many_at_times(self):
        # 1,000 at= times (a 15 KB query string) are far below max_points: the daemon answers them, or refuses the
        # request line at once; it must not leave the client waiting.
        ats = [T + k * NS for k in range(1000)]
        params = [("tag", "ip.x")] + [("at", "%ds" % (t // NS)) for t in ats]
        what = "GET /api/v1/interpolated?tag=ip.x&at=... (%d at= times, %d bytes)" % (len(ats), len(url("", params)))
        try:
            _, status, _, body = self.call(self.d, "GET", "/api/v1/interpolated", params, timeout=5)
        except OSError as e:
            self.fail("%s: no answer within 5 s (%s)" % (what, e))
        self.assertIn(status, (200, 414), "%s: %r" % (what, body[:300]))
        if status == 200:
            values = json.loads(body)["series"][0]["values"]
            self.assertEqual(len(values), len(ats), what)
            for v, t in zip(values, ats):
                self.assertClose(v["v"], ref_interp(RAMP, t)[0], "%s at %s" % (what, iso(t)))
        self.assertEqual(self.ok(self.d, "/health")["status"], "ok")

    def test_interpolated_stale_timeout(self):
        what, status, _, body = self.call(self.d, "PATCH", tag_path("ip.stale"), body=b'{"stale_timeout": "20m"}')
        self.assertEqual(status, 200, "%s: %r" % (what, body))
        self.assertEqual(json.loads(body)["stale_timeout_ns"], 20 * MIN)
        ats = [T + k * MIN for k in (0, 10, 19, 25, 30, 45, 55)]
        s = self.interp("ip.stale", [("at", ep(t)) for t in ats])
        got = [(v["v"], v["quality"]) for v in s["values"]]
        self.assertEqual(got, [ref_interp(RAMP, t, stale=20 * MIN) for t in ats], "stale_timeout=20m")
        self.assertEqual(got, [(0, "good"), (0, "good"), (0, "good"), (None, "bad"), (10, "good"), (10, "good"),
                               (None, "bad")], "by hand: samples 30 min apart are not joined, and go stale")
        doc = self.aggregate("ip.stale", T, T + HOUR, "1h", ["twa", "integral", "percent_good"])
        b = doc["series"][0]["buckets"][0]
        self.assertBucket(b, ref_bucket(RAMP, T, T + HOUR, stale=20 * MIN), ["twa", "integral", "percent_good"],
                          "aggregate of ip.stale")
        self.assertEqual((b["twa"], b["integral"]), (5, 12000), "by hand: 20 min at 0, 20 min at 10")
        self.assertClose(b["percent_good"], 200 / 3, "by hand: 40 of 60 min governed")

    # -- export -----------------------------------------------------------------------------------------------------
    def export(self, params, headers=None):
        what, status, hdrs, body = self.call(self.d, "GET", "/api/v1/export", params, headers=headers)
        self.assertEqual(status, 200, "%s: %r" % (what, body[:500]))
        return what, hdrs, body

    def export_params(self, **extra):
        tags = [("tag", name) for name in EXPORT_ORDER]
        return tags + [("start", ep(T)), ("end", ep(T + HOUR))] + list(extra.items())

    def test_export_csv(self):
        what, hdrs, body = self.export(self.export_params())
        self.assertEqual(hdrs["content-type"], "text/csv; charset=utf-8", what)
        self.assertNotIn("content-encoding", hdrs, what)
        self.assertIn("attachment", hdrs.get("content-disposition", ""), what)
        self.assertTrue(body.startswith(b"tag,time,value,quality\r\n"), "%s: header: %r" % (what, body[:60]))
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
        want = [["tag", "time", "value", "quality"]]
        for name in EXPORT_ORDER:
            want += [[tag, iso(t), text, "0"] for tag, t, _, text, _ in sorted(EXPORT, key=lambda e: e[1])
                     if tag == name]
        self.assertEqual(rows, want, "%s: long CSV, tags in tag= order, then time" % what)
        what, hdrs, body = self.export(self.export_params(layout="wide", time_format="ns"))
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
        times = sorted({e[1] for e in EXPORT})
        want = [["time"] + EXPORT_ORDER]
        for t in times:
            cell = {tag: text for tag, tt, _, text, _ in EXPORT if tt == t}
            want.append([str(t)] + [cell.get(name, "") for name in EXPORT_ORDER])
        self.assertEqual(rows, want, "%s: wide CSV, one row per time, blanks where a tag has none" % what)
        what, hdrs, body = self.export([("tag", "exp.a"), ("start", ep(T + 10 * MIN)), ("end", ep(T + HOUR))])
        self.assertEqual(body, b"tag,time,value,quality\r\n", "%s: an empty range is the header alone" % what)

    def test_export_jsonl(self):
        what, hdrs, body = self.export(self.export_params(format="jsonl"))
        self.assertEqual(hdrs["content-type"], "application/x-ndjson", what)
        lines = body.decode().splitlines()
        want = []
        for name in EXPORT_ORDER:
            want += [{"tag": tag, "t": iso(t), "v": v, "q": 0} for tag, t, _, _, v in sorted(EXPORT, key=lambda e: e[1])
                     if tag == name]
        self.assertEqual([json.loads(x) for x in lines], want, "%s: JSON lines, long" % what)
        what, hdrs, body = self.export(self.export_params(format="jsonl", layout="wide", time_format="ms"))
        times = sorted({e[1] for e in EXPORT})
        want = [dict({"t": t // 1000000}, **{tag: v for tag, tt, _, _, v in EXPORT if tt == t}) for t in times]
        self.assertEqual([json.loads(x) for x in body.decode().splitlines()], want, "%s: JSON lines, wide" % what)
        self.assertIs(json.loads(body.decode().splitlines()[1])["exp.b"], True)

    def test_export_gzip(self):
        _, _, plain = self.export(self.export_params())
        for extra, headers, gz in (({"compress": "gzip"}, None, True),
                                   ({}, {"Accept-Encoding": "gzip, deflate"}, True),
                                   ({"compress": "none"}, {"Accept-Encoding": "gzip"}, False),
                                   ({}, {"Accept-Encoding": "identity"}, False),
                                   ({}, {"Accept-Encoding": "br, GZIP"}, True),
                                   ({}, {"Accept-Encoding": "gzip;q=0.5"}, True),
                                   ({}, {"Accept-Encoding": "*"}, True),
                                   ({}, {"Accept-Encoding": "gzip;q=0, identity"}, False),   # q=0: not acceptable
                                   ({}, {"Accept-Encoding": "*;q=0"}, False),
                                   ({}, {"Accept-Encoding": "x-gzip2, gzipper"}, False)):
            what, hdrs, body = self.export(self.export_params(**extra), headers=headers)
            what += " %s" % headers
            self.assertEqual(hdrs["content-type"], "text/csv; charset=utf-8", what)
            if gz:
                self.assertEqual(hdrs.get("content-encoding"), "gzip", what)
                self.assertEqual(body[:2], b"\x1f\x8b", what)
                self.assertEqual(gzip.decompress(body), plain, "%s: inflates to the plain export" % what)
            else:
                self.assertNotIn("content-encoding", hdrs, what)
                self.assertEqual(body, plain, what)
        what, hdrs, body = self.export(self.export_params(format="jsonl", compress="gzip"))
        self.assertEqual((hdrs["content-type"], hdrs.get("content-encoding")), ("application/x-ndjson", "gzip"), what)
        self.assertEqual(len(gzip.decompress(body).decode().splitlines()), len(EXPORT), what)

    # -- errors -----------------------------------------------------------------------------------------------------
    def test_bad_parameters(self):
        d = self.d
        rng = {"start": ep(T), "end": ep(T + HOUR)}
        raw = dict(rng, tag="raw.r")
        agg = dict(rng, tag="agg.ramp", interval="15m")
        cases = [
            ("/api/v1/raw", rng, "tag"),
            ("/api/v1/raw", dict(rng, tag=""), "tag"),
            ("/api/v1/current", {}, "tag"),
            ("/api/v1/aggregate", dict(rng, interval="1h"), "tag"),
            ("/api/v1/trend", rng, "tag"),
            ("/api/v1/interpolated", dict(rng, interval="1m"), "tag"),
            ("/api/v1/export", rng, "tag"),
            ("/api/v1/raw", dict(raw, match=""), "match"),
            ("/api/v1/raw", dict(raw, start="yesterday-ish"), "start"),
            ("/api/v1/raw", dict(raw, start="1709251200"), "start"),
            ("/api/v1/aggregate", dict(agg, start="2024-13-01T00:00:00Z"), "start"),
            ("/api/v1/raw", dict(raw, end="soon"), "end"),
            ("/api/v1/export", dict(raw, end="2024-03-01T25:00:00Z"), "end"),
            ("/api/v1/raw", dict(raw, start=ep(T + HOUR), end=ep(T)), "start"),
            ("/api/v1/aggregate", dict(agg, start=ep(T), end=ep(T)), "start"),
            ("/api/v1/trend", {"tag": "trend.t", "start": ep(T + 1), "end": ep(T)}, "start"),
            ("/api/v1/export", {"tag": "exp.a", "start": ep(T), "end": ep(T)}, "start"),
            ("/api/v1/aggregate", dict(rng, tag="agg.ramp"), "interval"),
            ("/api/v1/aggregate", dict(agg, interval="0s"), "interval"),
            ("/api/v1/aggregate", dict(agg, interval="fast"), "interval"),
            ("/api/v1/aggregate", dict(agg, interval="-1m"), "interval"),
            ("/api/v1/aggregate", dict(agg, interval="1.5h"), "interval"),
            ("/api/v1/interpolated", dict(rng, tag="ip.x"), "interval"),
            ("/api/v1/interpolated", dict(rng, tag="ip.x", interval="0s"), "interval"),
            ("/api/v1/aggregate", dict(agg, fn="median"), "fn"),
            ("/api/v1/aggregate", dict(agg, fn=""), "fn"),
            ("/api/v1/aggregate", dict(agg, fn="twa,,min"), "fn"),
            ("/api/v1/aggregate", dict(agg, fn="TWA"), "fn"),
            ("/api/v1/aggregate", dict(agg, fill="sideways"), "fill"),
            ("/api/v1/aggregate", dict(agg, fill="nan"), "fill"),
            ("/api/v1/aggregate", dict(agg, fill="1e999"), "fill"),
            ("/api/v1/aggregate", dict(agg, fill=""), "fill"),
            ("/api/v1/trend", dict(rng, tag="trend.t", points="0"), "points"),
            ("/api/v1/trend", dict(rng, tag="trend.t", points="-5"), "points"),
            ("/api/v1/trend", dict(rng, tag="trend.t", points="ten"), "points"),
            ("/api/v1/trend", dict(rng, tag="trend.t", points="1000001"), "points"),
            ("/api/v1/raw", dict(raw, limit="0"), "limit"),
            ("/api/v1/raw", dict(raw, limit="many"), "limit"),
            ("/api/v1/raw", dict(raw, limit="1000001"), "limit"),
            ("/api/v1/raw", dict(raw, limit="-1"), "limit"),
            ("/api/v1/tags", {"limit": "0"}, "limit"),
            ("/api/v1/tags", {"limit": "10001"}, "limit"),
            ("/api/v1/tags", {"after": "-1"}, "after"),
            ("/api/v1/tags", {"after": "x"}, "after"),
            ("/api/v1/raw", dict(raw, order="up"), "order"),
            ("/api/v1/raw", dict(raw, cursor="zzz"), "cursor"),
            ("/api/v1/raw", dict(raw, cursor="a"), "cursor"),
            ("/api/v1/raw", dict(raw, cursor="a12x"), "cursor"),
            ("/api/v1/raw", dict(raw, cursor="d%d" % T), "cursor"),
            ("/api/v1/raw", dict(raw, cursor="a%d" % T, order="desc"), "cursor"),
            ("/api/v1/raw", [("tag", "raw.r"), ("tag", "raw.p"), ("cursor", "a%d" % T)], "cursor"),
            ("/api/v1/raw", dict(raw, bounds="maybe"), "bounds"),
            ("/api/v1/aggregate", dict(agg, quality="great"), "quality"),
            ("/api/v1/trend", dict(rng, tag="trend.t", quality="bad"), "quality"),
            ("/api/v1/interpolated", dict(rng, tag="ip.x", interval="1m", quality=""), "quality"),
            ("/api/v1/raw", dict(raw, time_format="minutes"), "time_format"),
            ("/api/v1/export", dict(raw, time_format="RFC3339"), "time_format"),
            ("/api/v1/current", {"tag": "cur.a", "time_format": "h"}, "time_format"),
            ("/api/v1/aggregate", dict(agg, tz="Mars/Olympus_Mons"), "tz"),
            ("/api/v1/aggregate", dict(agg, tz="../../etc/passwd"), "tz"),
            ("/api/v1/raw", dict(raw, tz="/etc/localtime"), "tz"),
            ("/api/v1/interpolated", {"tag": "ip.x", "at": "half past nine"}, "at"),
            ("/api/v1/interpolated", {"tag": "ip.x", "at": ""}, "at"),
            ("/api/v1/interpolated", [("tag", "ip.x"), ("at", ep(T)), ("at", "later")], "at"),
            ("/api/v1/tags", {"label": "novalue"}, "label"),
            ("/api/v1/tags", {"label": "=x"}, "label"),
            ("/api/v1/tags", {"label": "k="}, "label"),
            ("/api/v1/tags", [("label", "a=%d" % i) for i in range(9)], "label"),
            ("/api/v1/raw", dict(rng, label="area"), "label"),
            ("/api/v1/aggregate", dict(agg, integral_unit="min"), "integral_unit"),
            ("/api/v1/aggregate", dict(agg, interpolation="cubic"), "interpolation"),
            ("/api/v1/interpolated", {"tag": "ip.x", "at": ep(T), "interpolation": "spline"}, "interpolation"),
            ("/api/v1/export", dict(raw, format="xml"), "format"),
            ("/api/v1/export", dict(raw, layout="tall"), "layout"),
            ("/api/v1/export", dict(raw, compress="br"), "compress"),
            # A parameter the endpoint does not take (a typo, or one of another endpoint) is named too.
            ("/api/v1/raw", dict(raw, limt="5"), "limt"),
            ("/api/v1/raw", dict(raw, fn="twa"), "fn"),
            ("/api/v1/current", {"tag": "cur.a", "start": ep(T)}, "start"),
            ("/api/v1/tags", {"match": "plant*", "tag": "x"}, "tag"),
            ("/api/v1/aggregate", dict(agg, points="10"), "points"),
        ]
        for path, params, name in cases:
            with self.subTest(request=url(path, params)):
                self.bad(d, path, params, name)

    def test_not_found_and_wrong_types(self):
        d = self.d
        rng = {"start": ep(T), "end": ep(T + HOUR)}
        for path, extra in (("/api/v1/raw", rng), ("/api/v1/current", {}),
                            ("/api/v1/aggregate", dict(rng, interval="1h")), ("/api/v1/trend", rng),
                            ("/api/v1/interpolated", dict(rng, interval="1h")), ("/api/v1/export", rng)):
            with self.subTest(path=path):
                self.error(d, path, dict(extra, tag="no.such.tag"), 404, "unknown_tag", "tag")
                self.error(d, path, dict(extra, match="zzz*"), 404, "no_match")
                self.error(d, path, dict(extra, label="area=atlantis"), 404, "no_match")
        self.error(d, "/api/v1/raw", [("tag", "raw.r"), ("tag", "nope")] + list(rng.items()), 404, "unknown_tag", "tag")
        self.error(d, tag_path("no.such.tag"), (), 404, "unknown_tag")
        self.error(d, "/api/v1/nothing", (), 404, "not_found")
        # A string tag named by tag= is an error; one a selector matched is skipped, and the answer says so.
        for path, extra in (("/api/v1/aggregate", {"interval": "1h"}), ("/api/v1/trend", {"points": 1}),
                            ("/api/v1/interpolated", {"interval": "1h"})):
            with self.subTest(path=path, tag="aggs.str"):
                self.bad(d, path, dict(rng, tag="aggs.str", **extra), "tag")
                self.bad(d, path, [("tag", "agg.ramp"), ("tag", "aggs.str")] + list(dict(rng, **extra).items()), "tag")
                self.bad(d, path, dict(rng, match="aggs.*", **extra), "match")
                doc = self.ok(d, path, dict(rng, match="agg*", **extra))
                self.assertEqual(doc.get("skipped"), ["aggs.str"], "%s match=agg*: skipped" % path)
                self.assertEqual({x["tag"] for x in doc["series"]}, {"agg.ramp", "agg.int", "agg.on", "agg.q"},
                                 "%s match=agg*: the numeric tags" % path)
                doc = self.ok(d, path, dict(rng, match="agg.*", **extra))
                self.assertNotIn("skipped", doc, "%s match=agg.*: nothing skipped" % path)
        # Strings are fine where no arithmetic is needed.
        self.assertEqual(self.raw(rng, tag="aggs.str")["samples"][0]["v"], "a")
        self.assertEqual(self.ok(d, "/api/v1/current", {"tag": "aggs.str"})["values"][0]["v"], "a")

    def test_too_many_points(self):
        d = self.d
        month = {"start": "2024-03-01T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
        for path, params in (
                ("/api/v1/aggregate", dict(month, tag="agg.ramp", interval="1s")),
                ("/api/v1/aggregate", [("match", "agg.*"), ("interval", "10s")] + list(month.items())),
                ("/api/v1/raw", [("tag", "raw.r"), ("tag", "raw.p"), ("limit", "600000")] + list(month.items())),
                ("/api/v1/interpolated", dict(month, tag="ip.x", interval="1s")),
                ("/api/v1/trend", [("tag", "trend.t"), ("tag", "raw.r"), ("points", "1000000")] + list(month.items()))):
            with self.subTest(request=url(path, params)):
                self.error(d, path, params, 422, "too_many_points")
        # At the limit: a raw limit of max_points for one tag is allowed.
        self.ok(d, "/api/v1/raw", {"tag": "raw.r", "limit": "1000000", "start": ep(T), "end": ep(T + HOUR)})

    def test_wrong_method(self):
        d = self.d
        for method, path, allow in (("POST", "/api/v1/raw?tag=raw.r", "GET, HEAD"),
                                    ("POST", "/api/v1/aggregate", "GET, HEAD"),
                                    ("PUT", "/api/v1/current", "GET, HEAD"),
                                    ("DELETE", "/api/v1/trend", "GET, HEAD"),
                                    ("POST", "/api/v1/interpolated", "GET, HEAD"),
                                    ("POST", "/api/v1/export", "GET, HEAD"),
                                    ("PATCH", "/api/v1/tags", "GET, HEAD"),
                                    ("DELETE", tag_path("raw.r"), "GET, HEAD, PATCH"),
                                    ("POST", tag_path("raw.r"), "GET, HEAD, PATCH")):
            with self.subTest(request="%s %s" % (method, path)):
                _, status, headers, body = self.call(d, method, path, body=b"{}")
                self.assertEqual(status, 405, "%s %s: %r" % (method, path, body))
                self.assertEqual(json.loads(body)["error"]["code"], "method_not_allowed")
                self.assertEqual(headers.get("allow"), allow, "%s %s: Allow" % (method, path))


class QueryApiSealed(QueryApi):
    """Every QueryApi test again, with the first write sealed into chunks before the out-of-order writes."""
    SEAL = True


class QueryLimits(ApiTest):
    """A daemon with small [query] limits and 300,000 samples of one tag (big.v = i at BIG_T + i s)."""
    N = 300_000
    BIG_T = 1704067200 * NS        # 2024-01-01T00:00:00Z
    CONFIG = "[query]\nmax_response_size = 64KiB\nmax_tags = 3\n"

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(config=cls.CONFIG)
        cls.d.start()
        try:
            lines = "".join("lim %s=1 %d\n" % (f, cls.BIG_T) for f in "abcd")
            status, _, body = cls.d.request("POST", "/write", body=lines.encode())
            assert status == 204, body
            for k in range(0, cls.N, 50_000):
                body = "".join("big v=%d %d\n" % (i, cls.BIG_T + i * NS) for i in range(k, k + 50_000))
                status, _, resp = cls.d.request("POST", "/write", body=body.encode(), timeout=60)
                assert status == 204, resp
        except BaseException:
            cls.d.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def big_range(self, **extra):
        return dict({"tag": "big.v", "start": ep(self.BIG_T), "end": ep(self.BIG_T + self.N * NS)}, **extra)

    def big_get(self, params, headers=None):
        what, status, hdrs, body = self.call(self.d, "GET", "/api/v1/export", params, headers=headers, timeout=60)
        self.assertEqual(status, 200, "%s: %r" % (what, body[:500]))
        return what, hdrs, body

    def test_too_many_tags(self):
        d = self.d
        rng = [("start", ep(self.BIG_T)), ("end", ep(self.BIG_T + HOUR))]
        four = [("tag", "lim.%s" % f) for f in "abcd"]
        for path, extra in (("/api/v1/current", []), ("/api/v1/raw", rng),
                            ("/api/v1/aggregate", rng + [("interval", "1h")]),
                            ("/api/v1/trend", rng + [("points", "10")]),
                            ("/api/v1/interpolated", rng + [("interval", "1h")]), ("/api/v1/export", rng)):
            with self.subTest(path=path):
                self.error(d, path, [("match", "lim.*")] + extra, 422, "too_many_tags", "tag")
                self.error(d, path, four + extra, 422, "too_many_tags", "tag")
                self.error(d, path, [("tag", "lim.a"), ("match", "lim.[bcd]")] + extra, 422, "too_many_tags", "tag")
                what, status, _, body = self.call(d, "GET", path, four[:3] + extra)
                self.assertEqual(status, 200, "%s: max_tags tags are fine: %r" % (what, body[:300]))
        doc = self.ok(d, "/api/v1/current", [("tag", "lim.a")] * 5 + [("match", "lim.[ab]")])
        self.assertEqual([v["tag"] for v in doc["values"]], ["lim.a", "lim.b"], "repeats count once")
        doc = self.ok(d, "/api/v1/tags", {"match": "lim.*"})
        self.assertEqual(len(doc["tags"]), 4, "listing tags is paged, not limited by max_tags")

    def test_response_too_large(self):
        d = self.d
        self.error(d, "/api/v1/raw", self.big_range(limit=self.N), 422, "response_too_large")
        self.error(d, "/api/v1/raw", self.big_range(), 422, "response_too_large")     # default limit 10,000
        self.error(d, "/api/v1/aggregate", self.big_range(interval="1s", fn="twa,count"), 422, "response_too_large")
        self.error(d, "/api/v1/trend", self.big_range(points=100000), 422, "response_too_large")
        self.error(d, "/api/v1/interpolated", self.big_range(interval="1s"), 422, "response_too_large")
        doc = self.ok(d, "/api/v1/raw", self.big_range(limit=100, time_format="ns"))
        self.assertEqual([(s["t"], s["v"]) for s in doc["series"][0]["samples"]],
                         [(self.BIG_T + i * NS, i) for i in range(100)], "a small page still fits")
        doc = self.ok(d, "/api/v1/aggregate", self.big_range(interval="1h", fn="count"))
        self.assertEqual(sum(b["count"] for b in doc["series"][0]["buckets"]), self.N, "the aggregate fits")

    def check_csv(self, text, what):
        rows = text.split("\r\n")
        self.assertEqual(rows[-1], "", "%s: ends with CRLF" % what)
        rows = rows[:-1]
        self.assertEqual(rows[0], "tag,time,value,quality", what)
        self.assertEqual(len(rows) - 1, self.N, "%s: one row per sample" % what)
        self.assertEqual(rows[1], "big.v,2024-01-01T00:00:00Z,0,0", "%s: first row" % what)
        self.assertEqual(rows[-1], "big.v,%s,%d,0" % (iso(self.BIG_T + (self.N - 1) * NS), self.N - 1),
                         "%s: last row" % what)
        self.assertEqual(rows[-1], "big.v,2024-01-04T11:19:59Z,299999,0", "%s: last row, by hand" % what)
        values = [r.rsplit(",", 2)[1] for r in rows[1:]]
        bad = next((i for i, v in enumerate(values) if v != str(i)), None)
        self.assertIsNone(bad, "%s: row %s holds %r" % (what, bad, None if bad is None else rows[bad + 1]))
        for i in range(0, self.N, 9973):
            self.assertEqual(rows[i + 1], "big.v,%s,%d,0" % (iso(self.BIG_T + i * NS), i), "%s: row %d" % (what, i))

    def test_export_streams_past_max_response_size(self):
        self.error(self.d, "/api/v1/raw", self.big_range(limit=self.N), 422, "response_too_large")
        what, hdrs, plain = self.big_get(self.big_range())
        self.assertEqual(hdrs.get("transfer-encoding"), "chunked", "%s: streamed" % what)
        self.assertNotIn("content-encoding", hdrs, what)
        self.assertGreater(len(plain), 100 * 64 * 1024, "%s: far past max_response_size" % what)
        self.check_csv(plain.decode(), what)
        # A client that goes away mid-stream costs the daemon nothing.
        host, port = self.d.http_addr
        for _ in range(3):
            conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request("GET", url("/api/v1/export", self.big_range()))
            resp = conn.getresponse()
            self.assertEqual((resp.status, len(resp.read(200000))), (200, 200000), "the start of an export")
            conn.sock.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.assertEqual(self.ok(self.d, "/health")["status"], "ok", "after 3 abandoned exports")
        what, hdrs, packed = self.big_get(self.big_range(compress="gzip"))
        self.assertEqual(hdrs.get("content-encoding"), "gzip", what)
        self.assertLess(len(packed), len(plain), what)
        self.assertEqual(gzip.decompress(packed), plain, "%s: inflates to the plain export" % what)
        what, hdrs, packed = self.big_get(self.big_range(format="jsonl", time_format="ns"),
                                          headers={"Accept-Encoding": "gzip"})
        self.assertEqual((hdrs.get("content-encoding"), hdrs["content-type"]), ("gzip", "application/x-ndjson"), what)
        lines = gzip.decompress(packed).decode().splitlines()
        self.assertEqual(len(lines), self.N, "%s: one line per sample" % what)
        want = ['{"tag":"big.v","t":%d,"v":%d,"q":0}' % (self.BIG_T + i * NS, i) for i in range(self.N)]
        if lines != want:
            i = next(i for i, (a, b) in enumerate(zip(lines, want)) if a != b)
            self.fail("%s: line %d is %r, expected %r" % (what, i, lines[i], want[i]))
        what, hdrs, body = self.big_get(self.big_range(layout="wide", time_format="s"))
        rows = body.decode().split("\r\n")[:-1]
        last = "%d,%d" % (self.BIG_T // NS + self.N - 1, self.N - 1)
        self.assertEqual((rows[0], rows[1], rows[-1], len(rows)),
                         ("time,big.v", "%d,0" % (self.BIG_T // NS), last, self.N + 1), "%s: wide" % what)

    def test_aggregate_and_export_survive_compaction(self):
        d = self.d
        samples = [(self.BIG_T + i * NS, float(i), 0) for i in range(self.N)]
        end = self.BIG_T + self.N * NS
        fns = ["twa", "mean", "min", "max", "count", "sum", "first", "last", "delta", "range", "integral",
               "percent_good"]

        widths = (("1h", HOUR), ("1d", 24 * HOUR))
        refs = {interval: [ref_bucket(samples, lo, min(lo + width, end)) for lo in range(self.BIG_T, end, width)]
                for interval, width in widths}

        def check(stage):
            for interval, width in widths:
                for f in (fns, ["stddev", "count"]):
                    doc = self.ok(d, "/api/v1/aggregate", self.big_range(interval=interval, fn=",".join(f)))
                    buckets = doc["series"][0]["buckets"]
                    self.assertEqual(len(buckets), len(refs[interval]), "%s %s: buckets" % (stage, interval))
                    for k, (b, want) in enumerate(zip(buckets, refs[interval])):
                        self.assertEqual(b["t"], iso(self.BIG_T + k * width))
                        self.assertBucket(b, want, f, "%s: big.v interval=%s fn=%s bucket %s"
                                          % (stage, interval, ",".join(f), b["t"]))
            part = self.big_range(interval="1d", fn="twa", start=ep(self.BIG_T + 1800 * NS),
                                  end=ep(self.BIG_T + 90000 * NS))
            b = self.ok(d, "/api/v1/aggregate", part)["series"][0]["buckets"]
            self.assertEqual(len(b), 2)
            self.assertClose(b[0]["twa"], (1800 + 86400) / 2, "%s: twa of a partial day, by hand" % stage)
            cur = self.ok(d, "/api/v1/current", {"tag": "big.v"})["values"][0]
            self.assertEqual((cur["t"], cur["v"]), (iso(end - NS), self.N - 1), "%s: current" % stage)
            detail = self.ok(d, tag_path("big.v"))
            self.assertEqual((detail["first"], detail["last"]), (iso(self.BIG_T), iso(end - NS)), stage)
            s = self.ok(d, "/api/v1/raw", self.big_range(start=ep(self.BIG_T + 86395 * NS),
                                                         end=ep(self.BIG_T + 86405 * NS), bounds="true"))["series"][0]
            self.assertEqual([x["v"] for x in s["samples"]], list(range(86395, 86405)),
                             "%s: raw across midnight" % stage)
            self.assertEqual((s["before"]["v"], s["after"]["v"]), (86394, 86405), "%s: bounds" % stage)
            pages, cursor, got = 0, None, []
            while True:
                p = self.big_range(start=ep(self.BIG_T + 86000 * NS), end=ep(self.BIG_T + 87000 * NS), limit=300,
                                   order="desc")
                if cursor:
                    p["cursor"] = cursor
                s = self.ok(d, "/api/v1/raw", p)["series"][0]
                got += [x["v"] for x in s["samples"]]
                cursor, pages = s["next"], pages + 1
                if not cursor or pages > 10:
                    break
            self.assertEqual(got, list(range(86999, 85999, -1)), "%s: desc pages across midnight" % stage)
            return self.big_get(self.big_range())[2]

        before = check("before compaction")
        what, status, _, body = self.call(d, "POST", "/api/v1/admin/compact", timeout=60)
        self.assertEqual(status, 200, "%s: %r" % (what, body))
        self.assertGreater(json.loads(body)["sealed_samples"], 0, what)
        self.assertEqual(self.ok(d, "/health")["head_samples"], 0, "everything sealed")
        after = check("after compaction")
        self.assertEqual(after, before, "the export is the same from sealed chunks")


if __name__ == "__main__":
    main()
