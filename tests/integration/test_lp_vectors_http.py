# test_lp_vectors_http.py: every record of the shared line-protocol vectors through POST /write, compared with what
# InfluxDB 1.x answered (vectors.jsonl, influx1): accepted vs refused, and how many samples a write stored.
# Differences are allowed only where docs/LINE_PROTOCOL.md and docs/INGEST.md say historian differs on purpose.
import base64
import json
import os
import unittest

from harness import DaemonTest, main

VECTORS = os.path.join(os.environ.get("HS_SHARED_DATA", ""), "line-protocol", "vectors.jsonl")
PRECISION = {"ns": "n", "us": "u", "ms": "ms", "s": "s", "m": "m", "h": "h"}

# Refusals of lines InfluxDB 1.x takes, each documented as deliberate.
DELIBERATE_REFUSALS = (
    "invalid UTF-8",                          # names and strings must be UTF-8
    "text after the closing quote of a string",
    "field key ends with a backslash",
    "missing field key",                      # empty field keys name no tag
    "too many labels", "too many fields",     # fixed-size line, no allocation
    "tag name longer than 1024 bytes",        # the catalog's name limit
    "invalid tag name",                       # empty, NUL or over 1024 bytes
    "unsigned value beyond the int64 range",  # stored as int64
    " holds ",                                # one namespace: a name keeps its first type
)


@unittest.skipUnless(os.path.exists(VECTORS), "HS_SHARED_DATA does not hold line-protocol/vectors.jsonl")
class VectorsOverHttp(DaemonTest):
    def test_every_record(self):
        d = self.daemon(config="[storage]\nwal_sync = off\n[http]\nmax_body_size = 64MiB\n")
        stats = {"same": 0, "deliberate": 0, "undefined": 0}
        mismatches = []
        with open(VECTORS) as f:
            records = [json.loads(line) for line in f]
        self.assertEqual(len(records), 6721)
        for rec in records:
            body = base64.b64decode(rec["input_b64"])
            status, _, resp = d.request(
                "POST", "/write?db=v&precision=" + PRECISION[rec["precision"]], body=body,
                headers={"Content-Type": "text/plain"})
            if rec.get("undefined") or rec["influx1"].get("undefined"):
                stats["undefined"] += 1  # InfluxDB itself crashes: only stay up
                continue
            why = self.compare(rec, status, resp)
            if why is None:
                stats["same"] += 1
            elif why == "deliberate":
                stats["deliberate"] += 1
            else:
                mismatches.append("%s: %s" % (rec["id"], why))
        print("test_lp_vectors_http: %(same)d same as InfluxDB 1.x, %(deliberate)d deliberate "
              "differences, %(undefined)d undefined in 1.x" % stats)
        self.maxDiff = None
        self.assertEqual(mismatches[:20], [], "%d records differ" % len(mismatches))
        self.assertEqual(d.json("/health")["status"], "ok")

    @staticmethod
    def compare(rec, status, resp):
        influx = rec["influx1"]
        fields = sum(len(p["fields"]) for p in influx.get("points", [])
                     if not any(fl[0] == "quality" for fl in p["fields"]))
        doc = json.loads(resp) if resp else {}
        err = doc.get("error", {})
        messages = [e["message"] for e in err.get("errors", [])]
        written = fields if status == 204 else err.get("written_samples", 0)
        if status not in (204, 400):
            return "HTTP %d: %s" % (status, resp[:200])
        if status == 204 and not influx["error"] and written == fields:
            return None
        if status == 400 and influx["error"] and written == fields:
            return None
        # We refused something 1.x took: only for a documented reason (the
        # other refusals of the write must be ones 1.x made too).
        if status == 400 and written < fields and any(
                any(r in m for r in DELIBERATE_REFUSALS) for m in messages):
            return "deliberate"
        # We took something 1.x refused: unsigned integers and CRLF.
        raw = base64.b64decode(rec["input_b64"])
        if influx["error"] and written >= fields and (b"u" in raw or b"\r" in raw):
            return "deliberate"
        return "HTTP %d, 1.x error=%s, 1.x fields %d, ours %d, %s" % (
            status, influx["error"], fields, written, messages[:3])


if __name__ == "__main__":
    main()
