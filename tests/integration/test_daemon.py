# test_daemon.py: historiand's lifecycle: start, data dir and LOCK, signals, logging, options, exit statuses.
# Drives the real binary through harness.py.
import os
import re
import signal
import socket
import stat
import subprocess
import time

from harness import HISTORIAND, Daemon, DaemonTest, main, run_historiand

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN|INFO|DEBUG) [a-z]+: .+$")


class Options(DaemonTest):
    def test_version(self):
        status, out, _ = run_historiand("--version")
        self.assertEqual(status, 0)
        self.assertRegex(out, r"^historiand \d+\.\d+\.\d+\n$")

    def test_help_lists_every_option(self):
        status, out, _ = run_historiand("--help")
        self.assertEqual(status, 0)
        for opt in ("--config", "--data-dir", "--http", "--mqtt", "--udp", "--log-level",
                    "--log-file", "--print-config", "--version", "--help"):
            self.assertIn(opt, out)

    def test_unknown_option_is_usage_error(self):
        status, _, err = run_historiand("--frobnicate")
        self.assertEqual(status, 2)
        self.assertIn("--help", err)

    def test_stray_argument_is_usage_error(self):
        status, _, err = run_historiand("serve-now")
        self.assertEqual(status, 2)
        self.assertIn("serve-now", err)

    def test_bad_option_value_names_the_option(self):
        for args, needle in ((["--http", "nonsense"], "--http:"),
                             (["--mqtt", "1.2.3.4:99999"], "--mqtt:"),
                             (["--log-level", "loud"], "--log-level:")):
            status, _, err = run_historiand(*args, "--print-config")
            self.assertEqual(status, 2, args)
            self.assertIn(needle, err)


class Lifecycle(DaemonTest):
    def test_starts_and_answers(self):
        d = self.daemon()
        self.assertIn("http", d.addr)
        self.assertEqual(d.json("/health")["status"], "ok")

    def test_sigterm_exits_zero_in_time(self):
        d = self.daemon()
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("SIGTERM received", d.log())
        self.assertIn("stopped cleanly", d.log())

    def test_sigint_exits_zero(self):
        d = self.daemon()
        self.assertEqual(d.stop(signal.SIGINT), 0)
        self.assertIn("SIGINT received", d.log())

    def test_idle_keepalive_connection_does_not_delay_stop(self):
        d = self.daemon()
        host, port = d.http_addr
        with socket.create_connection((host, port)) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"200 OK", s.recv(4096))
            t0 = time.monotonic()
            self.assertEqual(d.stop(), 0)
            self.assertLess(time.monotonic() - t0, 5)

    def test_request_in_progress_does_not_block_stop_forever(self):
        # A client that sent half a request: the daemon must still stop within
        # shutdown_timeout (1 s here) plus its watchdog margin.
        d = self.daemon(config="[general]\nshutdown_timeout = 1s\n")
        host, port = d.http_addr
        with socket.create_connection((host, port)) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            time.sleep(0.2)
            t0 = time.monotonic()
            status = d.stop()
            self.assertIn(status, (0, 1))
            self.assertLess(time.monotonic() - t0, 3.5)

    def test_sigkill_leaves_no_stale_lock(self):
        d = self.daemon()
        d.kill()
        again = self.daemon(data_dir=d.data_dir)
        self.assertEqual(again.json("/health")["status"], "ok")


