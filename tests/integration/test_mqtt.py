# test_mqtt.py: the MQTT 3.1.1/5.0 endpoint end to end: mosquitto_pub and paho publish, every value read back over
# HTTP; topic rules and payload formats; raw-byte protocol cases; kill -9 durability; 10,000 idle connections; metrics.
import calendar
import os
import random
import resource
import socket
import subprocess
import threading
import time

import paho.mqtt.client as paho

from harness import DaemonTest, main

SEC = 1_000_000_000
SEED = int(os.environ.get("HS_TEST_SEED", "20251125"))

# Packet type bytes (type << 4 | flags) as a server sends them.
CONNACK, PUBACK, PUBREC, PUBCOMP = 0x20, 0x40, 0x50, 0x70
SUBACK, UNSUBACK, PINGRESP, DISCONNECT = 0x90, 0xB0, 0xD0, 0xE0


def epoch_ns(text):
    """Epoch ns of "YYYY-MM-DDTHH:MM:SSZ", computed here, not by the daemon."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) * SEC


def metrics(d):
    """/metrics as {"name" or 'name{labels}': value}."""
    out = {}
    for line in d.get("/metrics")[2].decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def mqtt_port(d):
    host, port = d.addr["mqtt"].rsplit(":", 1)
    return host, int(port)


def wait_for(fn, timeout=5, what="condition"):
    """Poll fn() until it returns something true; return it."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.02)


def samples(d, tag):
    """The samples of tag, or [] while the tag does not exist."""
    try:
        return d.raw(tag)["samples"]
    except AssertionError:
        return []


def wait_samples(d, tag, n, timeout=5):
    return wait_for(lambda: len(samples(d, tag)) >= n and samples(d, tag), timeout,
                    "%d samples of %s" % (n, tag))


def metric_wait(d, name, want, timeout=5):
    try:
        return wait_for(lambda: metrics(d).get(name) == want, timeout, "%s == %s" % (name, want))
    except AssertionError:
        raise AssertionError("%s is %s, expected %s" % (name, metrics(d).get(name), want))


# --- MQTT packets written by hand -------------------------------------------------------

def vbi(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body=b""):
    return bytes([first]) + vbi(len(body)) + body


def mstr(b):
    if isinstance(b, str):
        b = b.encode()
    return len(b).to_bytes(2, "big") + b


def props(*items):
    """5.0 property block from (id, encoded value) pairs."""
    body = b"".join(bytes([i]) + v for i, v in items)
    return vbi(len(body)) + body


def connect_pkt(version=4, client_id=b"c", clean=True, keepalive=0, username=None, password=None,
                prop_block=None, level=None, name=b"MQTT"):
    flags = (0x02 if clean else 0) | (0x80 if username is not None else 0) | \
            (0x40 if password is not None else 0)
    body = mstr(name) + bytes([level if level is not None else version, flags]) + \
        keepalive.to_bytes(2, "big")
    if version == 5:
        body += prop_block if prop_block is not None else b"\x00"
    body += mstr(client_id)
    if username is not None:
        body += mstr(username)
    if password is not None:
        body += mstr(password)
    return packet(0x10, body)


def publish_pkt(topic, payload, qos=0, pid=0, dup=False, version=4, prop_block=b"\x00", retain=False):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = mstr(topic) + (pid.to_bytes(2, "big") if qos else b"")
    if version == 5:
        body += prop_block
    return packet(first, body + payload)


def pubrel_pkt(pid):
    return packet(0x62, pid.to_bytes(2, "big"))


def subscribe_pkt(pid, filters, version=4, flags=0x2):
    body = pid.to_bytes(2, "big") + (b"\x00" if version == 5 else b"")
    for f in filters:
        body += mstr(f) + b"\x01"
    return packet(0x80 | flags, body)


def unsubscribe_pkt(pid, filters, version=4):
    body = pid.to_bytes(2, "big") + (b"\x00" if version == 5 else b"")
    for f in filters:
        body += mstr(f)
    return packet(0xA2, body)


PINGREQ = b"\xc0\x00"

# 5.0 property ids and how their values are read: (id: kind).
PROP_KINDS = {0x01: "u8", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "vbi",
              0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "u8",
              0x18: "u32", 0x19: "u8", 0x1A: "str", 0x1C: "str", 0x1F: "str", 0x21: "u16",
              0x22: "u16", 0x23: "u16", 0x24: "u8", 0x25: "u8", 0x26: "pair", 0x27: "u32",
              0x28: "u8", 0x29: "u8", 0x2A: "u8"}


def read_vbi(buf, off):
    n, shift = 0, 0
    while True:
        b = buf[off]
        off += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, off


def parse_props(buf, off):
    """A property block at off: ({id: value}, offset past it)."""
    length, off = read_vbi(buf, off)
    end, out = off + length, {}
    while off < end:
        pid, off = read_vbi(buf, off)
        kind = PROP_KINDS[pid]
        if kind in ("u8", "u16", "u32"):
            size = {"u8": 1, "u16": 2, "u32": 4}[kind]
            out[pid] = int.from_bytes(buf[off:off + size], "big")
            off += size
        elif kind == "vbi":
            out[pid], off = read_vbi(buf, off)
        else:
            n = int.from_bytes(buf[off:off + 2], "big")
            val = bytes(buf[off + 2:off + 2 + n])
            off += 2 + n
            if kind == "pair":
                m = int.from_bytes(buf[off:off + 2], "big")
                val = (val, bytes(buf[off + 2:off + 2 + m]))
                off += 2 + m
            out[pid] = val.decode() if kind == "str" else val
    assert off == end, "property block overran"
    return out, off


