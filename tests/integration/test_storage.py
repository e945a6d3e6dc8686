# test_storage.py: the storage engine inside the daemon: WAL replay at start, sealing through
# POST /api/v1/admin/compact and `historiand compact`, storage metrics, and refusing a damaged WAL.
import glob
import http.client
import json
import os
import re
import subprocess
import threading

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


def resident_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def post_lines(addr, batches, errors):
    """POST each batch to /write on one keep-alive connection; failures go to errors."""
    host, port = addr
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        for body in batches:
            conn.request("POST", "/write?precision=s", body=body)
            r = conn.getresponse()
            r.read()
            if r.status != 204:
                errors.append(r.status)
    except OSError as e:
        errors.append(str(e))
    finally:
        conn.close()


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

    def test_seal_gives_memory_back(self):
        # Four request threads grow the head in their own malloc arenas and the seal
        # thread frees it: without a trim the freed pages stay resident.
        d = self.daemon()
        with open("/proc/%d/maps" % d.proc.pid) as f:
            if "libasan" in f.read():
                self.skipTest("AddressSanitizer's allocator keeps freed memory itself")
        start = 1735689600
        writers = []
        for w in range(4):
            batches = []
            for b in range(10):
                t0 = start + b * 400
                batches.append("".join("m%d,w=%d a=%d.5,b=%d.25,c=%di,d=%d.125 %d\n"
                                       % (k, w, s, s % 7, s, k, t0 + s)
                                       for s in range(400) for k in range(50)).encode())
            writers.append(batches)
        errors = []
        threads = [threading.Thread(target=post_lines, args=(d.http_addr, batches, errors))
                   for batches in writers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(d.json("/health")["head_samples"], 4 * 10 * 400 * 50 * 4)
        before = resident_kib(d.proc.pid)
        self.assertGreater(before, 40 * 1024, "the head of 3.2 M samples should be resident")
        status, _, body = d.request("POST", "/api/v1/admin/compact", timeout=60)
        self.assertEqual(status, 200, body)
        after = resident_kib(d.proc.pid)
        self.assertLess(after, before / 2, "resident %d KiB before the seal, %d after" % (before, after))
        given = re.findall(r"sealed \d+ samples .*; ([0-9.]+) MiB of freed memory given back", d.log())
        self.assertTrue(given and float(given[-1]) > 0, d.log()[-2000:])

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
