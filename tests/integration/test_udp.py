# test_udp.py: the UDP line-protocol listener: datagrams of many lines land in the store, bad lines are counted,
# and the counters show in /metrics.
import socket
import time
import urllib.parse

from harness import DaemonTest, main


def metrics(d):
    out = {}
    for line in d.get("/metrics")[2].decode().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.split(" ")
            out[name] = float(value)
    return out


class Udp(DaemonTest):
    def send(self, d, *datagrams):
        host, port = d.addr["udp"].rsplit(":", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for dg in datagrams:
                s.sendto(dg.encode(), (host, int(port)))

    def wait_samples(self, d, tag, n, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _, _ = d.get("/api/v1/raw?" + urllib.parse.urlencode({"tag": tag}))
            if status == 200:
                samples = d.raw(tag)["samples"]
                if len(samples) >= n:
                    return samples
            time.sleep(0.05)
        self.fail("%s never had %d samples:\n%s" % (tag, n, d.log()))

    def test_datagrams_land(self):
        d = self.daemon()
        self.assertIn("udp", d.addr)
        lines = "".join("gw,line=%d temp=%d.5,ok=true %d\n" % (i % 3, i, 1735689600000000000 + i)
                        for i in range(30))
        self.send(d, lines, "gw,line=9 temp=1.25 1735689600000000000")  # no final newline
        got = self.wait_samples(d, "gw.temp,line=0", 10)
        self.assertEqual([s["v"] for s in got], [i + 0.5 for i in range(0, 30, 3)])
        self.assertEqual(self.wait_samples(d, "gw.temp,line=9", 1)[0]["v"], 1.25)
        m = metrics(d)
        self.assertEqual(m["historian_udp_datagrams_total"], 2)
        self.assertEqual(m["historian_udp_samples_total"], 61)
        self.assertEqual(m["historian_udp_kernel_drops_total"], 0)
        self.assertGreaterEqual(m["historian_udp_rcvbuf_bytes"], 64 * 1024)

    def test_bad_lines_counted_and_daemon_stays_up(self):
        d = self.daemon()
        self.send(d, "not line protocol at all\nu v=1 1735689600000000000\n\x00\xff junk")
        self.wait_samples(d, "u.v", 1)
        deadline = time.monotonic() + 5
        while metrics(d)["historian_udp_parse_errors_total"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(metrics(d)["historian_udp_parse_errors_total"], 2)
        self.assertEqual(d.json("/health")["status"], "ok")
        self.assertEqual(d.stop(), 0)

    def test_udp_off(self):
        d = self.daemon("--udp", "off")
        self.assertNotIn("udp", d.addr)


if __name__ == "__main__":
    main()