class Conn:
    """A raw MQTT connection: bytes out, packets (first byte, body) in."""

    def __init__(self, d, version=4, client_id=None, do_connect=True, rcvbuf=None, **kw):
        self.version = version
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(mqtt_port(d))
        self.buf = bytearray()
        self.eof = False
        self.connack = None
        if do_connect:
            cid = client_id if client_id is not None else ("raw-%d" % random.getrandbits(40)).encode()
            self.send(connect_pkt(version, cid, **kw))
            self.connack = self.read()
            assert self.connack is not None and self.connack[0] == CONNACK, self.connack
            assert self.connack[1][1] == 0, "CONNACK refused: %r" % (self.connack,)

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk

    def _take(self):
        """A whole packet from the buffer, or None."""
        if len(self.buf) < 2:
            return None
        n, shift, off = 0, 0, 1
        while True:
            if off >= len(self.buf):
                return None
            b = self.buf[off]
            off += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if len(self.buf) < off + n:
            return None
        first, body = self.buf[0], bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        return first, body

    def read(self, timeout=5):
        """The next packet; None when the server closed the connection first."""
        deadline = time.monotonic() + timeout
        while True:
            p = self._take()
            if p:
                return p
            if self.eof:
                return None
            try:
                self._fill(deadline)
            except socket.timeout:
                raise AssertionError("no packet from the server within %ss" % timeout)

    def poll(self, timeout=0.5):
        """The next packet, or None if none came within timeout (connection still open)."""
        try:
            return self.read(timeout)
        except AssertionError:
            return None

    def closed(self, timeout=5):
        """Wait for the server to close; the packets it sent before."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            p = self._take()
            if p:
                got.append(p)
                continue
            if self.eof:
                return got
            try:
                self._fill(deadline)
            except socket.timeout:
                raise AssertionError("connection still open after %ss (got %r)" % (timeout, got))

    def close(self):
        self.sock.close()


def ack_fields(p):
    """(type byte, packet id, reason code) of a PUBACK/PUBREC/PUBCOMP."""
    first, body = p
    return first, int.from_bytes(body[:2], "big"), body[2] if len(body) > 2 else 0


def connack_fields(p, version):
    """(session present, code, props) of a CONNACK."""
    first, body = p
    assert first == CONNACK, p
    pr = parse_props(body, 2)[0] if version == 5 else {}
    return body[0], body[1], pr


class MqttTest(DaemonTest):
    def conn(self, d, *a, **kw):
        c = Conn(d, *a, **kw)
        self.addCleanup(c.close)
        return c

    def mosquitto_pub(self, d, *args, stdin=None, expect=0):
        host, port = mqtt_port(d)
        r = subprocess.run(["mosquitto_pub", "-h", host, "-p", str(port), *args], input=stdin,
                           capture_output=True, text=True, timeout=30)
        if expect is not None:
            self.assertEqual(r.returncode, expect, "mosquitto_pub %r: %s%s" % (args, r.stdout, r.stderr))
        return r

    def assertClosed(self, c, timeout=5):
        return c.closed(timeout)

    def assertDisconnect(self, got, reason):
        """5.0: the packets before the close end with DISCONNECT reason."""
        self.assertTrue(got, "closed without a DISCONNECT (expected reason 0x%02x)" % reason)
        first, body = got[-1]
        self.assertEqual(first, DISCONNECT, got)
        self.assertEqual(body[0], reason, "DISCONNECT reason 0x%02x, expected 0x%02x: %r"
                         % (body[0], reason, got))
        return parse_props(body, 1)[0] if len(body) > 1 else {}


# --- 1. mosquitto_pub ----------------------------------------------------------------------

class MosquittoPub(MqttTest):
    def test_versions_and_qos_read_back(self):
        d = self.daemon()
        want = {}
        for vi, version in enumerate(("mqttv311", "mqttv5")):
            for qos in (0, 1, 2):
                ival = 1000 * (vi + 1) + 10 * qos + 7
                fval = ival / 4 + 0.5  # exact in binary
                for kind, val in (("int", str(ival)), ("float", repr(fval))):
                    tag = "mp/%s/q%d/%s" % (version, qos, kind)
                    self.mosquitto_pub(d, "-V", version, "-q", str(qos), "-t", tag, "-m", val,
                                       "-i", "mp-%s-%d-%s" % (version, qos, kind))
                    want[tag] = (kind, ival if kind == "int" else fval)
        for tag, (kind, val) in want.items():
            got = wait_samples(d, tag, 1)  # QoS 0 has no ack to wait for
            doc = d.raw(tag)
            self.assertEqual([s["v"] for s in got], [val], tag)
            self.assertEqual(doc["type"], "integer" if kind == "int" else "float", tag)
            self.assertEqual(got[0]["q"], 0)
        m = metrics(d)
        self.assertEqual(m["historian_mqtt_messages_total"], len(want))
        self.assertEqual(m['historian_mqtt_packets_total{type="PUBLISH"}'], len(want))
        self.assertEqual(m['historian_mqtt_packets_total{type="PUBREL"}'], 4)  # QoS 2 x 2 x 2
        self.assertEqual(m["historian_mqtt_protocol_errors_total"], 0)

    def test_stdin_lines_many_messages_one_connection(self):
        d = self.daemon()
        n = 500
        for version in ("mqttv311", "mqttv5"):
            tag = "mp/lines/" + version
            base = 7 if version == "mqttv5" else 3
            lines = "".join("%d\n" % (base * i - 250) for i in range(n))
            self.mosquitto_pub(d, "-V", version, "-q", "1", "-t", tag, "-l", stdin=lines)
            got = wait_samples(d, tag, n)
            self.assertEqual(sorted(s["v"] for s in got), sorted(base * i - 250 for i in range(n)))
        m = metrics(d)
        self.assertEqual(m['historian_mqtt_packets_total{type="CONNECT"}'], 2)
        self.assertEqual(m["historian_mqtt_messages_total"], 2 * n)
        self.assertEqual(m["historian_mqtt_samples_total"], 2 * n)


# --- 2. paho -------------------------------------------------------------------------------

class Paho(MqttTest):
    def client(self, d, proto, cid):
        c = paho.Client(client_id=cid, protocol=proto)
        c.max_inflight_messages_set(64)
        connected = threading.Event()
        c.user = {"sub": [], "unsub": [], "rc": None}

        def on_connect(client, userdata, flags, rc, properties=None):
            c.user["rc"] = rc
            connected.set()

        c.on_connect = on_connect
        host, port = mqtt_port(d)
        c.connect(host, port, keepalive=30)
        c.loop_start()
        self.addCleanup(c.loop_stop)
        self.assertTrue(connected.wait(5), "paho never connected")
        self.assertEqual(int(c.user["rc"]) if proto == paho.MQTTv311 else c.user["rc"].value, 0)
        return c

    def test_versions_qos_many_messages_exactly_once(self):
        d = self.daemon()
        n = 300
        for proto, pname in ((paho.MQTTv311, "v311"), (paho.MQTTv5, "v5")):
            c = self.client(d, proto, "paho-" + pname)
            for qos in (0, 1, 2):
                tag = "paho/%s/q%d" % (pname, qos)
                infos = [c.publish(tag, str(i * 3 + qos), qos=qos) for i in range(n)]
                for info in infos:
                    info.wait_for_publish(10)
                    self.assertTrue(info.is_published(), "paho message %d not acknowledged" % info.mid)
                got = wait_samples(d, tag, n, timeout=10)
                self.assertEqual(sorted(s["v"] for s in got), [i * 3 + qos for i in range(n)], tag)
            c.disconnect()
        time.sleep(0.2)  # nothing more arrives after the ends
        for pname in ("v311", "v5"):
            for qos in (0, 1, 2):
                self.assertEqual(len(samples(d, "paho/%s/q%d" % (pname, qos))), n)
        self.assertEqual(metrics(d)["historian_mqtt_duplicates_total"], 0)

    def test_subscribe_refused_connection_stays_up(self):
        d = self.daemon()
        for proto, pname in ((paho.MQTTv311, "v311"), (paho.MQTTv5, "v5")):
            c = self.client(d, proto, "paho-sub-" + pname)
            subbed, unsubbed = threading.Event(), threading.Event()
            got = {}

            if proto == paho.MQTTv311:
                def on_subscribe(client, userdata, mid, granted):
                    got["sub"] = (mid, list(granted), None)
                    subbed.set()

                def on_unsubscribe(client, userdata, mid):
                    got["unsub"] = (mid, None)
                    unsubbed.set()
            else:
                def on_subscribe(client, userdata, mid, codes, properties):
                    got["sub"] = (mid, [rc.value for rc in codes],
                                  getattr(properties, "ReasonString", None))
                    subbed.set()

                def on_unsubscribe(client, userdata, mid, properties, codes):
                    codes = codes if isinstance(codes, list) else [codes]
                    got["unsub"] = (mid, [rc.value for rc in codes])
                    unsubbed.set()
            c.on_subscribe, c.on_unsubscribe = on_subscribe, on_unsubscribe
            _, mid = c.subscribe([("a/#", 1), ("b/+/c", 0)])
            self.assertTrue(subbed.wait(5), "no SUBACK")
            self.assertEqual(got["sub"][0], mid)
            self.assertEqual(got["sub"][1], [0x80, 0x80])
            if proto == paho.MQTTv5:
                self.assertEqual(got["sub"][2],
                                 "historian stores messages and forwards none: no subscriptions")
            _, umid = c.unsubscribe(["a/#"])
            self.assertTrue(unsubbed.wait(5), "no UNSUBACK")
            self.assertEqual(got["unsub"][0], umid)
            if proto == paho.MQTTv5:
                self.assertEqual(got["unsub"][1], [0x11])
            # Still connected: a QoS 1 message after it is acknowledged and stored.
            tag = "paho/after-sub/" + pname
            info = c.publish(tag, "41", qos=1)
            info.wait_for_publish(5)
            self.assertTrue(info.is_published())
            self.assertTrue(c.is_connected())
            self.assertEqual([s["v"] for s in samples(d, tag)], [41])
            c.disconnect()
        m = metrics(d)
        self.assertEqual(m['historian_mqtt_packets_total{type="SUBSCRIBE"}'], 2)
        self.assertEqual(m['historian_mqtt_packets_total{type="UNSUBSCRIBE"}'], 2)
        self.assertEqual(m["historian_mqtt_protocol_errors_total"], 0)


# --- 3. topic rules and payload formats ----------------------------------------------------

MAP_CONFIG = ("[mqtt]\nmap = plant/+site/+area/#rest {site}.{area}.{rest} json; "
              "lp/# ignored lp; num/# n.{topic} number; js/+dev/# {dev} json\n")
T0 = "2025-01-15T08:00:00Z"
T0_NS = epoch_ns(T0)
T0_S = T0_NS // SEC


class Mapping(MqttTest):
    def pub(self, d, topic, payload, version=5, qos=1):
        """Publish on a fresh raw connection; the ack's reason (0 for 3.1.1 or QoS 0)."""
        c = self.conn(d, version)
        c.send(publish_pkt(topic, payload, qos=qos, pid=1, version=version))
        reason = 0
        if qos:
            first, pid, reason = ack_fields(c.read())
            self.assertEqual((first, pid), (PUBACK if qos == 1 else PUBREC, 1))
        c.send(packet(0xE0, b""))
        c.closed()
        return reason

    def test_named_captures_and_json_value_ts_quality(self):
        d = self.daemon(config=MAP_CONFIG)
        self.assertEqual(self.pub(d, "plant/north/boiler/temp",
                                  '{"value": 81.5, "ts": "%s", "quality": 0}' % T0), 0)
        tag = "north.boiler.temp,area=boiler,site=north"
        doc = d.raw(tag)
        self.assertEqual(doc["type"], "float")
        self.assertEqual([(s["t_ns"], s["v"], s["q"]) for s in doc["samples"]], [(T0_NS, 81.5, 0)])
        # epoch seconds, ms, us, ns, fractional seconds, RFC 3339 with a fraction and offset
        cases = [(T0_S + 1, T0_NS + SEC),
                 ((T0_S + 2) * 1000 + 123, T0_NS + 2 * SEC + 123_000_000),
                 ((T0_S + 3) * 1_000_000 + 7, T0_NS + 3 * SEC + 7000),
                 ((T0_S + 4) * SEC + 9, T0_NS + 4 * SEC + 9),
                 (T0_S + 5.5, T0_NS + 5 * SEC + SEC // 2),
                 ('"2025-01-15T09:00:06.25+01:00"', T0_NS + 6 * SEC + SEC // 4)]
        for i, (ts, _) in enumerate(cases):
            self.assertEqual(self.pub(d, "plant/north/boiler/temp",
                                      '{"v": %d.25, "t": %s, "q": 32768}' % (i, ts)), 0, ts)
        got = d.raw(tag)["samples"][1:]
        self.assertEqual([(s["t_ns"], s["v"], s["q"]) for s in got],
                         [(want, i + 0.25, 32768) for i, (_, want) in enumerate(cases)])
        # "#rest" takes the remaining levels, slashes and all
        self.pub(d, "plant/south/pump/7/speed", '{"value": 1450, "ts": %d}' % T0_S)
        doc = d.raw("south.pump.7/speed,area=pump,site=south")
        self.assertEqual(doc["type"], "integer")
        self.assertEqual([(s["t_ns"], s["v"]) for s in doc["samples"]], [(T0_NS, 1450)])

    def test_json_object_of_fields_and_arrays(self):
        d = self.daemon(config=MAP_CONFIG)
        self.pub(d, "plant/east/mill/motor",
                 '{"speed": 1200, "current": 12.5, "running": true, "mode": "auto", "ts": %d}' % T0_S)
        base = "east.mill.motor.%s,area=mill,site=east"
        for field, typ, val in (("speed", "integer", 1200), ("current", "float", 12.5),
                                ("running", "boolean", True), ("mode", "string", "auto")):
            doc = d.raw(base % field)
            self.assertEqual(doc["type"], typ, field)
            self.assertEqual([(s["t_ns"], s["v"]) for s in doc["samples"]], [(T0_NS, val)], field)
        self.assertEqual(samples(d, base % "ts"), [])  # the time is no tag
        # an array of [t, v] and [t, v, q] pairs
        pairs = [[T0_S + 60 * i, 0.5 + i] for i in range(5)] + [[T0_S + 300, 9.5, 16384]]
        self.pub(d, "js/dev1/x", "[" + ", ".join(
            "[%s]" % ", ".join(str(x) for x in p) for p in pairs) + "]")
        got = d.raw("dev1,dev=dev1")["samples"]
        self.assertEqual([(s["t_ns"], s["v"], s["q"]) for s in got],
                         [(p[0] * SEC, p[1], p[2] if len(p) > 2 else 0) for p in pairs])
        # an array of objects
        self.pub(d, "js/dev2", '[{"v": 1, "t": "%s"}, {"value": 2, "ts": %d}]' % (T0, T0_S + 1))
        self.assertEqual([(s["t_ns"], s["v"]) for s in d.raw("dev2,dev=dev2")["samples"]],
                         [(T0_NS, 1), (T0_NS + SEC, 2)])

    def test_big_json_array_across_many_reads(self):
        d = self.daemon(config=MAP_CONFIG)
        n = 20000
        body = "[" + ",".join("[%d,%d]" % (T0_NS + i * 1000, i * 7) for i in range(n)) + "]"
        self.assertGreater(len(body), 300_000)
        self.pub(d, "js/big", body, version=4)
        got = d.raw("big,dev=big")["samples"]
        self.assertEqual([(s["t_ns"], s["v"]) for s in got], [(T0_NS + i * 1000, i * 7) for i in range(n)])

    def test_line_protocol_payloads(self):
        d = self.daemon(config=MAP_CONFIG)
        lp = ("boiler,site=south temp=70.5,pressure=2i %d\n"
              "boiler,site=south temp=71.25 %d\n" % (T0_NS, T0_NS + SEC))
        self.assertEqual(self.pub(d, "lp/anything", lp), 0)
        self.assertEqual([(s["t_ns"], s["v"]) for s in d.raw("boiler.temp,site=south")["samples"]],
                         [(T0_NS, 70.5), (T0_NS + SEC, 71.25)])
        self.assertEqual(d.raw("boiler.pressure,site=south")["type"], "integer")
        self.assertEqual(samples(d, "ignored"), [])
        # auto format, no rule: not JSON, not a number -> line protocol
        self.pub(d, "unmatched/topic", "tank,area=a\\,b level=3.5 %d" % T0_NS)
        self.assertEqual([s["v"] for s in d.raw("tank.level,area=a\\,b")["samples"]], [3.5])

    def test_booleans_and_number_texts(self):
        d = self.daemon(config=MAP_CONFIG)
        for topic, payload, typ, val in (("b/true", "true", "boolean", True),
                                         ("b/off", "off", "boolean", False),
                                         ("b/ON", " ON\n", "boolean", True),
                                         ("b/False", "False", "boolean", False),
                                         ("x/neg", "-3", "integer", -3),
                                         ("x/exp", "1e3", "float", 1000.0),
                                         ("x/spaces", " 81.5\r\n", "float", 81.5)):
            self.assertEqual(self.pub(d, topic, payload), 0, topic)
            doc = d.raw(topic)
            self.assertEqual(doc["type"], typ, topic)
            self.assertEqual([s["v"] for s in doc["samples"]], [val], topic)
        # the number rule prefixes the tag
        self.pub(d, "num/a", "12")
        self.assertEqual([s["v"] for s in d.raw("n.num/a")["samples"]], [12])

    def test_unreadable_payload_dropped_counted_connection_stays_up(self):
        d = self.daemon(config=MAP_CONFIG)
        c = self.conn(d, 5)
        bad = [("num/x", "twelve"), ("js/d/x", "{not json"), ("js/d/x", '{"value": [1]}'),
               ("js/d/x", '{"value": 1, "ts": "yesterday"}'), ("js/d/x", '{"v": 1, "q": 70000}'),
               ("plant/a/b/c", "12")]  # a json rule with a JSON number is fine: last is good
        for i, (topic, payload) in enumerate(bad):
            c.send(publish_pkt(topic, payload, qos=1, pid=100 + i, version=5))
            first, pid, reason = ack_fields(c.read())
            self.assertEqual((first, pid), (PUBACK, 100 + i))
            self.assertEqual(reason, 0x00 if topic == "plant/a/b/c" else 0x99, (topic, payload))
        # QoS 2: PUBREC 0x99
        c.send(publish_pkt("num/y", "nan-ish", qos=2, pid=200, version=5))
        self.assertEqual(ack_fields(c.read()), (PUBREC, 200, 0x99))
        # still up
        c.send(PINGREQ)
        self.assertEqual(c.read(), (PINGRESP, b""))
        c.send(publish_pkt("num/z", "5", qos=1, pid=201, version=5))
        self.assertEqual(ack_fields(c.read()), (PUBACK, 201, 0))
        self.assertEqual([s["v"] for s in d.raw("n.num/z")["samples"]], [5])
        self.assertEqual(samples(d, "n.num/x"), [])
        self.assertEqual(samples(d, "d.x,dev=d"), [])
        m = metrics(d)
        self.assertEqual(m["historian_mqtt_payload_errors_total"], 6)
        self.assertEqual(m["historian_mqtt_protocol_errors_total"], 0)
        self.assertEqual(m["historian_mqtt_connections"], 1)
        d.wait_log(r"message dropped")

    def test_unreadable_line_protocol_payload_counted_once(self):
        # auto format falls back to line protocol: "garbage" is one message dropped
        d = self.daemon()
        c = self.conn(d, 5)
        c.send(publish_pkt("auto/x", "garbage", qos=1, pid=1, version=5))
        self.assertEqual(ack_fields(c.read()), (PUBACK, 1, 0x99))
        self.assertEqual(metrics(d)["historian_mqtt_payload_errors_total"], 1,
                         "one dropped message counted more than once")

    def test_type_conflict_dropped_with_reason_0x99(self):
        # docs/MQTT.md: a value of another type than its tag's is dropped, counted, and acknowledged
        # with 0x99 in 5.0.
        d = self.daemon()
        c = self.conn(d, 5)
        c.send(publish_pkt("conflict/x", "5", qos=1, pid=1, version=5))
        self.assertEqual(ack_fields(c.read()), (PUBACK, 1, 0))
        c.send(publish_pkt("conflict/x", "true", qos=1, pid=2, version=5))
        ack = ack_fields(c.read())
        self.assertEqual([s["v"] for s in d.raw("conflict/x")["samples"]], [5])
        self.assertEqual(metrics(d)["historian_mqtt_payload_errors_total"], 1)
        self.assertEqual(ack, (PUBACK, 2, 0x99), "type conflict acknowledged as a success")


    def test_qos2_id_reused_after_a_type_conflict(self):
        # A 5.0 QoS 2 message refused for its type must not leave its packet id behind: the
        # next message with that id is new and is stored (review finding: it was taken for a
        # redelivery and lost).
        d = self.daemon()
        c = self.conn(d, 5)
        c.send(publish_pkt("reuse/x", "1.5", qos=2, pid=1, version=5))
        self.assertEqual(ack_fields(c.read()), (PUBREC, 1, 0))
        c.send(publish_pkt("reuse/x", '"abc"', qos=2, pid=2, version=5))
        self.assertEqual(ack_fields(c.read()), (PUBREC, 2, 0x99))
        c.send(publish_pkt("reuse/x", "2.5", qos=2, pid=2, version=5))
        self.assertEqual(ack_fields(c.read()), (PUBREC, 2, 0))
        self.assertEqual(sorted(s["v"] for s in d.raw("reuse/x")["samples"]), [1.5, 2.5])
        self.assertEqual(metrics(d)["historian_mqtt_duplicates_total"], 0)

    def test_reasons_per_message_in_one_write(self):
        d = self.daemon(config=MAP_CONFIG)
        c = self.conn(d, 5)
        msgs = [("mix/a", "1"), ("num/b", "x"), ("mix/c", "2.5"), ("js/e/f", "{"), ("mix/d", "on")]
        c.send(b"".join(publish_pkt(t, p, qos=1, pid=i + 1, version=5) for i, (t, p) in enumerate(msgs)))
        self.assertEqual([ack_fields(c.read()) for _ in msgs],
                         [(PUBACK, 1, 0), (PUBACK, 2, 0x99), (PUBACK, 3, 0), (PUBACK, 4, 0x99), (PUBACK, 5, 0)])
        self.assertEqual([s["v"] for s in d.raw("mix/a")["samples"]], [1])
        self.assertEqual([s["v"] for s in d.raw("mix/c")["samples"]], [2.5])
        self.assertEqual([s["v"] for s in d.raw("mix/d")["samples"]], [True])
        self.assertEqual(metrics(d)["historian_mqtt_payload_errors_total"], 2)

    def test_hash_capture_matching_zero_levels(self):
        # mqtt_map.h: "#name" matches zero or more levels, so plant/north/boiler matches the
        # documented example rule with rest empty. The daemon must survive it.
        d = self.daemon(config=MAP_CONFIG)
        c = self.conn(d, 5)
        c.send(publish_pkt("plant/north/boiler", '{"value": 1}', qos=1, pid=1, version=5))
        p = c.poll(3)
        time.sleep(0.2)
        self.assertIsNone(d.proc.poll(), "historiand died (exit status %s) on a PUBLISH to "
                          "plant/north/boiler with rule plant/+site/+area/#rest {site}.{area}.{rest}"
                          % d.proc.returncode)
        self.assertIsNotNone(p, "no PUBACK")
        self.assertIn(ack_fields(p), [(PUBACK, 1, 0), (PUBACK, 1, 0x99)])
        self.assertEqual(d.json("/health")["status"], "ok")

    def test_empty_payload_is_unreadable(self):
        # docs/MQTT.md: a payload that cannot be read is dropped, counted, and acknowledged with
        # 0x99 in 5.0; an empty payload holds no value.
        d = self.daemon()
        c = self.conn(d, 5)
        c.send(publish_pkt("empty/x", b"", qos=1, pid=1, version=5))
        ack = ack_fields(c.read())
        self.assertEqual(samples(d, "empty/x"), [])
        self.assertEqual((ack, metrics(d)["historian_mqtt_payload_errors_total"]), ((PUBACK, 1, 0x99), 1),
                         "an empty payload is dropped silently and acknowledged as a success")


# --- 4. raw bytes --------------------------------------------------------------------------

class RawProtocol(MqttTest):
    def test_malformed_packets_close(self):
        d = self.daemon()
        cases = [
            ("remaining length of 5 bytes", 4, b"\x30\xff\xff\xff\xff\x01"),
            ("remaining length of 5 bytes (5.0)", 5, b"\x30\xff\xff\xff\xff\x01"),
            ("PINGREQ flags 0001", 4, b"\xc1\x00"),
            ("PINGREQ flags 0001 (5.0)", 5, b"\xc1\x00"),
            ("SUBSCRIBE flags 0000", 4, subscribe_pkt(1, ["a"], flags=0)),
            ("PUBREL flags 0000", 4, packet(0x60, b"\x00\x01")),
            ("PUBLISH QoS 3", 4, packet(0x36, mstr("a") + b"\x00\x01x")),
            ("PUBLISH QoS 1 packet id 0", 4, publish_pkt("a", "1", qos=1, pid=0)),
            ("invalid UTF-8 in topic", 4, publish_pkt(b"a/\xff", "1")),
            ("UTF-16 surrogate in topic", 4, publish_pkt(b"a/\xed\xa0\x80", "1")),
            ("overlong UTF-8 in topic", 5, publish_pkt(b"a/\xc0\xaf", "1", version=5)),
            ("U+0000 in topic", 4, publish_pkt(b"a\x00b", "1")),
            ("'+' in PUBLISH topic", 4, publish_pkt("a/+/b", "1")),
            ("'#' in PUBLISH topic", 5, publish_pkt("a/#", "1", version=5)),
            ("empty topic", 4, publish_pkt("", "1")),
            ("packet type 0", 4, b"\x00\x00"),
            ("AUTH in 3.1.1", 4, b"\xf0\x00"),
            ("CONNACK from a client", 4, b"\x20\x02\x00\x00"),
        ]
        for what, version, data in cases:
            with self.subTest(what):
                c = self.conn(d, version)
                before = metrics(d)["historian_mqtt_protocol_errors_total"]
                c.send(data)
                got = self.assertClosed(c)
                if version == 5:
                    self.assertIn(got[-1][0] if got else None, (DISCONNECT,), what)
                    self.assertIn(got[-1][1][0], (0x81, 0x82), what)
                else:
                    self.assertEqual(got, [], what)
                metric_wait(d, "historian_mqtt_protocol_errors_total", before + 1)
        self.assertEqual(d.json("/health")["status"], "ok")

    def test_bad_length_before_connect_closes(self):
        d = self.daemon()
        c = self.conn(d, do_connect=False)
        c.send(b"\x10\xff\xff\xff\xff\x7f")
        self.assertEqual(self.assertClosed(c), [])

    def test_max_packet_size(self):
        d = self.daemon(config="[mqtt]\nmax_packet_size = 1KiB\n")
        c = self.conn(d, 5)
        self.assertEqual(connack_fields(c.connack, 5)[2].get(0x27), 1024)
        # exactly 1024 bytes is allowed
        head = len(publish_pkt("big/ok", b"", qos=1, pid=1, version=5))
        payload = b"1" + b" " * (1022 - head)  # one more byte of remaining length
        p = publish_pkt("big/ok", payload, qos=1, pid=1, version=5)
        self.assertEqual(len(p), 1024)
        c.send(p)
        self.assertEqual(ack_fields(c.read()), (PUBACK, 1, 0))
        # 1025: DISCONNECT 0x95 as soon as the header says so
        p = publish_pkt("big/ok", payload + b" ", qos=1, pid=2, version=5)
        self.assertEqual(len(p), 1025)
        c.send(p[:8])
        self.assertDisconnect(self.assertClosed(c), 0x95)
        c = self.conn(d, 4)
        c.send(p)
        self.assertEqual(self.assertClosed(c), [])
        self.assertEqual([s["v"] for s in d.raw("big/ok")["samples"]], [1])
        self.assertEqual(metrics(d)["historian_mqtt_protocol_errors_total"], 2)

    def test_publish_before_connect_closes(self):
        d = self.daemon()
        for data in (publish_pkt("early", "1"), PINGREQ, subscribe_pkt(1, ["a"])):
            c = self.conn(d, do_connect=False)
            c.send(data)
            self.assertEqual(self.assertClosed(c), [])
        self.assertEqual(samples(d, "early"), [])
        self.assertEqual(metrics(d)["historian_mqtt_protocol_errors_total"], 3)

    def test_second_connect_closes(self):
        d = self.daemon()
        c = self.conn(d, 4)
        c.send(connect_pkt(4, b"again"))
        self.assertEqual(self.assertClosed(c), [])
        c = self.conn(d, 5)
        c.send(connect_pkt(5, b"again5"))
        self.assertDisconnect(self.assertClosed(c), 0x82)

    def test_unsupported_protocol_levels(self):
        d = self.daemon()
        for name, level in ((b"MQIsdp", 3), (b"MQTT", 3), (b"MQTT", 6), (b"MQTT", 0)):
            with self.subTest(level=level, name=name):
                c = self.conn(d, do_connect=False)
                c.send(connect_pkt(4, b"old", name=name, level=level))
                got = self.assertClosed(c)
                self.assertEqual(got, [(CONNACK, b"\x00\x01")])

    def qos2_once(self, d, version, c, pid, tag, value):
        c.send(publish_pkt(tag, value, qos=2, pid=pid, version=version))
        self.assertEqual(ack_fields(c.read()), (PUBREC, pid, 0))

    def test_qos2_redelivery_stored_once(self):
        d = self.daemon()
        for version in (4, 5):
            with self.subTest(version=version):
                tag = "q2/v%d" % version
                c = self.conn(d, version)
                before = metrics(d)
                self.qos2_once(d, version, c, 7, tag, "70")
                # The redelivery, alone in its write: another PUBREC, nothing stored.
                c.send(publish_pkt(tag, "70", qos=2, pid=7, dup=True, version=version))
                prompt = c.poll(2)
                c.send(pubrel_pkt(7))
                got = [prompt] if prompt else []
                while len(got) < 2:
                    p = c.read()
                    self.assertIsNotNone(p, "closed")
                    got.append(p)
                self.assertEqual([ack_fields(p) for p in got], [(PUBREC, 7, 0), (PUBCOMP, 7, 0)])
                self.assertEqual([s["v"] for s in d.raw(tag)["samples"]], [70])
                m = metrics(d)
                self.assertEqual(m["historian_mqtt_duplicates_total"] - before["historian_mqtt_duplicates_total"], 1)
                self.assertEqual(m["historian_mqtt_messages_total"] - before["historian_mqtt_messages_total"], 1)
                # After PUBREL the id is free: the same id is a new message.
                self.qos2_once(d, version, c, 7, tag, "71")
                c.send(pubrel_pkt(7))
                self.assertEqual(ack_fields(c.read()), (PUBCOMP, 7, 0))
                self.assertEqual([s["v"] for s in d.raw(tag)["samples"]], [70, 71])
                self.assertIsNotNone(prompt, "the PUBREC of a QoS 2 redelivery sent alone waited "
                                     "for the next packet (the PUBREL) instead of going out")

    def test_qos2_redelivery_with_new_message_in_same_write(self):
        d = self.daemon()
        c = self.conn(d, 4)
        self.qos2_once(d, 4, c, 5, "q2/mix", "1")
        c.send(publish_pkt("q2/mix", "1", qos=2, pid=5, dup=True) + publish_pkt("q2/mix", "2", qos=2, pid=6))
        self.assertEqual([ack_fields(c.read()) for _ in range(2)], [(PUBREC, 5, 0), (PUBREC, 6, 0)])
        c.send(pubrel_pkt(5) + pubrel_pkt(6))
        self.assertEqual([ack_fields(c.read()) for _ in range(2)], [(PUBCOMP, 5, 0), (PUBCOMP, 6, 0)])
        self.assertEqual([s["v"] for s in d.raw("q2/mix")["samples"]], [1, 2])

    def test_qos2_redelivery_after_reconnect_with_session(self):
        d = self.daemon()
        c = self.conn(d, 4, client_id=b"persist", clean=False)
        self.assertEqual(connack_fields(c.connack, 4)[0], 0)
        self.qos2_once(d, 4, c, 9, "q2/sess", "90")
        c.close()
        c = self.conn(d, 4, client_id=b"persist", clean=False)
        self.assertEqual(connack_fields(c.connack, 4)[0], 1, "session present")
        c.send(publish_pkt("q2/sess", "90", qos=2, pid=9, dup=True) + pubrel_pkt(9))
        self.assertEqual([ack_fields(c.read()) for _ in range(2)], [(PUBREC, 9, 0), (PUBCOMP, 9, 0)])
        self.assertEqual([s["v"] for s in d.raw("q2/sess")["samples"]], [90])
        self.assertEqual(metrics(d)["historian_mqtt_duplicates_total"], 1)

    def test_pubrel_unknown_id(self):
        d = self.daemon()
        c = self.conn(d, 5)
        c.send(pubrel_pkt(33))
        self.assertEqual(ack_fields(c.read()), (PUBCOMP, 33, 0x92))
        c = self.conn(d, 4)
        c.send(pubrel_pkt(34))
        self.assertEqual(c.read(), (PUBCOMP, b"\x00\x22"))

    def test_qos2_unreadable_payloads_do_not_wedge_the_connection(self):
        # A QoS 2 message with an unreadable payload counts as in flight; its PUBREC (5.0: 0x99,
        # which ends the exchange) or the PUBREL/PUBCOMP (3.1.1) must release it, else the
        # connection runs out of receive maximum.
        d = self.daemon(config="[mqtt]\nreceive_maximum = 4\n")
        for version in (4, 5):
            with self.subTest(version=version):
                c = self.conn(d, version)
                for pid in range(1, 13):
                    c.send(publish_pkt("bad2/x", "not a value", qos=2, pid=pid, version=version))
                    p = c.poll(3)
                    self.assertIsNotNone(p, "no PUBREC for unreadable QoS 2 message %d" % pid)
                    self.assertEqual(ack_fields(p), (PUBREC, pid, 0x99 if version == 5 else 0),
                                     "unreadable QoS 2 message %d of 12 (receive_maximum 4)" % pid)
                    if version == 4:  # 3.1.1 goes on with PUBREL
                        c.send(pubrel_pkt(pid))
                        p = c.poll(3)
                        self.assertIsNotNone(p, "no PUBCOMP for message %d: the connection is no "
                                             "longer read (unreadable QoS 2 messages stay in flight)" % pid)
                        self.assertEqual(ack_fields(p)[:2], (PUBCOMP, pid))
                c.send(publish_pkt("bad2/ok", "1", qos=1, pid=99, version=version))
                p = c.poll(3)
                self.assertIsNotNone(p, "no PUBACK after 12 unreadable QoS 2 messages")
                self.assertEqual(ack_fields(p), (PUBACK, 99, 0))

    def test_receive_maximum_exceeded_5(self):
        d = self.daemon(config="[mqtt]\nreceive_maximum = 4\n")
        c = self.conn(d, 5)
        self.assertEqual(connack_fields(c.connack, 5)[2].get(0x21), 4)
        c.send(b"".join(publish_pkt("rm/x", str(i), qos=1, pid=i + 1, version=5) for i in range(40)))
        got = self.assertClosed(c)
        self.assertDisconnect(got, 0x93)
        acked = [ack_fields(p)[1] for p in got[:-1]]
        self.assertEqual(acked, list(range(1, len(acked) + 1)))

    def test_topic_alias_5(self):
        d = self.daemon(config="[mqtt]\ntopic_alias_maximum = 2\n")
        c = self.conn(d, 5)
        self.assertEqual(connack_fields(c.connack, 5)[2].get(0x22), 2)
        alias = lambda n: props((0x23, n.to_bytes(2, "big")))
        c.send(publish_pkt("alias/one", "1", qos=1, pid=1, version=5, prop_block=alias(1)) +
               publish_pkt("", "2", qos=1, pid=2, version=5, prop_block=alias(1)))
        self.assertEqual([ack_fields(c.read()) for _ in range(2)], [(PUBACK, 1, 0), (PUBACK, 2, 0)])
        self.assertEqual([s["v"] for s in d.raw("alias/one")["samples"]], [1, 2])
        c.send(publish_pkt("alias/two", "3", qos=1, pid=3, version=5, prop_block=alias(3)))
        self.assertDisconnect(self.assertClosed(c), 0x94)
        c = self.conn(d, 5)
        c.send(publish_pkt("", "3", qos=1, pid=3, version=5, prop_block=alias(2)))
        self.assertDisconnect(self.assertClosed(c), 0x82)

    def test_keepalive_expiry(self):
        d = self.daemon()
        for version in (4, 5):
            with self.subTest(version=version):
                t0 = time.monotonic()
                c = self.conn(d, version, keepalive=1)
                got = self.assertClosed(c, timeout=5)
                elapsed = time.monotonic() - t0
                self.assertGreaterEqual(elapsed, 1.4)
                self.assertLess(elapsed, 2.9, "keep alive of 1 s: closed after %.2f s" % elapsed)
                if version == 5:
                    self.assertDisconnect(got, 0x8D)
                else:
                    self.assertEqual(got, [])
        # pinging keeps it alive
        c = self.conn(d, 4, keepalive=1)
        for _ in range(5):
            time.sleep(0.5)
            c.send(PINGREQ)
            self.assertEqual(c.read(), (PINGRESP, b""))
        self.assertEqual(metrics(d)["historian_mqtt_protocol_errors_total"], 0)

    def test_pingreq(self):
        d = self.daemon()
        c = self.conn(d, 4)
        c.send(PINGREQ * 3)
        self.assertEqual([c.read() for _ in range(3)], [(PINGRESP, b"")] * 3)
        self.assertEqual(metrics(d)['historian_mqtt_packets_total{type="PINGREQ"}'], 3)

    def test_username_password(self):
        d = self.daemon(config="[mqtt]\nusername = plant\npassword = s3cret\n")
        refusals = [(4, dict(username=b"plant", password=b"wrong"), b"\x00\x04"),
                    (4, dict(), b"\x00\x04"),
                    (4, dict(username=b"plant"), b"\x00\x04"),
                    (4, dict(username=b"other", password=b"s3cret"), b"\x00\x04"),
                    (5, dict(username=b"plant", password=b"s3cret!"), None),
                    (5, dict(), None)]
        for version, kw, want in refusals:
            with self.subTest(version=version, kw=kw):
                c = self.conn(d, version, do_connect=False)
                c.send(connect_pkt(version, b"login", **kw))
                got = self.assertClosed(c)
                self.assertEqual(len(got), 1, got)
                if version == 4:
                    self.assertEqual(got[0], (CONNACK, want))
                else:
                    self.assertEqual(connack_fields(got[0], 5)[:2], (0, 0x86))
        for version in (4, 5):
            c = self.conn(d, version, username=b"plant", password=b"s3cret")
            c.send(publish_pkt("auth/v%d" % version, "1", qos=1, pid=1, version=version))
            self.assertEqual(ack_fields(c.read())[:2], (PUBACK, 1))
        self.mosquitto_pub(d, "-u", "plant", "-P", "s3cret", "-q", "1", "-t", "auth/mp", "-m", "2")
        r = self.mosquitto_pub(d, "-u", "plant", "-P", "nope", "-q", "1", "-t", "auth/mp", "-m", "3",
                               expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("password", r.stderr.lower() + r.stdout.lower())
        self.assertEqual([s["v"] for s in d.raw("auth/mp")["samples"]], [2])

    def test_client_ids(self):
        d = self.daemon()
        c = self.conn(d, do_connect=False)
        c.send(connect_pkt(4, b"", clean=False))
        self.assertEqual(self.assertClosed(c), [(CONNACK, b"\x00\x02")])
        c = self.conn(d, 4, client_id=b"", clean=True)
        self.assertEqual(c.connack, (CONNACK, b"\x00\x00"))
        seen = set()
        for _ in range(2):
            c = self.conn(d, 5, client_id=b"")
            present, code, pr = connack_fields(c.connack, 5)
            self.assertEqual((present, code), (0, 0))
            self.assertIn(0x12, pr, "no Assigned Client Identifier")
            self.assertTrue(pr[0x12].startswith("historian-"), pr[0x12])
            seen.add(pr[0x12])
            c.send(publish_pkt("ids/x", "1", qos=1, pid=1, version=5))
            self.assertEqual(ack_fields(c.read()), (PUBACK, 1, 0))
        self.assertEqual(len(seen), 2, "two clients got the same id")
        # a client id given is not echoed
        c = self.conn(d, 5, client_id=b"mine")
        self.assertNotIn(0x12, connack_fields(c.connack, 5)[2])

    def test_session_takeover_kept_sessions(self):
        d = self.daemon()
        expiry = props((0x11, (60).to_bytes(4, "big")))
        a = self.conn(d, 5, client_id=b"same5", prop_block=expiry)
        b = self.conn(d, 5, client_id=b"same5", prop_block=expiry, clean=False)
        self.assertEqual(connack_fields(b.connack, 5)[0], 1, "session present")
        self.assertDisconnect(self.assertClosed(a), 0x8E)
        a = self.conn(d, 4, client_id=b"same4", clean=False)
        c = self.conn(d, 4, client_id=b"same4", clean=False)
        self.assertEqual(connack_fields(c.connack, 4)[0], 1, "session present")
        self.assertEqual(self.assertClosed(a), [])
        # clean start drops the kept session
        e = self.conn(d, 5, client_id=b"same5")
        self.assertEqual(connack_fields(e.connack, 5)[0], 0)
        self.assertDisconnect(self.assertClosed(b), 0x8E)
        for x in (c, e):
            x.send(PINGREQ)
            self.assertEqual(x.read(), (PINGRESP, b""))
        self.assertEqual(metrics(d)["historian_mqtt_protocol_errors_total"], 0)

    def test_kept_sessions_bounded_by_max_connections(self):
        # docs/MQTT.md: at most max_connections sessions are kept; past it the one offline
        # longest is dropped.
        d = self.daemon(config="[mqtt]\nmax_connections = 3\n")
        for n in range(4):
            c = self.conn(d, 4, client_id=b"kept-%d" % n, clean=False)
            c.send(b"\xe0\x00")  # DISCONNECT
            self.assertClosed(c)
            time.sleep(0.02)  # distinct offline times
        first = self.conn(d, 4, client_id=b"kept-0", clean=False)
        self.assertEqual(connack_fields(first.connack, 4)[0], 0, "the oldest session was kept")
        first.close()
        last = self.conn(d, 4, client_id=b"kept-3", clean=False)
        self.assertEqual(connack_fields(last.connack, 4)[0], 1, "the newest session was dropped")
        self.assertIn("dropping kept-0", d.log())

    def test_session_takeover_clean_sessions(self):
        # MQTT-3.1.4-3 (both versions) and docs/MQTT.md: a second connection with the same
        # client id closes the first (5.0: DISCONNECT 0x8E), whatever the clean start flag.
        d = self.daemon()
        for version in (4, 5):
            with self.subTest(version=version):
                cid = b"clean-same-%d" % version
                a = self.conn(d, version, client_id=cid)
                b = self.conn(d, version, client_id=cid)
                b.send(PINGREQ)
                self.assertEqual(b.read(), (PINGRESP, b""))
                try:
                    got = a.closed(2)
                except AssertionError:
                    self.fail("MQTT %s clean session: the first connection with client id %r stays "
                              "open after a second one connected" % ("5.0" if version == 5 else "3.1.1", cid))
                if version == 5:
                    self.assertDisconnect(got, 0x8E)

    def test_disconnect_session_expiry_after_zero(self):
        d = self.daemon()
        c = self.conn(d, 5)
        c.send(packet(0xE0, b"\x00" + props((0x11, (30).to_bytes(4, "big")))))
        self.assertDisconnect(self.assertClosed(c), 0x82)

    def test_will_retain_and_properties_accepted(self):
        d = self.daemon()
        will_props = b"\x00"
        body = mstr("MQTT") + bytes([5, 0x02 | 0x04 | 0x08 | 0x20]) + (0).to_bytes(2, "big") + b"\x00" + \
            mstr("will-client") + will_props + mstr("will/topic") + mstr(b"bye")
        c = self.conn(d, 5, do_connect=False)
        c.send(packet(0x10, body))
        self.assertEqual(connack_fields(c.read(), 5)[:2], (0, 0))
        user = props((0x26, mstr("k") + mstr("v")), (0x03, mstr("text/plain")), (0x02, (60).to_bytes(4, "big")))
        c.send(publish_pkt("will/x", "4", qos=1, pid=1, version=5, prop_block=user, retain=True))
        self.assertEqual(ack_fields(c.read()), (PUBACK, 1, 0))
        self.assertEqual([s["v"] for s in d.raw("will/x")["samples"]], [4])
        c.close()
        time.sleep(0.2)
        self.assertEqual(samples(d, "will/topic"), [])  # the will is not published

    def test_packets_cut_into_single_bytes(self):
        d = self.daemon()
        c = self.conn(d, 5, do_connect=False)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = connect_pkt(5, b"bytewise") + \
            b"".join(publish_pkt("bytes/x", str(i * 11), qos=1, pid=i + 1, version=5) for i in range(5))
        for i in range(len(data)):
            c.send(data[i:i + 1])
            time.sleep(0.001)
        self.assertEqual(connack_fields(c.read(), 5)[:2], (0, 0))
        self.assertEqual([ack_fields(c.read()) for _ in range(5)], [(PUBACK, i + 1, 0) for i in range(5)])
        self.assertEqual([s["v"] for s in d.raw("bytes/x")["samples"]], [i * 11 for i in range(5)])

    def test_subscribe_raw(self):
        d = self.daemon()
        c = self.conn(d, 4)
        c.send(subscribe_pkt(10, ["a/#", "b", "c/+"]))
        self.assertEqual(c.read(), (SUBACK, b"\x00\x0a\x80\x80\x80"))
        c.send(unsubscribe_pkt(11, ["a/#"]))
        self.assertEqual(c.read(), (UNSUBACK, b"\x00\x0b"))
        c = self.conn(d, 5)
        c.send(subscribe_pkt(12, ["a/#", "b"], version=5))
        first, body = c.read()
        self.assertEqual((first, body[:2]), (SUBACK, b"\x00\x0c"))
        pr, off = parse_props(body, 2)
        self.assertEqual(body[off:], b"\x80\x80")
        self.assertIn("no subscriptions", pr.get(0x1F, ""))
        c.send(unsubscribe_pkt(13, ["a/#", "z"], version=5))
        first, body = c.read()
        pr, off = parse_props(body, 2)
        self.assertEqual((first, body[:2], body[off:]), (UNSUBACK, b"\x00\x0d", b"\x11\x11"))
        c.send(PINGREQ)
        self.assertEqual(c.read(), (PINGRESP, b""))

    def test_qos0_then_disconnect_in_one_write(self):
        d = self.daemon()
        c = self.conn(d, 4)
        c.send(publish_pkt("q0/x", "5") + publish_pkt("q0/x", "6") + b"\xe0\x00")
        self.assertEqual(self.assertClosed(c), [])
        self.assertEqual([s["v"] for s in wait_samples(d, "q0/x", 2)], [5, 6])

    def test_pubacks_in_order_many_in_one_write(self):
        d = self.daemon()
        n = 3000
        c = self.conn(d, 4)
        pids = [(i * 7919) % 65535 + 1 for i in range(n)]  # not sorted, all distinct
        self.assertEqual(len(set(pids)), n)
        c.send(b"".join(publish_pkt("order/x", str(i), qos=1, pid=pid) for i, pid in enumerate(pids)))
        got = [ack_fields(c.read()) for _ in range(n)]
        self.assertEqual(got, [(PUBACK, pid, 0) for pid in pids])
        self.assertEqual(sorted(s["v"] for s in d.raw("order/x")["samples"]), list(range(n)))

    def test_slow_reader(self):
        d = self.daemon()
        n = 8000
        c = self.conn(d, 4, rcvbuf=4096)
        data = b"".join(publish_pkt("slow/x", str(i), qos=1, pid=i % 65535 + 1) for i in range(n))
        err = []

        def write():
            try:
                c.send(data)
            except OSError as e:
                err.append(e)

        t = threading.Thread(target=write)
        t.start()
        time.sleep(1.0)  # not reading meanwhile
        self.assertEqual(d.json("/health")["status"], "ok")
        other = self.conn(d, 4)  # other connections go on
        other.send(publish_pkt("slow/other", "1", qos=1, pid=1))
        self.assertEqual(ack_fields(other.read()), (PUBACK, 1, 0))
        got = [ack_fields(c.read(timeout=10)) for _ in range(n)]
        t.join(10)
        self.assertEqual(err, [])
        self.assertEqual(got, [(PUBACK, i % 65535 + 1, 0) for i in range(n)])
        self.assertEqual(sorted(s["v"] for s in d.raw("slow/x")["samples"]), list(range(n)))
        self.assertEqual(d.json("/health")["status"], "ok")


# --- 5. kill -9 ------------------------------------------------------------------------------

class Durability(MqttTest):
    def test_pubacked_values_survive_kill9(self):
        rng = random.Random(SEED)
        print("\ntest_mqtt durability: seed %d (HS_TEST_SEED)" % SEED)
        d = self.daemon()
        acked, sent = set(), set()
        value = 0
        rounds = 5
        for r in range(rounds):
            c = self.conn(d, 4, client_id=b"durable")
            pending, pid = {}, 0
            kill_at = time.monotonic() + rng.uniform(0.3, 1.0)

            def take(p):
                first, ack_pid, _ = ack_fields(p)
                self.assertEqual(first, PUBACK)
                acked.add(pending.pop(ack_pid))

            while True:
                window = []
                for _ in range(64):
                    pid = pid % 65535 + 1
                    pending[pid] = value
                    sent.add(value)
                    window.append(publish_pkt("dur/x", str(value), qos=1, pid=pid))
                    value += 1
                c.send(b"".join(window))
                if time.monotonic() >= kill_at:
                    time.sleep(rng.uniform(0, 0.004))
                    d.kill()
                    break
                while len(pending) > 64:
                    take(c.read())
            for p in c.closed():  # acks the daemon sent before it died
                take(p)
            c.close()
            d._stderr.close()
            d.start()
        stored = [s["v"] for s in d.raw("dur/x")["samples"]]
        missing = sorted(acked - set(stored))
        print("test_mqtt durability: %d sent, %d acknowledged, %d stored, %d kills"
              % (len(sent), len(acked), len(stored), rounds))
        self.assertGreater(len(acked), 500)
        self.assertEqual(missing[:20], [], "%d PUBACKed values lost after kill -9" % len(missing))
        self.assertTrue(set(stored) <= sent)
        self.assertEqual(len(stored), len(set(stored)), "a value stored twice")


# --- 6. 10,000 idle connections -------------------------------------------------------------

def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class IdleConnections(MqttTest):
    def test_ten_thousand_idle_connections(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        limit = hard if hard != resource.RLIM_INFINITY else 1 << 20
        n = 10000
        if limit < 10300:
            n = limit - 300
            print("\ntest_mqtt: RLIMIT_NOFILE hard limit %d: %d connections instead of 10,000" % (limit, n))
        d = self.daemon()
        pid = d.proc.pid
        warm = self.conn(d, 4)  # first connection's allocations are not the idle cost
        warm.send(publish_pkt("idle/warm", "1", qos=1, pid=1))
        self.assertEqual(ack_fields(warm.read())[:2], (PUBACK, 1))
        rss0 = rss_kib(pid)
        addr = mqtt_port(d)
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        t0 = time.monotonic()
        batch = 500
        for start in range(0, n, batch):
            group = []
            for i in range(start, min(n, start + batch)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(10)
                s.connect(addr)
                s.sendall(connect_pkt(4, b"idle-%d" % i, keepalive=0))
                group.append(s)
                socks.append(s)
            for s in group:
                ack = b""
                while len(ack) < 4:
                    chunk = s.recv(4 - len(ack))
                    self.assertTrue(chunk, "closed before CONNACK (%d open)" % len(socks))
                    ack += chunk
                self.assertEqual(ack, b"\x20\x02\x00\x00")
        elapsed = time.monotonic() - t0
        m = metrics(d)
        self.assertEqual(m["historian_mqtt_connections"], n + 1)
        self.assertEqual(m["historian_mqtt_connections_refused_total"], 0)
        grown = (rss_kib(pid) - rss0) / 1024
        print("\ntest_mqtt: %d idle connections in %.1f s; daemon RSS grew %.1f MiB (%.0f bytes each)"
              % (n, elapsed, grown, grown * 1048576 / n))
        self.assertLess(grown, 64, "RSS grew %.1f MiB for %d idle connections" % (grown, n))
        # still serving
        warm.send(publish_pkt("idle/warm", "2", qos=1, pid=2))
        self.assertEqual(ack_fields(warm.read())[:2], (PUBACK, 2))
        self.mosquitto_pub(d, "-q", "1", "-t", "idle/mp", "-m", "3")
        self.assertEqual(d.json("/health")["status"], "ok")
        for s in socks:
            s.close()
        socks.clear()
        metric_wait(d, "historian_mqtt_connections", 1, timeout=15)


# --- 7. metrics ------------------------------------------------------------------------------

class Metrics(MqttTest):
    def test_counters_move(self):
        d = self.daemon()
        m0 = metrics(d)
        for name in ("historian_mqtt_connections", 'historian_mqtt_packets_total{type="PUBLISH"}',
                     "historian_mqtt_messages_total", "historian_mqtt_samples_total",
                     "historian_mqtt_protocol_errors_total", "historian_mqtt_payload_errors_total",
                     "historian_mqtt_duplicates_total", "historian_mqtt_connections_total"):
            self.assertEqual(m0.get(name), 0, name)
        a = self.conn(d, 4)
        b = self.conn(d, 5)
        self.assertEqual(metrics(d)["historian_mqtt_connections"], 2)
        a.send(publish_pkt("met/a", "1", qos=1, pid=1) +
               publish_pkt("met/b", '{"x": 1, "y": 2.5, "z": false}', qos=1, pid=2) +
               publish_pkt("met/c", "3"))
        self.assertEqual([ack_fields(a.read())[1] for _ in range(2)], [1, 2])
        b.send(publish_pkt("met/d", "[[1736928000, 1], [1736928001, 2]]", qos=2, pid=3, version=5))
        self.assertEqual(ack_fields(b.read())[:2], (PUBREC, 3))
        b.send(pubrel_pkt(3))
        self.assertEqual(ack_fields(b.read())[:2], (PUBCOMP, 3))
        wait_samples(d, "met/c", 1)
        m = metrics(d)
        self.assertEqual(m['historian_mqtt_packets_total{type="PUBLISH"}'], 4)
        self.assertEqual(m['historian_mqtt_packets_total{type="PUBREL"}'], 1)
        self.assertEqual(m['historian_mqtt_packets_total{type="CONNECT"}'], 2)
        self.assertEqual(m["historian_mqtt_messages_total"], 4)
        self.assertEqual(m["historian_mqtt_samples_total"], 1 + 3 + 1 + 2)
        self.assertEqual(m["historian_mqtt_connections_total"], 2)
        self.assertEqual(m["historian_mqtt_protocol_errors_total"], 0)
        b.send(b"\xc1\x00")  # reserved flags
        self.assertDisconnect(b.closed(), 0x81)
        metric_wait(d, "historian_mqtt_protocol_errors_total", 1)
        metric_wait(d, "historian_mqtt_connections", 1)
        a.close()
        metric_wait(d, "historian_mqtt_connections", 0)
        self.assertEqual(metrics(d)["historian_mqtt_store_failures_total"], 0)


if __name__ == "__main__":
    main()