class DataDir(DaemonTest):
    def test_created_with_mode_0750(self):
        old = os.umask(0o022)
        try:
            d = Daemon()
            self.addCleanup(d.cleanup)
            d.data_dir = os.path.join(d.tmp, "a", "b", "data")
            d.start()
        finally:
            os.umask(old)
        st = os.stat(d.data_dir)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o750)
        self.assertEqual(d.json("/health")["data_dir"], os.path.realpath(d.data_dir))
        with open(os.path.join(d.data_dir, "LOCK")) as f:
            self.assertEqual(int(f.read().strip()), d.proc.pid)

    def test_second_daemon_on_same_dir_is_refused(self):
        first = self.daemon()
        t0 = time.monotonic()
        status, _, err = run_historiand("--data-dir", first.data_dir, "--http", "127.0.0.1:0",
                                        "--mqtt", "off", "--udp", "off")
        self.assertLess(time.monotonic() - t0, 3)
        self.assertEqual(status, 1)
        self.assertIn(os.path.realpath(first.data_dir), err)
        self.assertIn("(pid %d)" % first.proc.pid, err)
        # The first daemon is unharmed.
        self.assertEqual(first.json("/health")["status"], "ok")

    def test_unusable_data_dir_is_fatal(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        blocker = os.path.join(d.tmp, "file")
        open(blocker, "w").close()
        status, _, err = run_historiand("--data-dir", os.path.join(blocker, "data"),
                                        "--http", "off", "--mqtt", "off", "--udp", "off")
        self.assertEqual(status, 1)
        self.assertIn(blocker, err)


class Listeners(DaemonTest):
    def test_http_port_in_use_is_fatal(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            d = Daemon()
            self.addCleanup(d.cleanup)
            status, _, err = run_historiand("--data-dir", d.data_dir, "--http",
                                            "127.0.0.1:%d" % port, "--mqtt", "off", "--udp", "off")
        self.assertEqual(status, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d" % port, err)
        self.assertIn("in use", err)

    def test_non_loopback_refused_without_opt_in(self):
        for opt in ("--http", "--mqtt", "--udp"):
            status, _, err = run_historiand(opt, "0.0.0.0:0", "--print-config")
            self.assertEqual(status, 2, opt)
            self.assertIn("%s: 0.0.0.0:0 is not a loopback address" % opt, err)
            self.assertIn("allow_unauthenticated_remote", err)

    def test_non_loopback_refused_before_anything_starts(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        status, _, err = run_historiand("--data-dir", d.data_dir, "--http", "[::]:0")
        self.assertEqual(status, 2)
        self.assertFalse(os.path.exists(d.data_dir), "data dir created before config was checked")

    def test_http_off(self):
        d = self.daemon("--http", "off")
        self.assertNotIn("http", d.addr)
        self.assertEqual(d.stop(), 0)


class Logging(DaemonTest):
    def test_stderr_lines_have_utc_time_and_level(self):
        d = self.daemon()
        d.get("/health")
        self.assertEqual(d.stop(), 0)
        lines = [l for l in d.log().splitlines() if l]
        self.assertGreater(len(lines), 3)
        for line in lines:
            self.assertRegex(line, LOG_LINE)

    def test_log_level_filters(self):
        d = self.daemon("--log-level", "warn")
        self.assertEqual(d.stop(), 0)
        self.assertNotIn(" INFO ", d.log())
        d2 = self.daemon("--log-level", "debug")
        self.assertEqual(d2.stop(), 0)
        self.assertIn(" INFO ", d2.log())

    def test_log_file_reopened_on_sighup(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        log_file = os.path.join(d.tmp, "historiand.log")
        d.log_file = log_file
        d.start()
        os.rename(log_file, log_file + ".1")
        d.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while not os.path.exists(log_file) and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(log_file) as f:
            self.assertIn("SIGHUP: log file reopened", f.read())
        self.assertEqual(d.stop(), 0)
        with open(log_file) as f:
            self.assertIn("stopped cleanly", f.read())
        with open(log_file + ".1") as f:
            self.assertIn("ready", f.read())

    def test_unwritable_log_file_is_fatal(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        status, _, err = run_historiand("--data-dir", d.data_dir, "--log-file",
                                        os.path.join(d.tmp, "no", "such", "dir", "x.log"))
        self.assertEqual(status, 1)
        self.assertIn("x.log", err)


if __name__ == "__main__":
    main()
