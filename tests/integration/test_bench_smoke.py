# test_bench_smoke.py: the storage and query benchmarks at a tiny size, so they keep building and running (figures are not
# judged here; docs/PERFORMANCE.md records real runs). Each must print its RESULT lines and check its own answers.
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILDDIR, SRCDIR, DaemonTest, main


def bench(mode, *args):
    """Run bench_store MODE TMPDIR ARGS... in a fresh directory."""
    tmp = tempfile.mkdtemp(prefix="hs-bench-")
    try:
        return subprocess.run([os.path.join(BUILDDIR, "bench", "bench_store"), mode, tmp, *args],
                              capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BenchSmoke(DaemonTest):
    def results(self, proc):
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return dict(re.findall(r"^RESULT (\S+) (\S+)", proc.stdout, re.M))

    def test_store_append_and_replay(self):
        r = self.results(bench("append", "50", "120", "2"))
        self.assertGreater(float(r["append_samples_per_s"]), 0)
        self.assertGreater(float(r["replay_samples_per_s"]), 0)

    def test_store_scan_checks_its_sums(self):
        proc = bench("scan", "2")
        r = self.results(proc)
        self.assertIn("scan_whole", r)
        m = re.search(r"scan sum (\S+), pre-aggregate sum (\S+)\)", proc.stdout)
        self.assertIsNotNone(m, proc.stdout)
        self.assertAlmostEqual(float(m.group(1)), float(m.group(2)), delta=abs(float(m.group(1))) * 1e-9)
        self.assertIn("for 172800 samples", proc.stdout)

    def test_store_tags(self):
        r = self.results(bench("tags", "2000"))
        self.assertIn("open_with_tags", r)

    def test_mqtt_load(self):
        """bench/mqtt-load against a real daemon at a tiny size: every QoS 1 message is acknowledged
        and stored."""
        d = self.daemon()
        host, port = d.addr["mqtt"].rsplit(":", 1)
        for qos in ("0", "1"):
            proc = subprocess.run([os.path.join(BUILDDIR, "bench", "mqtt-load"), "--host", host, "--port",
                                   port, "--connections", "3", "--messages", "500", "--qos", qos,
                                   "--topic", "smoke" + qos], capture_output=True, text=True,
                                  timeout=120)
            r = self.results(proc)
            self.assertGreater(float(r["mqtt_messages_per_s"]), 0)
            self.assertIn("1500 in", proc.stdout)
        for qos in ("0", "1"):
            for n in range(3):
                self.assertEqual(len(d.raw("smoke%s/%d" % (qos, n))["samples"]), 500)

    def test_peers_smoke(self):
        """bench/peers/run at a tiny size against real InfluxDB and VictoriaMetrics: it runs end
        to end, the three systems' answers agree (the script exits non-zero on a mismatch), and
        it writes its table and JSON."""
        tmp = tempfile.mkdtemp(prefix="hs-peers-")
        try:
            doc = os.path.join(tmp, "PERFORMANCE.md")
            with open(doc, "w") as f:
                f.write("# figures\n")
            out = os.path.join(tmp, "results.json")
            proc = subprocess.run([os.path.join(SRCDIR, "bench", "peers", "run"), "--build", BUILDDIR,
                                   "--smoke", "--out-json", out, "--write-doc", doc],
                                  capture_output=True, text=True, timeout=600)
            self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
            self.assertIn("cross-checked", proc.stdout)
            with open(out) as f:
                r = json.load(f)
            self.assertEqual(len(r["queries"]), 5)
            self.assertGreater(r["ingest"]["historian_4"], 0)
            with open(doc) as f:
                self.assertIn("| bytes per sample on disk |", f.read())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_query_on_two_days(self):
        """bench_query at 2 days instead of a year: every query runs, and the aggregate totals
        must agree with the signal it wrote (the program exits 1 otherwise)."""
        tmp = tempfile.mkdtemp(prefix="hs-bench-")
        try:
            exe = os.path.join(BUILDDIR, "bench", "bench_query")
            data = os.path.join(tmp, "data")
            self.results(subprocess.run([exe, "build", data, "2"], capture_output=True, text=True,
                                        timeout=300))
            proc = subprocess.run([exe, "run", data, "2"], capture_output=True, text=True, timeout=300)
            r = self.results(proc)
            for name in ("trend_1000_year", "twa_1h_year", "daily_mean_min_max_year_berlin", "raw_1h",
                         "current_1000_tags", "export_csv_year"):
                self.assertIn(name, r)
            self.assertIn("checked: 172800 samples", proc.stdout)
            self.assertIn("samples decoded 0", proc.stdout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
