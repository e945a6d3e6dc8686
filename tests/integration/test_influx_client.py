# test_influx_client.py: a real InfluxDB 1.x client (Debian's influxdb-client, `influx -import`) writes to historian
# through /ping and /write, and every point is read back exactly through /api/v1/raw.
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import DaemonTest, main

INFLUX = shutil.which("influx")


@unittest.skipIf(INFLUX is None, "Debian's influxdb-client is not installed (scripts/install-deps installs it)")
class InfluxClient(DaemonTest):
    def test_influx_import(self):
        d = self.daemon()
        host, port = d.http_addr
        lines = ["plant,area=boiler,unit=%d temp=%d.25,running=%s,count=%di %d"
                 % (u, 80 + i, "true" if i % 2 else "false", i, 1735689600 + i)
                 for u in (1, 2) for i in range(500)]
        fd, path = tempfile.mkstemp(suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write("# DML\n# CONTEXT-DATABASE: plant\n# CONTEXT-RETENTION-POLICY: autogen\n")
            f.write("\n".join(lines) + "\n")
        self.addCleanup(os.unlink, path)
        proc = subprocess.run([INFLUX, "-host", host, "-port", str(port), "-import", "-path", path,
                               "-precision", "s", "-pps", "0"],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("Processed 1000 inserts", proc.stderr + proc.stdout)
        self.assertIn("Failed 0 inserts", proc.stderr + proc.stdout)
        for u in (1, 2):
            tag = "plant.temp,area=boiler,unit=%d" % u
            doc = d.raw(tag)
            self.assertEqual([s["v"] for s in doc["samples"]], [80 + i + 0.25 for i in range(500)])
            self.assertEqual([s["t_ns"] for s in doc["samples"]],
                             [(1735689600 + i) * 1_000_000_000 for i in range(500)])
            doc = d.raw("plant.count,area=boiler,unit=%d" % u)
            self.assertEqual(doc["type"], "integer")
            self.assertEqual([s["v"] for s in doc["samples"]], list(range(500)))
            doc = d.raw("plant.running,area=boiler,unit=%d" % u)
            self.assertEqual([s["v"] for s in doc["samples"]], [bool(i % 2) for i in range(500)])


if __name__ == "__main__":
    main()
