# test_crash.py: the store's durability promise under SIGKILL: every acknowledged sample survives, exactly once.
# crash_writer appends and logs each batch the store acknowledged durable; we kill it at random moments and verify.
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BUILDDIR, main

WRITER = os.path.join(BUILDDIR, "tests", "crash", "crash_writer")


class CrashRecovery(unittest.TestCase):
    def test_sigkill_cycles(self):
        cycles = int(os.environ.get("HS_CRASH_CYCLES", "50"))
        seed = int(os.environ.get("HS_SEED", str(int(time.time()))))
        print("test_crash: %d cycles, seed %d (set HS_SEED and HS_CRASH_CYCLES to change)"
              % (cycles, seed), flush=True)
        rng = random.Random(seed)
        tmp = tempfile.mkdtemp(prefix="hs-crash-")
        self.addCleanup(shutil.rmtree, tmp, True)
        data, acks = os.path.join(tmp, "data"), os.path.join(tmp, "acks")
        os.mkdir(data)
        for cycle in range(cycles):
            proc = subprocess.Popen([WRITER, "write", data, acks], stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.02, 0.6))
            if proc.poll() is not None:
                self.fail("cycle %d: writer exited %d early: %s"
                          % (cycle, proc.returncode, proc.stderr.read().decode()))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            check = subprocess.run([WRITER, "verify", data, acks], capture_output=True,
                                   text=True, timeout=120)
            self.assertEqual(check.returncode, 0,
                             "cycle %d (seed %d): %s%s" % (cycle, seed, check.stdout, check.stderr))
        with open(acks) as f:
            batches = len(f.read().split())
        self.assertGreater(batches, cycles, "the writer hardly acknowledged anything")
        print("test_crash: %d batches acknowledged across %d kills" % (batches, cycles))


if __name__ == "__main__":
    main()
