# test_mqtt_bridge.py: the bridge against a real mosquitto broker the test starts on a free loopback port:
# subscriptions at QoS 0-2, messages published while historian is down (and killed), broker restarts, both versions.
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

from harness import DaemonTest, main

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A mosquitto on 127.0.0.1: in memory, queueing up to 100,000 messages for offline sessions."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="hs-broker-")
        self.proc = None

    def start(self):
        conf = os.path.join(self.tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 100000\nmax_inflight_messages 100\n" % self.port)
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto never listened on %d" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def publish(self, topic, *args, lines=None):
        r = subprocess.run([PUB, "-h", "127.0.0.1", "-p", str(self.port), "-t", topic, *args],
                           input=lines, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr


class Bridge(DaemonTest):
    def broker(self):
        b = Broker().start()
        self.addCleanup(lambda: (b.stop(), shutil.rmtree(b.tmp, ignore_errors=True)))
        return b

    def bridged(self, broker, protocol="3.1.1", data_dir=None, extra=""):
        conf = ("[bridge]\nbroker = 127.0.0.1:%d\nprotocol = %s\nclient_id = hs-test\n"
                "subscribe = plant/# 1; lab/# 2; raw/# 0\nkeepalive = 2s\n%s" % (broker.port, protocol, extra))
        d = self.daemon(config=conf, data_dir=data_dir)
        self.wait_state(d, "connected")
        return d

    def wait_state(self, d, state, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = d.json("/health")
            if h.get("mqtt_bridge", {}).get("state") == state:
                return h
            time.sleep(0.05)
        self.fail("bridge never %s: %s\n%s" % (state, d.json("/health"), d.log()))

    def wait_count(self, d, tag, n, timeout=20):
        deadline = time.monotonic() + timeout
        got = []
        while time.monotonic() < deadline:
            status, _, _ = d.get("/api/v1/raw?" + urllib.parse.urlencode({"tag": tag}))
            if status == 200:
                got = d.raw(tag)["samples"]
                if len(got) >= n:
                    return got
            time.sleep(0.1)
        self.fail("%s: %d samples, expected %d\n%s" % (tag, len(got), n, d.log()))

    def test_qos_0_1_2_arrive(self):
        for protocol in ("3.1.1", "5"):
            with self.subTest(protocol=protocol):
                b = self.broker()
                d = self.bridged(b, protocol)
                b.publish("plant/boiler/temp", "-q", "1", "-m", "81.5")
                b.publish("lab/sample", "-q", "2", "-m", '{"value": 7, "ts": "2025-01-01T00:00:00Z"}')
                b.publish("raw/x", "-q", "0", "-m", "3")
                b.publish("other/ignored", "-q", "1", "-m", "1")
                self.assertEqual([s["v"] for s in self.wait_count(d, "plant/boiler/temp", 1)], [81.5])
                lab = self.wait_count(d, "lab/sample", 1)
                self.assertEqual((lab[0]["t"], lab[0]["v"]), ("2025-01-01T00:00:00Z", 7))
                self.wait_count(d, "raw/x", 1)
                status, _, _ = d.get("/api/v1/raw?tag=other%2Fignored")
                self.assertEqual(status, 404)  # not subscribed
                m = d.get("/metrics")[2].decode()
                self.assertIn("historian_mqtt_bridge_connected 1", m)
                self.assertIn("historian_mqtt_bridge_messages_total 3", m)

    def test_published_while_historian_was_down(self):
        """The persistent session: the broker keeps what came while historian was away."""
        for protocol in ("3.1.1", "5"):
            with self.subTest(protocol=protocol):
                b = self.broker()
                d = self.bridged(b, protocol)
                data_dir = d.data_dir
                d.kill()  # SIGKILL: no goodbye to the broker
                lines = "".join("%d\n" % i for i in range(1, 1501))
                b.publish("plant/offline", "-q", "1", "-l", lines=lines)
                d2 = self.daemon(config=d.config, data_dir=data_dir)
                got = self.wait_count(d2, "plant/offline", 1500)
                self.assertEqual(sorted(s["v"] for s in got), list(range(1, 1501)))

    def test_kill9_during_a_stream_loses_nothing(self):
        """Every message the broker took (PUBACK to the publisher) reaches historian, although
        historian is killed while the broker forwards them: PUBACK to the broker only after the
        WAL commit, so unacked ones come again. Payload times make a redelivery the same sample."""
        b = self.broker()
        d = self.bridged(b)
        data_dir = d.data_dir
        n = 4000
        lines = "".join('{"value": %d, "ts": %d}\n' % (i, 1735689600 + i) for i in range(n))
        pub = subprocess.Popen([PUB, "-h", "127.0.0.1", "-p", str(b.port), "-t", "plant/stream", "-q", "1",
                                "-l"], stdin=subprocess.PIPE, text=True)
        pub.communicate(lines, timeout=60)
        self.assertEqual(pub.returncode, 0)
        for _ in range(3):
            time.sleep(0.15)
            d.kill()
            d = self.daemon(config=d.config, data_dir=data_dir)
        got = self.wait_count(d, "plant/stream", n, timeout=30)
        self.assertEqual(sorted(s["v"] for s in got), list(range(n)))

    def test_broker_restart_reconnects(self):
        b = self.broker()
        d = self.bridged(b)
        b.publish("plant/a", "-q", "1", "-m", "1")
        self.wait_count(d, "plant/a", 1)
        b.stop()
        h = self.wait_state(d, "disconnected")
        self.assertNotEqual(h["mqtt_bridge"]["last_error"], "")
        again = Broker(b.port).start()  # a fresh broker on the same port
        self.addCleanup(lambda: (again.stop(), shutil.rmtree(again.tmp, ignore_errors=True)))
        self.wait_state(d, "connected", timeout=20)
        again.publish("plant/a", "-q", "1", "-m", "2")
        got = self.wait_count(d, "plant/a", 2)
        self.assertEqual([s["v"] for s in got], [1, 2])
        self.assertIn("historian_mqtt_bridge_connects_total 2", d.get("/metrics")[2].decode())

    def test_refused_and_unreachable_broker(self):
        port = free_port()  # nothing listens there
        d = self.daemon(config="[bridge]\nbroker = 127.0.0.1:%d\n" % port)
        h = self.wait_state(d, "disconnected", timeout=5)
        deadline = time.monotonic() + 5
        while "refused" not in h["mqtt_bridge"]["last_error"].lower() and time.monotonic() < deadline:
            time.sleep(0.1)
            h = d.json("/health")
        self.assertIn("refused", h["mqtt_bridge"]["last_error"].lower())
        self.assertIn("historian_mqtt_bridge_connected 0", d.get("/metrics")[2].decode())

    def test_bad_subscribe_stops_the_daemon(self):
        d = self.daemon(config="[bridge]\nbroker = 127.0.0.1:1\nsubscribe = plant/#/x 1\n", start=False)
        proc = subprocess.run(d.command(), capture_output=True, text=True, timeout=20)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("bridge subscribe", proc.stderr)


if __name__ == "__main__":
    main()
