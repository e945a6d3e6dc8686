# test_storage.py: the storage engine inside the daemon: WAL replay at start, sealing through
# POST /api/v1/admin/compact and `historiand compact`, storage metrics, and refusing a damaged WAL.
import glob
import json
import os
import subprocess

from harness import BUILDDIR, DaemonTest, main, run_historiand

WRITER = os.path.join(BUILDDIR, "tests", "crash", "crash_writer")


def fill(data_dir, batches):
    """Write batches (20 tags x 25 samples each) into a store and close it unsealed."""
    acks = os.path.join(os.path.dirname(data_dir), "acks")
    proc = subprocess.run([WRITER, "fill", data_dir, acks, str(batches)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return acks


def verify(data_dir, acks):
    proc = subprocess.run([WRITER, "verify", data_dir, acks], capture_output=True, text=True,
                          timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def metrics(d):
    status, _, body = d.get("/metrics")
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.split(" ")
            out[name] = float(value)
    return out


class Storage(DaemonTest):
    def test_replay_then_compact_over_http(self):
        d = self.daemon(start=False)
        os.makedirs(d.data_dir)
        acks = fill(d.data_dir, 40)
        d.start()
        self.assertRegex(d.log(), r"WAL replayed: \d+ records, 20000 samples")
        health = d.json("/health")
        self.assertEqual(health["storage"], "ok")
        self.assertEqual(health["tags"], 20)
        self.assertEqual(health["head_samples"], 20000)
        status, headers, body = d.request("POST", "/api/v1/admin/compact")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(doc["sealed_samples"], 20000)
        self.assertGreaterEqual(doc["chunks_written"], 20)
        self.assertGreater(doc["chunk_file_bytes"], 0)
        m = metrics(d)
        self.assertEqual(m["historian_head_samples"], 0)
        self.assertEqual(m["historian_seals_total"], 1)
        self.assertEqual(m["historian_tags"], 20)
        self.assertGreater(m["historian_chunk_file_bytes"], 0)
        # Compressed: far below the 16+ bytes a raw sample takes.
        self.assertLess(m["historian_chunk_file_bytes"] / 20000, 4)
        self.assertEqual(len(glob.glob(os.path.join(d.data_dir, "wal", "*.wal"))), 1,
                         "segments whose samples are sealed must be trimmed")
        status, _, _ = d.get("/api/v1/admin/compact")
        self.assertEqual(status, 405)
        self.assertEqual(d.stop(), 0)
        rc, out = verify(d.data_dir, acks)
        self.assertEqual(rc, 0, out)

    def test_offline_compact(self):
        d = self.daemon(start=False)
        os.makedirs(d.data_dir)
        acks = fill(d.data_dir, 10)
        status, _, err = run_historiand("compact", "--data-dir", d.data_dir)
        self.assertEqual(status, 0, err)
        self.assertIn("compact: sealed 5000 samples", err)
        self.assertTrue(glob.glob(os.path.join(d.data_dir, "chunks", "*.hsc")))
        rc, out = verify(d.data_dir, acks)
        self.assertEqual(rc, 0, out)
        # While a daemon holds the directory, compact is refused.
        d.start()
        status, _, err = run_historiand("compact", "--data-dir", d.data_dir)
        self.assertEqual(status, 1)
        self.assertIn("in use by another historiand", err)

    def test_damaged_wal_refused_then_salvaged(self):
        d = self.daemon(start=False)
        os.makedirs(d.data_dir)
        fill(d.data_dir, 40)
        segment = sorted(glob.glob(os.path.join(d.data_dir, "wal", "*.wal")))[0]
        size = os.path.getsize(segment)
        self.assertGreater(size, 10000)
        with open(segment, "r+b") as f:  # damage a record in the middle
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 0xFF]))
        status, _, err = run_historiand("--data-dir", d.data_dir, "--http", "off", "--mqtt", "off",
                                        "--udp", "off")
        self.assertEqual(status, 1)
        self.assertIn("--salvage", err)
        self.assertIn(os.path.basename(segment), err)
        d.args = ["--salvage"]
        d.start()
        self.assertIn("salvage: skipped", d.log())
        health = d.json("/health")
        self.assertGreater(health["head_samples"], 0)
        self.assertLess(health["head_samples"], 20000)


if __name__ == "__main__":
    main()
