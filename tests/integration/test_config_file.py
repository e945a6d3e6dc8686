# test_config_file.py: historiand.conf as the daemon reads it: errors with FILE:LINE, values applied, overrides,
# and the shipped example file and man page kept in step with the key table.
import os
import re
import tempfile

from harness import SRCDIR, DaemonTest, main, run_historiand


def write_conf(testcase, text):
    fd, path = tempfile.mkstemp(prefix="hs-conf-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    testcase.addCleanup(os.unlink, path)
    return path


def printed_keys():
    """(section, key, value) of every key, from --print-config on the defaults."""
    status, out, err = run_historiand("--print-config")
    assert status == 0, err
    keys, section = [], None
    for line in out.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#"):
            key, _, value = line.partition(" = ")
            keys.append((section, key, value))
    return keys


class BadConfig(DaemonTest):
    CASES = [
        # (file text, expected error after "FILE:")
        ("[general]\nlog_level = info\nfrobnicate = 1\n", "3: frobnicate: unknown key in [general]"),
        ("[general]\nlog_level = shouty\n", "2: log_level: \"shouty\" is not a level"),
        ("[nonsense]\n", "1: [nonsense]: unknown section"),
        ("# comment\nlog_level = info\n", "2: log_level: key outside a section"),
        ("[http]\nthreads = 0\n", "2: threads: \"0\" is not a whole number from 1 to 256"),
        ("[http]\nthreads = many\n", "2: threads: \"many\" is not a whole number"),
        ("[general]\nshutdown_timeout = 10 parsecs\n", "2: shutdown_timeout: \"10 parsecs\" is not a duration"),
        ("[general]\nshutdown_timeout = 2d\n", "2: shutdown_timeout: 2d is outside 100ms to 1h"),
        ("[general]\nallow_unauthenticated_remote = maybe\n", "2: allow_unauthenticated_remote: \"maybe\" is not a boolean"),
        ("[http]\nlisten = example.org:80\n", "2: listen: \"example.org:80\""),
        ("[udp]\nlisten = 127.0.0.1:70000\n", "2: listen: \"127.0.0.1:70000\": port must be"),
        ("[general]\ndata_dir =\n", "2: data_dir: must not be empty"),
        ("[general]\nlog_level = info\n\nlog_level = debug\n", "4: log_level: already set at line 2"),
        ("[general]\nthis line has no equals sign\n", "2: expected \"key = value\""),
        ("[general\n", "1: section header without \"]\""),
        ("[general] x\n", "1: text after section header"),
        ("[general]\nlog_file = \"/tmp/x\n", "2: log_file: unterminated quoted value"),
        ("[http]\nlisten = 0.0.0.0:8080\n", "2: listen: 0.0.0.0:8080 is not a loopback address"),
    ]

    def test_each_error_names_file_line_and_key(self):
        for text, expected in self.CASES:
            path = write_conf(self, text)
            status, out, err = run_historiand("--config", path, "--print-config")
            self.assertEqual(status, 2, (text, err))
            self.assertIn("%s:%s" % (path, expected), err, text)
            self.assertEqual(out, "", "nothing may run after a bad config")

    def test_bad_config_stops_before_anything_starts(self):
        d = self.daemon(start=False)
        path = write_conf(self, "[http]\nthreads = -1\n")
        status, _, err = run_historiand("--config", path, "--data-dir", d.data_dir)
        self.assertEqual(status, 2)
        self.assertFalse(os.path.exists(d.data_dir))
        self.assertNotIn("starting", err)

    def test_missing_config_file(self):
        status, _, err = run_historiand("--config", "/nonexistent/historiand.conf")
        self.assertEqual(status, 2)
        self.assertIn("/nonexistent/historiand.conf: cannot open: No such file or directory", err)


class GoodConfig(DaemonTest):
    def test_file_values_reach_the_daemon(self):
        d = self.daemon(start=False, data_dir_option=False)
        d.config = ("# plant historian, unit 3\n"
                    "[general]\r\n"
                    "  data_dir = \"%s\"\n"
                    "log_level = debug   \n"
                    "; semicolon comment\n"
                    "shutdown_timeout = 2500ms\n"
                    "[http]\n"
                    "\tthreads = 2\n" % d.data_dir)
        d.start()
        self.assertEqual(d.json("/health")["data_dir"], os.path.realpath(d.data_dir))
        self.assertIn("(2 threads)", d.log())
        self.assertEqual(d.stop(), 0)
        self.assertIn("timeout 2500 ms", d.log())

    def test_command_line_overrides_file(self):
        path = write_conf(self, "[general]\nlog_level = error\ndata_dir = /from/file\n"
                                "[http]\nlisten = 127.0.0.1:1\n")
        status, out, err = run_historiand("--config", path, "--log-level", "debug",
                                          "--data-dir", "/from/option", "--http", "off",
                                          "--print-config")
        self.assertEqual(status, 0, err)
        self.assertIn("\nlog_level = debug\n", out)
        self.assertIn("\ndata_dir = /from/option\n", out)
        self.assertRegex(out, r"\[http\]\n(#.*\n)listen = off\n")

    def test_remote_allowed_with_opt_in(self):
        path = write_conf(self, "[general]\nallow_unauthenticated_remote = yes\n")
        status, out, err = run_historiand("--config", path, "--http", "0.0.0.0:8080",
                                          "--print-config")
        self.assertEqual(status, 0, err)
        self.assertIn("listen = 0.0.0.0:8080", out)

    def test_print_config_reads_back_identically(self):
        status, first, _ = run_historiand("--print-config", "--log-file", "  spaced.log")
        self.assertEqual(status, 0)
        path = write_conf(self, first)
        status, second, err = run_historiand("--config", path, "--print-config")
        self.assertEqual(status, 0, err)
        self.assertEqual(first, second)


class ShippedFiles(DaemonTest):
    def test_example_config_lists_every_key_with_its_default(self):
        example = os.path.join(SRCDIR, "etc", "historiand.conf")
        with open(example) as f:
            text = f.read()
        status, out, err = run_historiand("--config", example, "--print-config")
        self.assertEqual(status, 0, err)
        _, defaults, _ = run_historiand("--print-config")
        self.assertEqual(out, defaults, "the example must leave every default as it is")
        sections = re.findall(r"^\[(\w+)\]", text, re.M)
        for section, key, value in printed_keys():
            self.assertIn(section, sections)
            self.assertRegex(text, r"(?m)^# %s =%s$" % (re.escape(key),
                                                          (" " + re.escape(value)) if value else ""),
                             "example lacks '# %s = %s'" % (key, value))

    def test_man_page_documents_every_key(self):
        with open(os.path.join(SRCDIR, "man", "historiand.conf.5")) as f:
            page = f.read()
        for section, key, _ in printed_keys():
            self.assertRegex(page, r"(?m)^\.B %s\s*$" % re.escape(key), "man page lacks " + key)
            self.assertIn("[%s]" % section, page)


if __name__ == "__main__":
    main()
