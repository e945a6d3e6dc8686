# test_bench_smoke.py: the storage benchmarks at a tiny size, so they keep building and running (figures are not
# judged here; docs/PERFORMANCE.md records real runs). Each must print its RESULT lines and check its own answers.
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILDDIR, main


def bench(mode, *args):
    """Run bench_store MODE TMPDIR ARGS... in a fresh directory."""
    tmp = tempfile.mkdtemp(prefix="hs-bench-")
    try:
        return subprocess.run([os.path.join(BUILDDIR, "bench", "bench_store"), mode, tmp, *args],
                              capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BenchSmoke(unittest.TestCase):
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


if __name__ == "__main__":
    main()
