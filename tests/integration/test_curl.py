# test_curl.py: the write endpoints driven by curl, the client plant engineers reach for first: plain and gzip
# writes, a partial write, an oversize body, a wrong content type, a wrong method and /ping.
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import DaemonTest, main

CURL = shutil.which("curl")


@unittest.skipIf(CURL is None, "curl is not installed (scripts/install-deps installs it)")
class Curl(DaemonTest):
    def curl(self, d, *args):
        """Run curl; returns (status code, body text)."""
        proc = subprocess.run([CURL, "-sS", "-o", "-", "-w", "\n%{http_code}", *args],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        body, _, code = proc.stdout.rpartition("\n")
        return int(code), body

    def raw_values(self, d, tag):
        return [s["v"] for s in d.raw(tag)["samples"]]

    def test_writes(self):
        d = self.daemon(config="[http]\nmax_body_size = 4KiB\n")
        url = d.url("/write?db=plant&precision=s")
        code, _ = self.curl(d, "-XPOST", url, "--data-binary", "pump,id=p1 speed=1450.5 1735689600")
        self.assertEqual(code, 204)
        fd, path = tempfile.mkstemp(suffix=".gz")
        with os.fdopen(fd, "wb") as f:
            f.write(gzip.compress(b"pump,id=p1 speed=1460.5 1735689601\n"))
        self.addCleanup(os.unlink, path)
        code, _ = self.curl(d, "-XPOST", url, "-H", "Content-Encoding: gzip", "--data-binary", "@" + path)
        self.assertEqual(code, 204)
        self.assertEqual(self.raw_values(d, "pump.speed,id=p1"), [1450.5, 1460.5])
        code, body = self.curl(d, "-XPOST", url, "--data-binary",
                               "pump,id=p1 speed=1470.5 1735689602\npump,id=p1 speed= 1735689603")
        self.assertEqual(code, 400)
        err = json.loads(body)["error"]
        self.assertEqual((err["code"], err["written_samples"], err["errors"][0]["line"]),
                         ("partial_write", 1, 2))
        code, body = self.curl(d, "-XPOST", url, "--data-binary", "x v=1\n" * 1000)
        self.assertEqual((code, json.loads(body)["error"]["code"]), (413, "body_too_large"))
        code, body = self.curl(d, "-XPOST", d.url("/api/v1/write"), "-H",
                               "Content-Type: application/xml", "--data-binary", "<v/>")
        self.assertEqual((code, json.loads(body)["error"]["code"]), (415, "unsupported_media_type"))
        code, body = self.curl(d, "-XPUT", url, "--data-binary", "x v=1")
        self.assertEqual((code, json.loads(body)["error"]["code"]), (405, "method_not_allowed"))
        proc = subprocess.run([CURL, "-sS", "-I", d.url("/ping")], capture_output=True, text=True,
                              timeout=30)
        self.assertIn("204", proc.stdout.splitlines()[0])
        self.assertIn("x-influxdb-version:", proc.stdout.lower())


if __name__ == "__main__":
    main()
