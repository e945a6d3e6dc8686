# test_install.py: `make install DESTDIR=...` puts the binary, man pages, example configuration and systemd unit
# where they belong, and the man pages render.
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILDDIR, main


class Install(unittest.TestCase):
    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="hs-install-")
        self.addCleanup(shutil.rmtree, self.dest, True)
        env = dict(os.environ)
        for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # not part of the outer make's jobs
            env.pop(var, None)
        proc = subprocess.run(["make", "-s", "-C", BUILDDIR, "install", "DESTDIR=" + self.dest],
                              capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.prefix = self.find_prefix()

    def find_prefix(self):
        for root, _, files in os.walk(self.dest):
            if "historiand" in files and root.endswith("/sbin"):
                return os.path.dirname(root)
        self.fail("no sbin/historiand under " + self.dest)

    def test_files_installed(self):
        p = self.prefix
        binary = os.path.join(p, "sbin", "historiand")
        self.assertTrue(os.access(binary, os.X_OK))
        out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        self.assertTrue(out.startswith("historiand "))
        for rel in ("share/man/man8/historiand.8", "share/man/man5/historiand.conf.5",
                    "share/doc/historian/examples/historiand.conf",
                    "etc/historian/historiand.conf",
                    "lib/systemd/system/historiand.service",
                    "lib/sysusers.d/historian.conf"):
            self.assertTrue(os.path.isfile(os.path.join(p, rel)), rel)

    def test_unit_file_points_at_installed_paths(self):
        with open(os.path.join(self.prefix, "lib/systemd/system/historiand.service")) as f:
            unit = f.read()
        self.assertIsNone(re.search(r"@[a-z_]+@", unit), "unsubstituted variable in the unit")
        sbindir = self.prefix[len(self.dest):] + "/sbin"
        self.assertIn("ExecStart=%s/historiand --config " % sbindir, unit)
        for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "User=historian",
                          "StateDirectory=historian"):
            self.assertIn(hardening, unit)

    def test_installed_config_is_readable_by_the_daemon(self):
        conf = os.path.join(self.prefix, "etc/historian/historiand.conf")
        binary = os.path.join(self.prefix, "sbin", "historiand")
        proc = subprocess.run([binary, "--config", conf, "--print-config"],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_man_pages_render(self):
        for rel in ("share/man/man8/historiand.8", "share/man/man5/historiand.conf.5"):
            proc = subprocess.run(["man", "-l", "-Tutf8", os.path.join(self.prefix, rel)],
                                  capture_output=True, text=True,
                                  env=dict(os.environ, MANWIDTH="80"))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("historiand", proc.stdout)
            self.assertEqual(proc.stderr.strip(), "", proc.stderr)


if __name__ == "__main__":
    main()
