/* check_mqtt_codec.c: unit tests for the MQTT 3.1.1 / 5.0 packet codec (server/mqtt_codec.c).
 * Byte-exact vectors written from the specs, every malformed case the specs name, truncation at every byte, round trips. */
#define _GNU_SOURCE
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"
#include "server/mqtt_codec.h"

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

/* ---- helpers --------------------------------------------------------------------------------- */

/* Packets are written as hex pairs (spaces ignored) and 'quoted ASCII',
 * so "0003 'a/b'" is 00 03 61 2f 62. Each is copied into a heap block of
 * exactly its size, so that ASan sees any read past its end. The last few
 * stay alive (decoded views point into them); teardown frees them. */
#define KEEP 8
static uint8_t *kept[KEEP];
static int kept_next;

static size_t hx(const char *spec, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (const char *s = spec; *s;) {
		if (isspace((unsigned char)*s)) {
			s++;
		} else if (*s == '\'') {
			for (s++; *s && *s != '\''; s++) {
				ck_assert_uint_lt(n, cap);
				out[n++] = (uint8_t)*s;
			}
			ck_assert_msg(*s == '\'', "unterminated quote in %s", spec);
			s++;
		} else {
			unsigned v;
			ck_assert_msg(isxdigit((unsigned char)s[0]) && isxdigit((unsigned char)s[1]),
				      "bad hex at '%s'", s);
			ck_assert_int_eq(sscanf(s, "%2x", &v), 1);
			ck_assert_uint_lt(n, cap);
			out[n++] = (uint8_t)v;
			s += 2;
		}
	}
	return n;
}

static uint8_t *keep(const uint8_t *bytes, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, bytes, len);
	free(kept[kept_next]);
	kept[kept_next] = p;
	kept_next = (kept_next + 1) % KEEP;
	return p;
}

static const uint8_t *pk(const char *spec, size_t *len)
{
	static uint8_t tmp[4096];

	*len = hx(spec, tmp, sizeof tmp);
	return keep(tmp, *len);
}

static void teardown(void)
{
	for (int i = 0; i < KEEP; i++) {
		free(kept[i]);
		kept[i] = NULL;
	}
}

static struct mqtt_packet P;

/* Decode a whole frame given as a spec: mqtt_frame_len must agree on its
 * length first. */
static int dec(int version, const char *spec)
{
	size_t len, fl = 0;
	const uint8_t *b = pk(spec, &len);

	ck_assert_msg(mqtt_frame_len(b, len, 0, &fl) == 1, "%s: not one frame", spec);
	ck_assert_uint_eq(fl, len);
	return mqtt_decode(b, len, version, &P);
}

static void ok(int version, const char *spec)
{
	int rc = dec(version, spec);

	ck_assert_msg(rc == 0, "%s: rc %d (%s: %s at %zu)", spec, rc,
		      P.err_field ? P.err_field : "-", P.err ? P.err : "-", P.err_offset);
}

/* A refused frame: the code, and the reason contains want_err. */
static void bad(int version, const char *spec, int want_rc, const char *want_err)
{
	int rc = dec(version, spec);

	ck_assert_msg(rc == want_rc, "%s: rc %d, want %d (%s: %s)", spec, rc, want_rc,
		      P.err_field ? P.err_field : "-", P.err ? P.err : "-");
	ck_assert_ptr_nonnull(P.err);
	ck_assert_msg(strstr(P.err, want_err) != NULL, "%s: err '%s', want '%s'", spec, P.err,
		      want_err);
}

static void str_is(const struct mqtt_str *s, const char *want)
{
	ck_assert_uint_eq(s->len, strlen(want));
	ck_assert_msg(memcmp(s->ptr, want, s->len) == 0, "got '%.*s', want '%s'", (int)s->len,
		      s->ptr, want);
}

static void bin_is(const struct mqtt_bin *b, const char *want, size_t len)
{
	ck_assert_uint_eq(b->len, len);
	ck_assert(len == 0 || memcmp(b->ptr, want, len) == 0);
}

/* sb holds exactly the bytes of spec. */
static void bytes_are(const struct strbuf *sb, const char *spec)
{
	uint8_t want[4096];
	size_t n = hx(spec, want, sizeof want);

	ck_assert_uint_eq(sb->len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg((uint8_t)sb->data[i] == want[i], "byte %zu: %02x, want %02x", i,
			      (uint8_t)sb->data[i], want[i]);
}

#define S(lit) ((struct mqtt_str){lit, sizeof(lit) - 1})
#define BIN(lit) ((struct mqtt_bin){(const uint8_t *)(lit), sizeof(lit) - 1})
#define HAS(p, id) mqtt_props_has(p, MQTT_PROP_##id)
#define SET(p, id) ((p)->present |= MQTT_PROP_BIT(MQTT_PROP_##id))

/* Encode a decoded packet again with the encoder of its type. Returns the
 * encoder's result, or 1 when the packet cannot be re-encoded here (too
 * many filters for the local array). */
static int reencode(struct strbuf *sb, int version, const struct mqtt_packet *p)
{
	static struct mqtt_subscription subs[256];
	static struct mqtt_str filters[256];
	struct mqtt_sub_iter it;
	size_t n = 0;

	switch (p->type) {
	case MQTT_CONNECT: return mqtt_encode_connect(sb, &p->u.connect);
	case MQTT_CONNACK: return mqtt_encode_connack(sb, version, &p->u.connack);
	case MQTT_PUBLISH: return mqtt_encode_publish(sb, version, &p->u.publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP: return mqtt_encode_ack(sb, version, p->type, &p->u.ack);
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		if (p->u.subscribe.count > N(subs))
			return 1;
		mqtt_sub_iter_init(&it, &p->u.subscribe);
		while (mqtt_sub_next(&it, &subs[n]) == 1) {
			filters[n] = subs[n].filter;
			n++;
		}
		ck_assert_uint_eq(n, p->u.subscribe.count);
		if (p->type == MQTT_SUBSCRIBE)
			return mqtt_encode_subscribe(sb, version, p->u.subscribe.packet_id,
						     &p->u.subscribe.props, subs, n);
		return mqtt_encode_unsubscribe(sb, version, p->u.subscribe.packet_id,
					       &p->u.subscribe.props, filters, n);
	case MQTT_SUBACK: return mqtt_encode_suback(sb, version, &p->u.suback);
	case MQTT_UNSUBACK: return mqtt_encode_unsuback(sb, version, &p->u.suback);
	case MQTT_PINGREQ: return mqtt_encode_pingreq(sb);
	case MQTT_PINGRESP: return mqtt_encode_pingresp(sb);
	case MQTT_DISCONNECT: return mqtt_encode_disconnect(sb, version, &p->u.disconnect);
	case MQTT_AUTH: return mqtt_encode_auth(sb, &p->u.disconnect);
	default: return -EINVAL;
	}
}

/* ---- the vectors ----------------------------------------------------------------------------- */

struct vec {
	const char *name;
	int version;
	enum mqtt_type type;
	const char *hex;
	bool canonical; /* re-encoding gives the same bytes */
};

static const struct vec vectors[] = {
	/* 3.1.1 */
	{"connect", 4, MQTT_CONNECT, "10 10 0004 'MQTT' 04 02 003c 0004 'pub1'", true},
	{"connect_all_fields", 4, MQTT_CONNECT,
	 "10 1f 0004 'MQTT' 04 ee 001e 0001 'c' 0003 'w/t' 0003 'bye' 0001 'u' 0003 70 00 77", true},
	{"connect_empty_id", 4, MQTT_CONNECT, "10 0c 0004 'MQTT' 04 02 0000 0000", true},
	{"connack", 4, MQTT_CONNACK, "20 02 00 00", true},
	{"connack_session", 4, MQTT_CONNACK, "20 02 01 00", true},
	{"connack_refused", 4, MQTT_CONNACK, "20 02 00 05", true},
	{"publish_q0", 4, MQTT_PUBLISH, "30 07 0003 'a/b' 'hi'", true},
	{"publish_q1_dup_retain", 4, MQTT_PUBLISH, "3b 08 0003 'a/b' 0102 'x'", true},
	{"publish_q2_empty", 4, MQTT_PUBLISH, "34 07 0003 'a/b' 0003", true},
	{"puback", 4, MQTT_PUBACK, "40 02 0001", true},
	{"pubrec", 4, MQTT_PUBREC, "50 02 0002", true},
	{"pubrel", 4, MQTT_PUBREL, "62 02 0003", true},
	{"pubcomp", 4, MQTT_PUBCOMP, "70 02 0004", true},
	{"subscribe", 4, MQTT_SUBSCRIBE, "82 0e 000a 0003 'a/+' 01 0003 'b/#' 00", true},
	{"suback", 4, MQTT_SUBACK, "90 04 000a 01 80", true},
	{"unsubscribe", 4, MQTT_UNSUBSCRIBE, "a2 07 000c 0003 'a/+'", true},
	{"unsuback", 4, MQTT_UNSUBACK, "b0 02 000c", true},
	{"pingreq", 4, MQTT_PINGREQ, "c0 00", true},
	{"pingresp", 4, MQTT_PINGRESP, "d0 00", true},
	{"disconnect", 4, MQTT_DISCONNECT, "e0 00", true},
	/* 5.0 */
	{"connect5", 5, MQTT_CONNECT,
	 "10 1e 0004 'MQTT' 05 02 003c 0f 11 00000078 21 000a 26 0001 'k' 0001 'v' 0002 'c5'", true},
	{"connect5_will", 5, MQTT_CONNECT,
	 "10 1e 0004 'MQTT' 05 56 0000 00 0000 07 01 01 18 00000005 0001 'w' 0000 0002 'pw'", true},
	{"connack5", 5, MQTT_CONNACK, "20 03 00 00 00", true},
	{"connack5_server", 5, MQTT_CONNACK,
	 "20 21 00 00 1e 12 0003 'abc' 13 001e 1f 0002 'ok' 21 0014 25 00 27 00100000 28 00 29 00 2a 00",
	 true},
	{"connack5_refused", 5, MQTT_CONNACK, "20 03 00 84 00", true},
	{"publish5", 5, MQTT_PUBLISH,
	 "34 36 0001 't' 0007 29 01 01 02 00000e10 03 000a 'text/plain' 08 0003 'r/t' 09 0002 0102"
	 " 23 0005 26 0001 'a' 0001 'b' '{\"v\":1}'", true},
	{"publish5_alias", 5, MQTT_PUBLISH, "30 07 0000 03 23 0005 'z'", true},
	{"puback5", 5, MQTT_PUBACK, "40 02 0001", true},
	{"puback5_code", 5, MQTT_PUBACK, "40 03 0001 10", true},
	{"puback5_reason", 5, MQTT_PUBACK, "40 0a 0001 80 06 1f 0003 'bad'", true},
	{"puback5_long_form", 5, MQTT_PUBACK, "40 04 0001 00 00", false},
	{"pubrec5", 5, MQTT_PUBREC, "50 03 0002 10", true},
	{"pubrel5", 5, MQTT_PUBREL, "62 03 0005 92", true},
	{"pubcomp5", 5, MQTT_PUBCOMP, "70 02 0004", true},
	{"subscribe5", 5, MQTT_SUBSCRIBE, "82 18 000b 02 0b 07 0003 's/#' 1e 000a '$share/g/x' 01", true},
	{"suback5", 5, MQTT_SUBACK, "90 05 000b 00 02 9e", true},
	{"suback5_reason", 5, MQTT_SUBACK, "90 0a 000b 05 1f 0002 'no' 00 a2", true},
	{"unsubscribe5", 5, MQTT_UNSUBSCRIBE, "a2 08 000d 00 0003 'a/+'", true},
	{"unsuback5", 5, MQTT_UNSUBACK, "b0 05 000d 00 00 11", true},
	{"pingreq5", 5, MQTT_PINGREQ, "c0 00", true},
	{"pingresp5", 5, MQTT_PINGRESP, "d0 00", true},
	{"disconnect5", 5, MQTT_DISCONNECT, "e0 00", true},
	{"disconnect5_will", 5, MQTT_DISCONNECT, "e0 01 04", true},
	{"disconnect5_reason", 5, MQTT_DISCONNECT, "e0 07 8b 05 1f 0002 'by'", true},
	{"auth5", 5, MQTT_AUTH, "f0 00", true},
	{"auth5_method", 5, MQTT_AUTH, "f0 0f 18 0d 15 0005 'SCRAM' 16 0002 0102", true},
};

/* Every vector decodes to its type, and (if canonical) re-encodes to the
 * same bytes; the re-encoding is a fixed point. */
START_TEST(test_vector_decodes_and_reencodes)
{
	const struct vec *v = &vectors[_i];
	struct strbuf sb = STRBUF_INIT;

	ok(v->version, v->hex);
	ck_assert_msg(P.type == v->type, "%s: type %d", v->name, P.type);
	ck_assert_str_eq(mqtt_type_name(P.type), mqtt_type_name(v->type));
	ck_assert_int_eq(reencode(&sb, v->version, &P), 0);
	if (v->canonical)
		bytes_are(&sb, v->hex);
	/* whatever the form, the re-encoding decodes to the same thing and is a
	 * fixed point */
	{
		struct mqtt_packet first = P;
		struct strbuf again = STRBUF_INIT;
		ck_assert_int_eq(mqtt_decode((const uint8_t *)sb.data, sb.len, v->version, &P), 0);
		ck_assert_int_eq(P.type, first.type);
		ck_assert_int_eq(reencode(&again, v->version, &P), 0);
		ck_assert_uint_eq(again.len, sb.len);
		ck_assert(memcmp(again.data, sb.data, sb.len) == 0);
		strbuf_free(&again);
	}
	strbuf_free(&sb);
}
END_TEST

/* ---- decoded fields of the vectors ------------------------------------------------------------ */

START_TEST(test_connect_v311_fields)
{
	const struct mqtt_connect *c = &P.u.connect;

	ok(0, vectors[0].hex);
	ck_assert_uint_eq(P.version, 4);
	ck_assert_uint_eq(c->protocol_level, 4);
	ck_assert(c->clean_start);
	ck_assert_uint_eq(c->keep_alive_s, 60);
	str_is(&c->client_id, "pub1");
	ck_assert(!c->will && !c->has_username && !c->has_password);

	ok(0, vectors[1].hex);
	ck_assert(c->clean_start && c->will && c->will_retain);
	ck_assert_uint_eq(c->will_qos, 1);
	ck_assert_uint_eq(c->keep_alive_s, 30);
	str_is(&c->client_id, "c");
	str_is(&c->will_topic, "w/t");
	bin_is(&c->will_payload, "bye", 3);
	ck_assert(c->has_username && c->has_password);
	str_is(&c->username, "u");
	bin_is(&c->password, "p\0w", 3); /* a password is binary: NUL is fine */

	ok(4, vectors[2].hex);
	ck_assert_uint_eq(c->client_id.len, 0);
	ck_assert_uint_eq(c->keep_alive_s, 0);
}
END_TEST

START_TEST(test_connect_v5_fields)
{
	const struct mqtt_connect *c = &P.u.connect;
	struct mqtt_prop_iter it;
	struct mqtt_prop pr;

	ok(0, "10 1e 0004 'MQTT' 05 02 003c 0f 11 00000078 21 000a 26 0001 'k' 0001 'v' 0002 'c5'");
	ck_assert_uint_eq(P.version, 5);
	ck_assert(HAS(&c->props, SESSION_EXPIRY) && HAS(&c->props, RECEIVE_MAXIMUM));
	ck_assert(!HAS(&c->props, MAXIMUM_PACKET_SIZE));
	ck_assert_uint_eq(c->props.session_expiry_s, 120);
	ck_assert_uint_eq(c->props.receive_max, 10);
	ck_assert_uint_eq(c->props.user_count, 1);
	str_is(&c->client_id, "c5");
	mqtt_props_iter_init(&it, &c->props);
	ck_assert_int_eq(mqtt_props_next(&it, &pr), 1);
	ck_assert_uint_eq(pr.id, MQTT_PROP_SESSION_EXPIRY);
	ck_assert_uint_eq(pr.num, 120);
	ck_assert_int_eq(mqtt_props_next(&it, &pr), 1);
	ck_assert_uint_eq(pr.id, MQTT_PROP_RECEIVE_MAXIMUM);
	ck_assert_int_eq(mqtt_props_next(&it, &pr), 1);
	ck_assert_uint_eq(pr.id, MQTT_PROP_USER_PROPERTY);
	str_is(&pr.str, "k");
	str_is(&pr.value, "v");
	ck_assert_int_eq(mqtt_props_next(&it, &pr), 0);
	ck_assert_int_eq(mqtt_props_next(&it, &pr), 0);

	ok(5, "10 1e 0004 'MQTT' 05 56 0000 00 0000 07 01 01 18 00000005 0001 'w' 0000 0002 'pw'");
	ck_assert(c->will && !c->will_retain && c->clean_start);
	ck_assert_uint_eq(c->will_qos, 2);
	ck_assert_uint_eq(c->will_props.payload_format, 1);
	ck_assert_uint_eq(c->will_props.will_delay_s, 5);
	ck_assert_uint_eq(c->client_id.len, 0);
	str_is(&c->will_topic, "w");
	ck_assert_uint_eq(c->will_payload.len, 0);
	ck_assert(!c->has_username && c->has_password); /* allowed in 5.0 */
	bin_is(&c->password, "pw", 2);
}
END_TEST

START_TEST(test_connack_fields)
{
	const struct mqtt_connack *c = &P.u.connack;

	ok(4, "20 02 01 00");
	ck_assert(c->session_present);
	ck_assert_uint_eq(c->reason_code, 0);
	ok(4, "20 02 00 05");
	ck_assert(!c->session_present);
	ck_assert_uint_eq(c->reason_code, MQTT_CONNACK_V311_NOT_AUTHORIZED);
	ok(5, "20 21 00 00 1e 12 0003 'abc' 13 001e 1f 0002 'ok' 21 0014 25 00 27 00100000 28 00 29 00 2a 00");
	str_is(&c->props.assigned_client_id, "abc");
	ck_assert_uint_eq(c->props.server_keep_alive_s, 30);
	str_is(&c->props.reason_string, "ok");
	ck_assert_uint_eq(c->props.receive_max, 20);
	ck_assert(HAS(&c->props, RETAIN_AVAILABLE) && c->props.retain_available == 0);
	ck_assert_uint_eq(c->props.max_packet_len, 1u << 20);
	ck_assert(HAS(&c->props, WILDCARD_SUB_AVAILABLE) && HAS(&c->props, SUB_ID_AVAILABLE) &&
		  HAS(&c->props, SHARED_SUB_AVAILABLE));
	ck_assert(!HAS(&c->props, MAXIMUM_QOS));
}
END_TEST

START_TEST(test_publish_fields)
{
	const struct mqtt_publish *p = &P.u.publish;

	ok(4, "30 07 0003 'a/b' 'hi'");
	ck_assert_uint_eq(p->qos, 0);
	ck_assert(!p->dup && !p->retain);
	str_is(&p->topic, "a/b");
	ck_assert_uint_eq(p->packet_id, 0);
	ck_assert_uint_eq(p->payload_len, 2);
	ck_assert(memcmp(p->payload, "hi", 2) == 0);

	ok(4, "3b 08 0003 'a/b' 0102 'x'");
	ck_assert(p->dup && p->retain);
	ck_assert_uint_eq(p->qos, 1);
	ck_assert_uint_eq(p->packet_id, 0x0102);
	ck_assert_uint_eq(p->payload_len, 1);

	ok(4, "34 07 0003 'a/b' 0003");
	ck_assert_uint_eq(p->qos, 2);
	ck_assert_uint_eq(p->payload_len, 0);

	ok(5, "34 36 0001 't' 0007 29 01 01 02 00000e10 03 000a 'text/plain' 08 0003 'r/t' 09 0002 0102"
	      " 23 0005 26 0001 'a' 0001 'b' '{\"v\":1}'");
	ck_assert_uint_eq(p->packet_id, 7);
	ck_assert_uint_eq(p->props.payload_format, 1);
	ck_assert_uint_eq(p->props.message_expiry_s, 3600);
	str_is(&p->props.content_type, "text/plain");
	str_is(&p->props.response_topic, "r/t");
	bin_is(&p->props.correlation_data, "\x01\x02", 2);
	ck_assert_uint_eq(p->props.topic_alias, 5);
	ck_assert_uint_eq(p->props.user_count, 1);
	ck_assert_uint_eq(p->props.raw_len, 41);
	ck_assert_uint_eq(p->payload_len, 7);
	ck_assert(memcmp(p->payload, "{\"v\":1}", 7) == 0);

	ok(5, "30 07 0000 03 23 0005 'z'");
	ck_assert_uint_eq(p->topic.len, 0);
	ck_assert_uint_eq(p->props.topic_alias, 5);
}
END_TEST

START_TEST(test_ack_fields)
{
	const struct mqtt_ack *a = &P.u.ack;

	ok(4, "62 02 0003");
	ck_assert_int_eq(P.type, MQTT_PUBREL);
	ck_assert_uint_eq(a->packet_id, 3);
	ok(5, "40 02 0001");
	ck_assert_uint_eq(a->reason_code, 0);
	ck_assert_uint_eq(a->props.present, 0);
	ok(5, "40 03 0001 10");
	ck_assert_uint_eq(a->reason_code, MQTT_RC_NO_MATCHING_SUBSCRIBERS);
	ok(5, "40 0a 0001 80 06 1f 0003 'bad'");
	ck_assert_uint_eq(a->reason_code, MQTT_RC_UNSPECIFIED_ERROR);
	str_is(&a->props.reason_string, "bad");
	ok(5, "62 03 0005 92");
	ck_assert_uint_eq(a->reason_code, MQTT_RC_PACKET_ID_NOT_FOUND);
}
END_TEST

START_TEST(test_subscribe_fields)
{
	struct mqtt_sub_iter it;
	struct mqtt_subscription s;

	ok(4, "82 0e 000a 0003 'a/+' 01 0003 'b/#' 00");
	ck_assert_uint_eq(P.u.subscribe.packet_id, 10);
	ck_assert_uint_eq(P.u.subscribe.count, 2);
	mqtt_sub_iter_init(&it, &P.u.subscribe);
	ck_assert_int_eq(mqtt_sub_next(&it, &s), 1);
	str_is(&s.filter, "a/+");
	ck_assert_uint_eq(s.qos, 1);
	ck_assert_int_eq(mqtt_sub_next(&it, &s), 1);
	str_is(&s.filter, "b/#");
	ck_assert_uint_eq(s.qos, 0);
	ck_assert_int_eq(mqtt_sub_next(&it, &s), 0);

	ok(5, "82 18 000b 02 0b 07 0003 's/#' 1e 000a '$share/g/x' 01");
	ck_assert_uint_eq(P.u.subscribe.props.sub_id, 7);
	mqtt_sub_iter_init(&it, &P.u.subscribe);
	ck_assert_int_eq(mqtt_sub_next(&it, &s), 1);
	ck_assert_uint_eq(s.qos, 2);
	ck_assert(s.no_local && s.retain_as_published && !s.shared);
	ck_assert_uint_eq(s.retain_handling, 1);
	ck_assert_int_eq(mqtt_sub_next(&it, &s), 1);
	str_is(&s.filter, "$share/g/x");
	ck_assert(s.shared);
	ck_assert_uint_eq(s.qos, 1);
	ck_assert_int_eq(mqtt_sub_next(&it, &s), 0);

	/* "$share/" means nothing in 3.1.1: a plain filter */
	ok(4, "82 0f 0001 000a '$share/g/x' 00");
	mqtt_sub_iter_init(&it, &P.u.subscribe);
	ck_assert_int_eq(mqtt_sub_next(&it, &s), 1);
	ck_assert(!s.shared);

	ok(5, "a2 08 000d 00 0003 'a/+'");
	ck_assert_uint_eq(P.u.subscribe.count, 1);
	mqtt_sub_iter_init(&it, &P.u.subscribe);
	ck_assert_int_eq(mqtt_sub_next(&it, &s), 1);
	str_is(&s.filter, "a/+");
	ck_assert_int_eq(mqtt_sub_next(&it, &s), 0);
}
END_TEST

START_TEST(test_suback_disconnect_auth_fields)
{
	ok(4, "90 04 000a 01 80");
	ck_assert_uint_eq(P.u.suback.count, 2);
	ck_assert_uint_eq(P.u.suback.reason_codes[1], MQTT_SUBACK_V311_FAILURE);
	ok(4, "b0 02 000c");
	ck_assert_uint_eq(P.u.suback.packet_id, 12);
	ck_assert_uint_eq(P.u.suback.count, 0);
	ok(5, "b0 05 000d 00 00 11");
	ck_assert_uint_eq(P.u.suback.count, 2);
	ck_assert_uint_eq(P.u.suback.reason_codes[1], MQTT_RC_NO_SUBSCRIPTION_EXISTED);
	ok(5, "e0 00");
	ck_assert_uint_eq(P.u.disconnect.reason_code, 0);
	ok(5, "e0 07 8b 05 1f 0002 'by'");
	ck_assert_uint_eq(P.u.disconnect.reason_code, MQTT_RC_SERVER_SHUTTING_DOWN);
	str_is(&P.u.disconnect.props.reason_string, "by");
	ok(5, "f0 0f 18 0d 15 0005 'SCRAM' 16 0002 0102");
	ck_assert_int_eq(P.type, MQTT_AUTH);
	ck_assert_uint_eq(P.u.disconnect.reason_code, MQTT_RC_CONTINUE_AUTHENTICATION);
	str_is(&P.u.disconnect.props.auth_method, "SCRAM");
	bin_is(&P.u.disconnect.props.auth_data, "\x01\x02", 2);
}
END_TEST

/* ---- framing --------------------------------------------------------------------------------- */

START_TEST(test_frame_len)
{
	size_t len, fl = 0;
	const uint8_t *b;

	ck_assert_int_eq(mqtt_frame_len((const uint8_t *)"", 0, 0, &fl), 0);
	b = pk("30", &len);
	ck_assert_int_eq(mqtt_frame_len(b, len, 0, &fl), 0);
	b = pk("30 80", &len);
	ck_assert_int_eq(mqtt_frame_len(b, len, 0, &fl), 0);
	b = pk("30 80 80 80", &len);
	ck_assert_int_eq(mqtt_frame_len(b, len, 0, &fl), 0);
	/* the fifth length byte is malformed, whatever it holds */
	b = pk("30 ff ff ff ff 01", &len);
	ck_assert_int_eq(mqtt_frame_len(b, len, 0, &fl), MQTT_EMALFORMED);
	b = pk("30 80 80 80 80", &len);
	ck_assert_int_eq(mqtt_frame_len(b, len, 0, &fl), MQTT_EMALFORMED);
	/* the largest length: need more, or too large at once */
	b = pk("30 ff ff ff 7f", &len);
	ck_assert_int_eq(mqtt_frame_len(b, len, 0, &fl), 0);
	ck_assert_int_eq(mqtt_frame_len(b, len, 1 << 20, &fl), MQTT_ETOOLARGE);
	/* two frames back to back: only the first */
	b = pk("c0 00 d0 00", &len);
	ck_assert_int_eq(mqtt_frame_len(b, len, 0, &fl), 1);
	ck_assert_uint_eq(fl, 2);
	/* non-minimal length: accepted by framing */
	b = pk("c0 80 00", &len);
	ck_assert_int_eq(mqtt_frame_len(b, len, 0, &fl), 1);
	ck_assert_uint_eq(fl, 3);
	ck_assert_int_eq(mqtt_frame_len(NULL, 1, 0, &fl), -EINVAL);
}
END_TEST

/* Remaining length boundaries: 127/128, 16383/16384, 2097151/2097152. */
static const struct {
	size_t rl;
	size_t hdr;
} rl_cases[] = {{127, 2}, {128, 3}, {16383, 3}, {16384, 4}, {2097151, 4}, {2097152, 5}};

START_TEST(test_remaining_length_boundaries)
{
	size_t rl = rl_cases[_i].rl, fl = 0;
	size_t payload_len = rl - 5; /* topic "a/b" takes 5 bytes */
	uint8_t *payload = calloc(1, payload_len);
	struct mqtt_publish p = {.qos = 0, .topic = S("a/b"), .payload = payload,
				 .payload_len = payload_len};
	struct strbuf sb = STRBUF_INIT;

	ck_assert_ptr_nonnull(payload);
	ck_assert_int_eq(mqtt_encode_publish(&sb, 4, &p), 0);
	ck_assert_uint_eq(sb.len, rl_cases[_i].hdr + rl);
	ck_assert_int_eq(mqtt_frame_len((uint8_t *)sb.data, sb.len, 0, &fl), 1);
	ck_assert_uint_eq(fl, sb.len);
	/* a byte short needs more; max_packet one short is too large */
	ck_assert_int_eq(mqtt_frame_len((uint8_t *)sb.data, sb.len - 1, 0, &fl), 0);
	ck_assert_int_eq(mqtt_frame_len((uint8_t *)sb.data, sb.len, sb.len, &fl), 1);
	ck_assert_int_eq(mqtt_frame_len((uint8_t *)sb.data, 5, sb.len - 1, &fl), MQTT_ETOOLARGE);
	ck_assert_int_eq(mqtt_decode((uint8_t *)sb.data, sb.len, 4, &P), 0);
	ck_assert_uint_eq(P.u.publish.payload_len, payload_len);
	strbuf_free(&sb);
	free(payload);
}
END_TEST

START_TEST(test_packet_too_large)
{
	size_t len, fl = 0;
	const uint8_t *b = pk("30 07 0003 'a/b' 'hi'", &len);

	ck_assert_int_eq(mqtt_frame_len(b, len, 9, &fl), 1);
	ck_assert_int_eq(mqtt_frame_len(b, len, 8, &fl), MQTT_ETOOLARGE);
	/* known from the header alone */
	ck_assert_int_eq(mqtt_frame_len(b, 2, 8, &fl), MQTT_ETOOLARGE);
	ck_assert_int_eq(mqtt_frame_len(b, 2, 9, &fl), 0);
}
END_TEST

START_TEST(test_non_minimal_remaining_length)
{
	/* 3.1.1 does not require the fewest bytes; 5.0 does (MQTT-1.5.5-1) */
	ok(4, "c0 80 00");
	ck_assert_int_eq(P.type, MQTT_PINGREQ);
	ok(4, "30 87 00 0003 'a/b' 'hi'");
	bad(5, "c0 80 00", MQTT_EMALFORMED, "fewest bytes");
	bad(5, "10 8f 00 0004 'MQTT' 05 02 003c 00 0002 'c5'", MQTT_EMALFORMED, "fewest bytes");
	/* a non-minimal property length or identifier */
	bad(5, "40 05 0001 00 80 00", MQTT_EMALFORMED, "fewest bytes");
	bad(5, "40 08 0001 80 04 9f 00 0000", MQTT_EMALFORMED, "fewest bytes");
}
END_TEST

/* ---- truncation ------------------------------------------------------------------------------ */

/* Every prefix of every vector: framing needs more bytes, and decoding the
 * prefix as if it were a frame is refused, from a block of exactly that
 * size (ASan catches a read past it). */
START_TEST(test_truncated_every_byte)
{
	const struct vec *v = &vectors[_i];
	uint8_t full[4096];
	size_t len = hx(v->hex, full, sizeof full), fl;

	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *b = malloc(cut ? cut : 1);
		ck_assert_ptr_nonnull(b);
		memcpy(b, full, cut);
		ck_assert_msg(mqtt_frame_len(b, cut, 0, &fl) == 0, "%s cut %zu", v->name, cut);
		ck_assert_msg(mqtt_decode(b, cut, v->version, &P) < 0, "%s cut %zu", v->name, cut);
		free(b);
	}
}
END_TEST

/* The body cut at every byte with the remaining length telling the cut
 * length: a well-framed but short packet. Must be refused or (e.g. a
 * PUBLISH cut in its payload) decode with views inside the frame. */
START_TEST(test_body_cut_every_byte)
{
	const struct vec *v = &vectors[_i];
	uint8_t full[4096];
	size_t len = hx(v->hex, full, sizeof full);

	ck_assert_uint_lt(full[1], 0x80); /* one length byte in every vector */
	for (size_t body = 0; body + 2 < len; body++) {
		uint8_t *b = malloc(body + 2);
		int rc;
		ck_assert_ptr_nonnull(b);
		b[0] = full[0];
		b[1] = (uint8_t)body;
		memcpy(b + 2, full + 2, body);
		rc = mqtt_decode(b, body + 2, v->version, &P);
		ck_assert_msg(rc == 0 || rc == MQTT_EMALFORMED || rc == MQTT_EPROTOCOL,
			      "%s body %zu: rc %d", v->name, body, rc);
		if (rc == 0 && P.type == MQTT_PUBLISH)
			ck_assert(P.u.publish.payload + P.u.publish.payload_len == b + body + 2);
		if (rc != 0)
			ck_assert_ptr_nonnull(P.err);
		free(b);
	}
}
END_TEST

START_TEST(test_remaining_length_mismatch)
{
	size_t len;
	const uint8_t *b = pk("30 07 0003 'a/b' 'hi' 'extra'", &len);

	/* the frame handed over is longer than the header says */
	ck_assert_int_eq(mqtt_decode(b, len, 4, &P), MQTT_EMALFORMED);
	ck_assert_ptr_nonnull(strstr(P.err, "remaining length"));
	ck_assert_int_eq(mqtt_decode(b, 1, 4, &P), MQTT_EMALFORMED);
	ck_assert_int_eq(mqtt_decode(b, 0, 4, &P), MQTT_EMALFORMED);
	ck_assert_int_eq(mqtt_decode(NULL, 7, 4, &P), -EINVAL);
	ck_assert_int_eq(mqtt_decode(b, 9, 4, NULL), -EINVAL);
	ck_assert_int_eq(mqtt_decode(b, 9, 3, &P), -EINVAL);
	/* version 0: no CONNECT yet, so anything else is a protocol error */
	ck_assert_int_eq(mqtt_decode(b, 9, 0, &P), MQTT_EPROTOCOL);
	ck_assert_int_eq(P.type, MQTT_PUBLISH);
	ck_assert_str_eq(P.err, "first packet is not CONNECT");
}
END_TEST

/* ---- fixed header flags ---------------------------------------------------------------------- */

START_TEST(test_reserved_flags)
{
	const struct vec *v = &vectors[_i];
	uint8_t full[4096];
	size_t len = hx(v->hex, full, sizeof full);

	if (v->type == MQTT_PUBLISH)
		return;
	for (unsigned f = 0; f < 16; f++) {
		uint8_t *b = keep(full, len);
		int rc;
		b[0] = (uint8_t)((b[0] & 0xF0) | f);
		rc = mqtt_decode(b, len, v->version, &P);
		if (f == (full[0] & 0x0Fu)) {
			ck_assert_int_eq(rc, 0);
			continue;
		}
		ck_assert_msg(rc == MQTT_EMALFORMED, "%s flags %x: rc %d", v->name, f, rc);
		ck_assert_ptr_nonnull(strstr(P.err, "fixed header flags must be"));
		ck_assert_str_eq(P.err_field, mqtt_type_name(v->type));
		ck_assert_uint_eq(P.err_offset, 0);
	}
}
END_TEST

START_TEST(test_reserved_types)
{
	bad(4, "00 00", MQTT_EMALFORMED, "reserved packet type");
	bad(5, "00 00", MQTT_EMALFORMED, "reserved packet type");
	bad(4, "f0 00", MQTT_EMALFORMED, "reserved packet type"); /* AUTH is 5.0 only */
	ok(5, "f0 00");
}
END_TEST

/* ---- UTF-8 ----------------------------------------------------------------------------------- */

/* Overlong '/', a surrogate, U+0000, a lone continuation byte, a cut
 * sequence, a code point past U+10FFFF. */
static const char *const bad_utf8[] = {"c0af", "eda080", "00", "80", "e282", "f4908080"};

START_TEST(test_invalid_utf8_everywhere)
{
	char spec[512];
	const char *u = bad_utf8[_i];
	unsigned n = (unsigned)strlen(u) / 2;

	/* PUBLISH topic */
	snprintf(spec, sizeof spec, "30 %02x 00%02x 'a' %s 'pl'", n + 5, n + 1, u);
	bad(4, spec, MQTT_EMALFORMED, "U");
	ck_assert_str_eq(P.err_field, "PUBLISH topic");
	bad(5, spec, MQTT_EMALFORMED, "U");
	/* client id */
	snprintf(spec, sizeof spec, "10 %02x 0004 'MQTT' 04 02 003c 00%02x %s", n + 12, n, u);
	bad(4, spec, MQTT_EMALFORMED, "U");
	ck_assert_str_eq(P.err_field, "CONNECT client identifier");
	/* user name */
	snprintf(spec, sizeof spec, "10 %02x 0004 'MQTT' 04 82 003c 0001 'c' 00%02x %s", n + 15, n, u);
	bad(4, spec, MQTT_EMALFORMED, "U");
	ck_assert_str_eq(P.err_field, "CONNECT user name");
	/* will topic */
	snprintf(spec, sizeof spec, "10 %02x 0004 'MQTT' 04 06 003c 0001 'c' 00%02x %s 0000", n + 17, n,
		 u);
	bad(4, spec, MQTT_EMALFORMED, "U");
	ck_assert_str_eq(P.err_field, "CONNECT will topic");
	/* topic filter */
	snprintf(spec, sizeof spec, "82 %02x 0001 00%02x %s 00", n + 5, n, u);
	bad(4, spec, MQTT_EMALFORMED, "U");
	/* user property value */
	snprintf(spec, sizeof spec, "40 %02x 0001 00 %02x 26 0001 'k' 00%02x %s", n + 10, n + 6, n, u);
	bad(5, spec, MQTT_EMALFORMED, "U");
}
END_TEST

START_TEST(test_utf8_errors_named)
{
	bad(4, "30 06 0002 c0 af 'pl'", MQTT_EMALFORMED, "not valid UTF-8");
	bad(4, "30 05 0001 00 'pl'", MQTT_EMALFORMED, "U+0000");
	ck_assert_uint_eq(P.err_offset, 2);
}
END_TEST

START_TEST(test_utf8_allowed_oddities)
{
	/* control characters, U+007F..U+009F, a BOM, a non-character and a
	 * supplementary-plane character are well-formed: accepted */
	ok(4, "30 09 0005 01 7f c2 9f 'x' 'pl'");
	ok(4, "30 09 0007 ef bb bf ef bf bf 'x'");
	ok(4, "30 08 0004 f0 9f 98 80 'pl'");
	str_is(&P.u.publish.topic, "\xf0\x9f\x98\x80");
}
END_TEST

/* ---- PUBLISH rules --------------------------------------------------------------------------- */

START_TEST(test_publish_topic_rules)
{
	bad(4, "30 07 0003 'a/+' 'pl'", MQTT_EMALFORMED, "wildcard");
	bad(5, "30 08 0003 'a/#' 00 'pl'", MQTT_EMALFORMED, "wildcard");
	bad(4, "30 05 0001 '#' 'pl'", MQTT_EMALFORMED, "wildcard");
	bad(4, "30 07 0003 'a+b' 'pl'", MQTT_EMALFORMED, "wildcard");
	ck_assert_str_eq(P.err_field, "PUBLISH topic");
	ck_assert_uint_eq(P.err_offset, 2);
	bad(4, "30 04 0000 'pl'", MQTT_EMALFORMED, "empty topic");
	bad(5, "30 05 0000 00 'pl'", MQTT_EPROTOCOL, "empty topic without a topic alias");
	ok(5, "30 07 0000 03 23 0001 'z'");
	/* "/" and " " are topics */
	ok(4, "30 03 0001 '/'");
	ok(4, "30 03 0001 ' '");
	ok(4, "30 06 0004 '$SYS'");
}
END_TEST

START_TEST(test_publish_flag_rules)
{
	bad(4, "36 07 0003 'a/b' 0001", MQTT_EMALFORMED, "QoS 3");
	bad(5, "36 08 0003 'a/b' 0001 00", MQTT_EMALFORMED, "QoS 3");
	bad(4, "38 05 0003 'a/b'", MQTT_EMALFORMED, "DUP set on a QoS 0");
	bad(5, "39 06 0003 'a/b' 00", MQTT_EMALFORMED, "DUP");
	ok(4, "31 05 0003 'a/b'"); /* retain alone is fine */
	ck_assert(P.u.publish.retain);
}
END_TEST

START_TEST(test_packet_id_zero)
{
	bad(4, "32 07 0003 'a/b' 0000", MQTT_EMALFORMED, "packet identifier 0");
	ck_assert_str_eq(P.err_field, "packet identifier");
	ck_assert_uint_eq(P.err_offset, 7);
	bad(5, "34 08 0003 'a/b' 0000 00", MQTT_EMALFORMED, "packet identifier 0");
	bad(4, "40 02 0000", MQTT_EMALFORMED, "packet identifier 0");
	bad(5, "50 02 0000", MQTT_EMALFORMED, "packet identifier 0");
	bad(4, "62 02 0000", MQTT_EMALFORMED, "packet identifier 0");
	bad(5, "70 02 0000", MQTT_EMALFORMED, "packet identifier 0");
	bad(4, "82 06 0000 0001 'a' 00", MQTT_EMALFORMED, "packet identifier 0");
	bad(4, "90 03 0000 00", MQTT_EMALFORMED, "packet identifier 0");
	bad(5, "a2 06 0000 00 0001 'a'", MQTT_EMALFORMED, "packet identifier 0");
	bad(4, "b0 02 0000", MQTT_EMALFORMED, "packet identifier 0");
	/* QoS 0 has no packet id: 00 00 here is payload */
	ok(4, "30 07 0003 'a/b' 0000");
	ck_assert_uint_eq(P.u.publish.payload_len, 2);
}
END_TEST

/* ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------------ */

static const char *const good_filters[] = {"#", "+", "/", "+/+", "a/#", "/+/", "a/+/b", "+/#",
					   "$SYS/#", "a//b", "//", "a b"};
static const char *const bad_filters[] = {"a/#/b", "a#", "a+", "+a", "a/b+", "#/", "##", "a/++",
					  "+#"};

static void sub_spec(char *spec, size_t cap, int version, const char *filter)
{
	size_t n = strlen(filter);

	snprintf(spec, cap, "82 %02zx 0001 %s 00%02zx '%s' 00", n + 5 + (version == 5), version == 5 ? "00" : "",
		 n, filter);
}

START_TEST(test_good_filters)
{
	char spec[256];

	for (int v = 4; v <= 5; v++) {
		sub_spec(spec, sizeof spec, v, good_filters[_i]);
		ok(v, spec);
		snprintf(spec, sizeof spec, "a2 %02zx 0001 %s 00%02zx '%s'",
			 strlen(good_filters[_i]) + 4 + (v == 5), v == 5 ? "00" : "",
			 strlen(good_filters[_i]), good_filters[_i]);
		ok(v, spec);
	}
	ck_assert(mqtt_filter_valid(good_filters[_i], strlen(good_filters[_i])));
}
END_TEST

START_TEST(test_bad_filters)
{
	char spec[256];

	for (int v = 4; v <= 5; v++) {
		sub_spec(spec, sizeof spec, v, bad_filters[_i]);
		bad(v, spec, MQTT_EMALFORMED, "invalid topic filter");
		ck_assert_str_eq(P.err_field, "SUBSCRIBE topic filter");
		snprintf(spec, sizeof spec, "a2 %02zx 0001 %s 00%02zx '%s'",
			 strlen(bad_filters[_i]) + 4 + (v == 5), v == 5 ? "00" : "",
			 strlen(bad_filters[_i]), bad_filters[_i]);
		bad(v, spec, MQTT_EMALFORMED, "invalid topic filter");
	}
	ck_assert(!mqtt_filter_valid(bad_filters[_i], strlen(bad_filters[_i])));
}
END_TEST

START_TEST(test_subscribe_rules)
{
	bad(4, "82 05 0001 0000 00", MQTT_EMALFORMED, "invalid topic filter"); /* empty filter */
	bad(4, "82 02 0001", MQTT_EPROTOCOL, "no topic filter");
	bad(5, "82 03 0001 00", MQTT_EPROTOCOL, "no topic filter");
	bad(4, "a2 02 0001", MQTT_EPROTOCOL, "no topic filter");
	bad(5, "a2 03 0001 00", MQTT_EPROTOCOL, "no topic filter");
	bad(4, "82 06 0001 0001 'a' 03", MQTT_EMALFORMED, "requested QoS 3");
	bad(5, "82 07 0001 00 0001 'a' 03", MQTT_EMALFORMED, "requested QoS 3");
	/* 3.1.1 reserves bits 7-2 of the options, 5.0 bits 7-6 */
	bad(4, "82 06 0001 0001 'a' 04", MQTT_EMALFORMED, "reserved subscription option");
	bad(4, "82 06 0001 0001 'a' 80", MQTT_EMALFORMED, "reserved subscription option");
	ok(5, "82 07 0001 00 0001 'a' 2c");
	bad(5, "82 07 0001 00 0001 'a' 40", MQTT_EMALFORMED, "reserved subscription option");
	bad(5, "82 07 0001 00 0001 'a' 80", MQTT_EMALFORMED, "reserved subscription option");
	bad(5, "82 07 0001 00 0001 'a' 30", MQTT_EPROTOCOL, "retain handling 3");
	/* missing options byte after the last filter */
	bad(4, "82 05 0001 0001 'a'", MQTT_EMALFORMED, "runs past the end");
	/* shared subscriptions */
	bad(5, "82 0f 0001 00 0009 '$share//x' 00", MQTT_EMALFORMED, "without a share name");
	bad(5, "82 0e 0001 00 0008 '$share/g' 00", MQTT_EMALFORMED, "without a share name");
	bad(5, "82 0f 0001 00 0009 '$share/g/' 00", MQTT_EMALFORMED, "invalid topic filter");
	bad(5, "82 12 0001 00 000c '$share/a+b/x' 00", MQTT_EMALFORMED, "share name contains");
	bad(5, "82 10 0001 00 000a '$share/g/x' 04", MQTT_EPROTOCOL, "no local on a shared");
	ok(5, "82 10 0001 00 000a '$share/g/#' 02");
}
END_TEST

/* ---- CONNECT --------------------------------------------------------------------------------- */

START_TEST(test_connect_versions)
{
	bad(0, "10 0f 0004 'MQTT' 03 02 003c 0003 'abc'", MQTT_EVERSION, "unsupported protocol level");
	ck_assert_int_eq(P.type, MQTT_CONNECT);
	ck_assert_uint_eq(P.u.connect.protocol_level, 3);
	bad(0, "10 0f 0004 'MQTT' 06 02 003c 0003 'abc'", MQTT_EVERSION, "unsupported protocol level");
	ck_assert_uint_eq(P.u.connect.protocol_level, 6);
	/* the version is settled before anything after it is read */
	bad(0, "10 08 0004 'MQTT' 06 ff", MQTT_EVERSION, "unsupported");
	bad(0, "10 11 0006 'MQIsdp' 03 02 003c 0003 'abc'", MQTT_EVERSION, "MQIsdp");
	ck_assert_uint_eq(P.u.connect.protocol_level, 3);
	bad(0, "10 0f 0004 'MQTX' 04 02 003c 0003 'abc'", MQTT_EPROTOCOL, "protocol name");
	bad(0, "10 0f 0004 'mqtt' 04 02 003c 0003 'abc'", MQTT_EPROTOCOL, "protocol name");
	/* the argument is ignored for CONNECT */
	ok(5, "10 0f 0004 'MQTT' 04 02 003c 0003 'abc'");
	ck_assert_uint_eq(P.version, 4);
	ok(4, "10 10 0004 'MQTT' 05 02 003c 00 0003 'abc'");
	ck_assert_uint_eq(P.version, 5);
}
END_TEST

START_TEST(test_connect_flag_rules)
{
	bad(4, "10 0d 0004 'MQTT' 04 03 003c 0001 'c'", MQTT_EMALFORMED, "reserved flag");
	ck_assert_str_eq(P.err_field, "CONNECT flags");
	bad(5, "10 0e 0004 'MQTT' 05 03 003c 00 0001 'c'", MQTT_EMALFORMED, "reserved flag");
	bad(4, "10 0d 0004 'MQTT' 04 0a 003c 0001 'c'", MQTT_EMALFORMED, "without the will flag");
	bad(4, "10 0d 0004 'MQTT' 04 22 003c 0001 'c'", MQTT_EMALFORMED, "without the will flag");
	bad(4, "10 12 0004 'MQTT' 04 1e 003c 0001 'c' 0001 't' 0000", MQTT_EMALFORMED, "will QoS 3");
	/* 3.1.1: password needs a user name; 5.0 allows it */
	bad(4, "10 10 0004 'MQTT' 04 42 003c 0001 'c' 0001 'p'", MQTT_EMALFORMED,
	    "password flag without user name");
	ok(5, "10 11 0004 'MQTT' 05 42 003c 00 0001 'c' 0001 'p'");
	/* a will topic is a topic name */
	bad(4, "10 12 0004 'MQTT' 04 06 003c 0001 'c' 0001 '#' 0000", MQTT_EMALFORMED, "will topic");
	bad(4, "10 11 0004 'MQTT' 04 06 003c 0001 'c' 0000 0000", MQTT_EMALFORMED, "will topic");
	/* flags promise fields that are not there, or bytes follow the last */
	bad(4, "10 0d 0004 'MQTT' 04 82 003c 0001 'c'", MQTT_EMALFORMED, "runs past the end");
	bad(4, "10 0e 0004 'MQTT' 04 02 003c 0001 'c' 00", MQTT_EMALFORMED, "bytes after the end");
	bad(4, "10 0a 0004 'MQTT' 04 02 003c", MQTT_EMALFORMED, "runs past the end");
}
END_TEST

/* ---- properties ------------------------------------------------------------------------------ */

START_TEST(test_property_rules)
{
	/* twice */
	bad(5, "30 09 0001 't' 04 01 01 01 01 'x'", MQTT_EPROTOCOL, "appears twice");
	ck_assert_uint_eq(P.err_offset, 8);
	bad(5, "82 0b 0001 04 0b 01 0b 02 0001 'a' 00", MQTT_EPROTOCOL, "appears twice");
	bad(5, "20 09 00 00 06 21 0001 21 0001", MQTT_EPROTOCOL, "appears twice");
	/* User Property and a PUBLISH's Subscription Identifiers may repeat */
	ok(5, "30 12 0001 't' 0e 26 0001 'a' 0001 'b' 26 0001 'a' 0001 'c'");
	ck_assert_uint_eq(P.u.publish.props.user_count, 2);
	ok(5, "30 08 0001 't' 04 0b 05 0b 06");
	ck_assert_uint_eq(P.u.publish.props.sub_id_count, 2);
	ck_assert_uint_eq(P.u.publish.props.sub_id, 5);
	/* not allowed in this packet (Table 2-4), or unknown */
	bad(5, "10 11 0004 'MQTT' 05 02 003c 03 23 0001 0001 'c'", MQTT_EMALFORMED, "not allowed");
	ck_assert_str_eq(P.err_field, "CONNECT properties");
	bad(5, "30 0a 0001 't' 05 18 00000001 'x'", MQTT_EMALFORMED, "not allowed");
	bad(5, "30 0a 0001 't' 05 1f 0002 'no' 'x'", MQTT_EMALFORMED, "not allowed");
	bad(5, "40 07 0001 00 03 23 0001", MQTT_EMALFORMED, "not allowed");
	bad(5, "a2 08 0001 02 0b 01 0001 'a'", MQTT_EMALFORMED, "not allowed");
	bad(5, "10 17 0004 'MQTT' 05 06 003c 00 0001 'c' 03 23 0001 0001 't' 0000", MQTT_EMALFORMED,
	    "not allowed");
	ck_assert_str_eq(P.err_field, "CONNECT will properties");
	bad(5, "30 07 0001 't' 02 04 00 'x'", MQTT_EMALFORMED, "unknown property");
	bad(5, "30 07 0001 't' 02 2b 00 'x'", MQTT_EMALFORMED, "unknown property");
	bad(5, "30 07 0001 't' 02 00 00 'x'", MQTT_EMALFORMED, "unknown property");
	bad(5, "30 08 0001 't' 03 ff ff 7f 'x'", MQTT_EMALFORMED, "unknown property");
}
END_TEST

START_TEST(test_property_bounds)
{
	/* the length runs past the packet */
	bad(5, "30 05 0001 't' 10 'x'", MQTT_EMALFORMED, "property length runs past");
	bad(5, "40 04 0001 00 05", MQTT_EMALFORMED, "property length runs past");
	/* a value runs past the block, though not past the packet */
	bad(5, "30 0a 0001 't' 02 02 00 'abcd'", MQTT_EMALFORMED, "runs past the end");
	bad(5, "30 0b 0001 't' 03 03 0005 'abcd'", MQTT_EMALFORMED, "runs past the end");
	/* the length itself is cut */
	bad(5, "30 04 0001 't' 80", MQTT_EMALFORMED, "runs past the end");
	bad(5, "40 07 0001 00 ff ff ff ff", MQTT_EMALFORMED, "longer than 4 bytes");
}
END_TEST

START_TEST(test_property_values)
{
	bad(5, "20 06 00 00 03 21 0000", MQTT_EPROTOCOL, "out of range");        /* receive max 0 */
	bad(5, "20 08 00 00 05 27 00000000", MQTT_EPROTOCOL, "out of range");    /* max packet 0 */
	bad(5, "30 07 0001 't' 03 23 0000", MQTT_EPROTOCOL, "out of range");     /* alias 0 */
	bad(5, "30 06 0001 't' 02 01 02", MQTT_EPROTOCOL, "out of range");       /* format 2 */
	bad(5, "20 05 00 00 02 24 02", MQTT_EPROTOCOL, "out of range");          /* max QoS 2 */
	bad(5, "20 05 00 00 02 25 02", MQTT_EPROTOCOL, "out of range");
	bad(5, "20 05 00 00 02 2a 07", MQTT_EPROTOCOL, "out of range");
	bad(5, "82 09 0001 02 0b 00 0001 'a' 00", MQTT_EPROTOCOL, "out of range"); /* sub id 0 */
	bad(5, "10 0f 0004 'MQTT' 05 02 003c 02 17 02 0000", MQTT_EPROTOCOL, "out of range");
	bad(5, "10 0f 0004 'MQTT' 05 02 003c 02 19 05 0000", MQTT_EPROTOCOL, "out of range");
	ok(5, "10 0f 0004 'MQTT' 05 02 003c 02 17 01 0000");
	ok(5, "82 0c 0001 05 0b ff ff ff 7f 0001 'a' 00");
	ck_assert_uint_eq(P.u.subscribe.props.sub_id, MQTT_VBI_MAX);
	bad(5, "10 12 0004 'MQTT' 05 02 003c 05 16 0002 0102 0000", MQTT_EPROTOCOL,
	    "Authentication Data without");
	bad(5, "30 0b 0001 't' 06 08 0003 'a/#' 'x'", MQTT_EPROTOCOL, "Response Topic");
	bad(5, "30 0b 0001 't' 06 03 0003 c0 af 41 'x'", MQTT_EMALFORMED, "UTF-8");
}
END_TEST

/* ---- reason codes ---------------------------------------------------------------------------- */

START_TEST(test_reason_codes)
{
	bad(4, "20 02 00 06", MQTT_EPROTOCOL, "unknown CONNACK reason code");
	bad(5, "20 03 00 01 00", MQTT_EPROTOCOL, "unknown CONNACK reason code");
	bad(5, "20 03 00 8b 00", MQTT_EPROTOCOL, "unknown CONNACK reason code");
	bad(4, "20 02 01 05", MQTT_EPROTOCOL, "session present with a refusal");
	bad(4, "20 02 02 00", MQTT_EMALFORMED, "reserved acknowledge flags");
	bad(4, "90 03 0001 03", MQTT_EPROTOCOL, "reason code not allowed");
	bad(4, "90 03 0001 83", MQTT_EPROTOCOL, "reason code not allowed"); /* 5.0 only */
	ok(5, "90 04 0001 00 83");
	bad(5, "40 03 0001 92", MQTT_EPROTOCOL, "reason code not allowed");
	bad(5, "62 03 0001 10", MQTT_EPROTOCOL, "reason code not allowed");
	bad(5, "b0 04 0001 00 02", MQTT_EPROTOCOL, "reason code not allowed");
	bad(5, "b0 03 0001 00", MQTT_EPROTOCOL, "no reason code");
	bad(5, "e0 01 01", MQTT_EPROTOCOL, "reason code not allowed");
	bad(5, "f0 01 04", MQTT_EPROTOCOL, "reason code not allowed");
	/* 3.1.1 packets have no room for one */
	bad(4, "40 03 0001 00", MQTT_EMALFORMED, "bytes after the end");
	bad(4, "e0 01 00", MQTT_EMALFORMED, "bytes after the end");
	bad(4, "c0 01 00", MQTT_EMALFORMED, "bytes after the end");
	bad(5, "d0 01 00", MQTT_EMALFORMED, "bytes after the end");
	bad(4, "b0 03 0001 00", MQTT_EMALFORMED, "bytes after the end");
	bad(4, "20 03 00 00 00", MQTT_EMALFORMED, "bytes after the end");
	bad(5, "20 02 00 00", MQTT_EMALFORMED, "runs past the end");
}
END_TEST

/* ---- encoders: byte-exact -------------------------------------------------------------------- */

START_TEST(test_encode_connect_exact)
{
	struct strbuf sb = STRBUF_INIT;
	struct mqtt_connect c = {.protocol_level = 4, .clean_start = true, .keep_alive_s = 60,
				 .client_id = S("pub1")};
	struct strbuf user = STRBUF_INIT;

	ck_assert_int_eq(mqtt_encode_connect(&sb, &c), 0);
	bytes_are(&sb, "10 10 0004 'MQTT' 04 02 003c 0004 'pub1'");
	sb.len = 0;
	c = (struct mqtt_connect){.protocol_level = 4, .clean_start = true, .keep_alive_s = 30,
				  .client_id = S("c"), .will = true, .will_qos = 1,
				  .will_retain = true, .will_topic = S("w/t"),
				  .will_payload = BIN("bye"), .has_username = true,
				  .username = S("u"), .has_password = true, .password = BIN("p\0w")};
	ck_assert_int_eq(mqtt_encode_connect(&sb, &c), 0);
	bytes_are(&sb, "10 1f 0004 'MQTT' 04 ee 001e 0001 'c' 0003 'w/t' 0003 'bye' 0001 'u' 0003 70 00 77");
	/* a bridge's 5.0 CONNECT: session expiry, receive maximum, a user property */
	sb.len = 0;
	ck_assert_int_eq(mqtt_props_add_user(&user, "k", 1, "v", 1), 0);
	c = (struct mqtt_connect){.protocol_level = 5, .clean_start = true, .keep_alive_s = 60,
				  .client_id = S("c5")};
	c.props.session_expiry_s = 120;
	c.props.receive_max = 10;
	SET(&c.props, SESSION_EXPIRY);
	SET(&c.props, RECEIVE_MAXIMUM);
	c.props.raw = (const uint8_t *)user.data;
	c.props.raw_len = user.len;
	ck_assert_int_eq(mqtt_encode_connect(&sb, &c), 0);
	bytes_are(&sb, "10 1e 0004 'MQTT' 05 02 003c 0f 11 00000078 21 000a 26 0001 'k' 0001 'v' 0002 'c5'");
	strbuf_free(&user);
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_encode_connack_exact)
{
	struct strbuf sb = STRBUF_INIT;
	struct mqtt_connack c = {.session_present = true};

	ck_assert_int_eq(mqtt_encode_connack(&sb, 4, &c), 0);
	bytes_are(&sb, "20 02 01 00");
	sb.len = 0;
	c = (struct mqtt_connack){.reason_code = MQTT_CONNACK_V311_BAD_PROTOCOL_LEVEL};
	ck_assert_int_eq(mqtt_encode_connack(&sb, 4, &c), 0);
	bytes_are(&sb, "20 02 00 01");
	sb.len = 0;
	c = (struct mqtt_connack){.reason_code = MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION};
	ck_assert_int_eq(mqtt_encode_connack(&sb, 5, &c), 0);
	bytes_are(&sb, "20 03 00 84 00");
	/* the server's 5.0 CONNACK: what historian offers and does not */
	sb.len = 0;
	c = (struct mqtt_connack){0};
	c.props.assigned_client_id = S("abc");
	c.props.server_keep_alive_s = 30;
	c.props.reason_string = S("ok");
	c.props.receive_max = 20;
	c.props.max_packet_len = 1u << 20;
	SET(&c.props, ASSIGNED_CLIENT_ID);
	SET(&c.props, SERVER_KEEP_ALIVE);
	SET(&c.props, REASON_STRING);
	SET(&c.props, RECEIVE_MAXIMUM);
	SET(&c.props, RETAIN_AVAILABLE);
	SET(&c.props, MAXIMUM_PACKET_SIZE);
	SET(&c.props, WILDCARD_SUB_AVAILABLE);
	SET(&c.props, SUB_ID_AVAILABLE);
	SET(&c.props, SHARED_SUB_AVAILABLE);
	ck_assert_int_eq(mqtt_encode_connack(&sb, 5, &c), 0);
	bytes_are(&sb, "20 21 00 00 1e 12 0003 'abc' 13 001e 1f 0002 'ok' 21 0014 25 00 27 00100000 28 00 29 00 2a 00");
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_encode_publish_exact)
{
	struct strbuf sb = STRBUF_INIT;
	struct mqtt_publish p = {.topic = S("a/b"), .payload = (const uint8_t *)"hi", .payload_len = 2};

	ck_assert_int_eq(mqtt_encode_publish(&sb, 4, &p), 0);
	bytes_are(&sb, "30 07 0003 'a/b' 'hi'");
	sb.len = 0;
	p = (struct mqtt_publish){.qos = 1, .dup = true, .retain = true, .topic = S("a/b"),
				  .packet_id = 0x102, .payload = (const uint8_t *)"x",
				  .payload_len = 1};
	ck_assert_int_eq(mqtt_encode_publish(&sb, 4, &p), 0);
	bytes_are(&sb, "3b 08 0003 'a/b' 0102 'x'");
	sb.len = 0;
	p = (struct mqtt_publish){.topic = S(""), .payload = (const uint8_t *)"z", .payload_len = 1};
	p.props.topic_alias = 5;
	SET(&p.props, TOPIC_ALIAS);
	ck_assert_int_eq(mqtt_encode_publish(&sb, 5, &p), 0);
	bytes_are(&sb, "30 07 0000 03 23 0005 'z'");
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_encode_acks_exact)
{
	struct strbuf sb = STRBUF_INIT;
	struct mqtt_ack a = {.packet_id = 1};

	ck_assert_int_eq(mqtt_encode_ack(&sb, 4, MQTT_PUBACK, &a), 0);
	a.packet_id = 2;
	ck_assert_int_eq(mqtt_encode_ack(&sb, 4, MQTT_PUBREC, &a), 0);
	a.packet_id = 3;
	ck_assert_int_eq(mqtt_encode_ack(&sb, 4, MQTT_PUBREL, &a), 0);
	a.packet_id = 4;
	ck_assert_int_eq(mqtt_encode_ack(&sb, 4, MQTT_PUBCOMP, &a), 0);
	bytes_are(&sb, "40 02 0001 50 02 0002 62 02 0003 70 02 0004");
	/* 5.0: the short forms, then code and reason string */
	sb.len = 0;
	a = (struct mqtt_ack){.packet_id = 1};
	ck_assert_int_eq(mqtt_encode_ack(&sb, 5, MQTT_PUBACK, &a), 0);
	a.reason_code = MQTT_RC_NO_MATCHING_SUBSCRIBERS;
	ck_assert_int_eq(mqtt_encode_ack(&sb, 5, MQTT_PUBACK, &a), 0);
	a.reason_code = MQTT_RC_UNSPECIFIED_ERROR;
	a.props.reason_string = S("bad");
	SET(&a.props, REASON_STRING);
	ck_assert_int_eq(mqtt_encode_ack(&sb, 5, MQTT_PUBACK, &a), 0);
	a = (struct mqtt_ack){.packet_id = 5, .reason_code = MQTT_RC_PACKET_ID_NOT_FOUND};
	ck_assert_int_eq(mqtt_encode_ack(&sb, 5, MQTT_PUBREL, &a), 0);
	bytes_are(&sb, "40 02 0001 40 03 0001 10 40 0a 0001 80 06 1f 0003 'bad' 62 03 0005 92");
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_encode_subscribe_exact)
{
	struct strbuf sb = STRBUF_INIT;
	struct mqtt_subscription subs[2] = {{.filter = S("a/+"), .qos = 1}, {.filter = S("b/#")}};
	struct mqtt_props props = {0};
	const struct mqtt_str filters[1] = {S("a/+")};

	ck_assert_int_eq(mqtt_encode_subscribe(&sb, 4, 10, NULL, subs, 2), 0);
	bytes_are(&sb, "82 0e 000a 0003 'a/+' 01 0003 'b/#' 00");
	sb.len = 0;
	subs[0] = (struct mqtt_subscription){.filter = S("s/#"), .qos = 2, .no_local = true,
					     .retain_as_published = true, .retain_handling = 1};
	subs[1] = (struct mqtt_subscription){.filter = S("$share/g/x"), .qos = 1};
	props.sub_id = 7;
	SET(&props, SUBSCRIPTION_ID);
	ck_assert_int_eq(mqtt_encode_subscribe(&sb, 5, 11, &props, subs, 2), 0);
	bytes_are(&sb, "82 18 000b 02 0b 07 0003 's/#' 1e 000a '$share/g/x' 01");
	sb.len = 0;
	ck_assert_int_eq(mqtt_encode_unsubscribe(&sb, 4, 12, NULL, filters, 1), 0);
	ck_assert_int_eq(mqtt_encode_unsubscribe(&sb, 5, 13, NULL, filters, 1), 0);
	bytes_are(&sb, "a2 07 000c 0003 'a/+' a2 08 000d 00 0003 'a/+'");
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_encode_suback_exact)
{
	struct strbuf sb = STRBUF_INIT;
	const uint8_t v4[] = {0x01, 0x80}, v5[] = {0x00, 0x02, 0x9e}, un[] = {0x00, 0x11};
	struct mqtt_suback s = {.packet_id = 10, .reason_codes = v4, .count = 2};

	ck_assert_int_eq(mqtt_encode_suback(&sb, 4, &s), 0);
	s = (struct mqtt_suback){.packet_id = 11, .reason_codes = v5 + 1, .count = 2};
	ck_assert_int_eq(mqtt_encode_suback(&sb, 5, &s), 0);
	s = (struct mqtt_suback){.packet_id = 11, .reason_codes = v5, .count = 1,
				 .props.reason_string = S("no")};
	SET(&s.props, REASON_STRING);
	ck_assert_int_eq(mqtt_encode_suback(&sb, 5, &s), 0);
	s = (struct mqtt_suback){.packet_id = 12};
	ck_assert_int_eq(mqtt_encode_unsuback(&sb, 4, &s), 0);
	s = (struct mqtt_suback){.packet_id = 13, .reason_codes = un, .count = 2};
	ck_assert_int_eq(mqtt_encode_unsuback(&sb, 5, &s), 0);
	bytes_are(&sb, "90 04 000a 01 80  90 05 000b 00 02 9e  90 09 000b 05 1f 0002 'no' 00"
		       "  b0 02 000c  b0 05 000d 00 00 11");
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_encode_small_packets_exact)
{
	struct strbuf sb = STRBUF_INIT;
	struct mqtt_reason r = {.reason_code = MQTT_RC_DISCONNECT_WITH_WILL};

	ck_assert_int_eq(mqtt_encode_pingreq(&sb), 0);
	ck_assert_int_eq(mqtt_encode_pingresp(&sb), 0);
	ck_assert_int_eq(mqtt_encode_disconnect(&sb, 4, NULL), 0);
	ck_assert_int_eq(mqtt_encode_disconnect(&sb, 5, NULL), 0);
	ck_assert_int_eq(mqtt_encode_disconnect(&sb, 5, &r), 0);
	r = (struct mqtt_reason){.reason_code = MQTT_RC_SERVER_SHUTTING_DOWN,
				 .props.reason_string = S("by")};
	SET(&r.props, REASON_STRING);
	ck_assert_int_eq(mqtt_encode_disconnect(&sb, 5, &r), 0);
	/* 3.1.1 has no reason: properties are ignored, a code refused */
	r.reason_code = 0;
	ck_assert_int_eq(mqtt_encode_disconnect(&sb, 4, &r), 0);
	r = (struct mqtt_reason){0};
	ck_assert_int_eq(mqtt_encode_auth(&sb, &r), 0);
	r = (struct mqtt_reason){.reason_code = MQTT_RC_CONTINUE_AUTHENTICATION,
				 .props.auth_method = S("SCRAM"),
				 .props.auth_data = {(const uint8_t *)"\x01\x02", 2}};
	SET(&r.props, AUTH_METHOD);
	SET(&r.props, AUTH_DATA);
	ck_assert_int_eq(mqtt_encode_auth(&sb, &r), 0);
	bytes_are(&sb, "c0 00 d0 00 e0 00 e0 00 e0 01 04 e0 07 8b 05 1f 0002 'by' e0 00"
		       " f0 00 f0 0f 18 0d 15 0005 'SCRAM' 16 0002 0102");
	strbuf_free(&sb);
}
END_TEST

/* ---- encoders: refusals ---------------------------------------------------------------------- */

/* Each refusal leaves the buffer as it was. */
#define REFUSE(call, want)                                                    \
	do {                                                                  \
		size_t before_ = sb.len;                                      \
		ck_assert_int_eq((call), (want));                             \
		ck_assert_uint_eq(sb.len, before_);                           \
	} while (0)

START_TEST(test_encode_refusals_publish_connect)
{
	struct strbuf sb = STRBUF_INIT;
	struct mqtt_publish p = {.topic = S("a/b")};
	struct mqtt_connect c = {.protocol_level = 4, .client_id = S("c")};
	char longstr[70000];

	strbuf_puts(&sb, "prefix");
	p.qos = 3, p.packet_id = 1;
	REFUSE(mqtt_encode_publish(&sb, 4, &p), -EINVAL);
	p.qos = 1, p.packet_id = 0;
	REFUSE(mqtt_encode_publish(&sb, 4, &p), -EINVAL);
	p.qos = 0, p.dup = true;
	REFUSE(mqtt_encode_publish(&sb, 4, &p), -EINVAL);
	p.dup = false, p.topic = S("a/#");
	REFUSE(mqtt_encode_publish(&sb, 4, &p), -EINVAL);
	p.topic = S("");
	REFUSE(mqtt_encode_publish(&sb, 5, &p), -EINVAL); /* empty without an alias */
	p.topic = S("a\xc0\xaf");
	REFUSE(mqtt_encode_publish(&sb, 4, &p), -EINVAL);
	p.topic = (struct mqtt_str){"a\0b", 3};
	REFUSE(mqtt_encode_publish(&sb, 4, &p), -EINVAL);
	memset(longstr, 'x', sizeof longstr);
	p.topic = (struct mqtt_str){longstr, 65536};
	REFUSE(mqtt_encode_publish(&sb, 4, &p), -EINVAL);
	p.topic = (struct mqtt_str){longstr, 65535};
	ck_assert_int_eq(mqtt_encode_publish(&sb, 4, &p), 0);
	p.topic = S("a/b");
	p.payload_len = 3, p.payload = NULL;
	REFUSE(mqtt_encode_publish(&sb, 4, &p), -EINVAL);
	p.payload = (const uint8_t *)longstr, p.payload_len = MQTT_VBI_MAX;
	REFUSE(mqtt_encode_publish(&sb, 4, &p), -EMSGSIZE);
	p.payload_len = 0;
	SET(&p.props, SESSION_EXPIRY); /* not a PUBLISH property */
	REFUSE(mqtt_encode_publish(&sb, 5, &p), -EINVAL);
	REFUSE(mqtt_encode_publish(&sb, 3, &p), -EINVAL);

	c.client_id = S("\xed\xa0\x80");
	REFUSE(mqtt_encode_connect(&sb, &c), -EINVAL);
	c.client_id = S("c"), c.has_password = true;
	REFUSE(mqtt_encode_connect(&sb, &c), -EINVAL);
	c.has_password = false, c.will = true, c.will_topic = S("w/+");
	REFUSE(mqtt_encode_connect(&sb, &c), -EINVAL);
	c.will_topic = S("w"), c.will_qos = 3;
	REFUSE(mqtt_encode_connect(&sb, &c), -EINVAL);
	c.will_qos = 0, c.protocol_level = 3;
	REFUSE(mqtt_encode_connect(&sb, &c), -EINVAL);
	c.protocol_level = 5;
	SET(&c.props, TOPIC_ALIAS);
	c.props.topic_alias = 1;
	REFUSE(mqtt_encode_connect(&sb, &c), -EINVAL);
	c.props.present = 0;
	SET(&c.props, RECEIVE_MAXIMUM); /* receive_max 0 is out of range */
	REFUSE(mqtt_encode_connect(&sb, &c), -EINVAL);
	c.props.present = 0;
	SET(&c.props, AUTH_DATA);
	REFUSE(mqtt_encode_connect(&sb, &c), -EINVAL);
	c.props.present = 0;
	SET(&c.will_props, TOPIC_ALIAS);
	REFUSE(mqtt_encode_connect(&sb, &c), -EINVAL);
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_encode_refusals_acks_subs)
{
	struct strbuf sb = STRBUF_INIT;
	struct mqtt_ack a = {.packet_id = 1, .reason_code = MQTT_RC_NO_MATCHING_SUBSCRIBERS};
	struct mqtt_subscription s = {.filter = S("a/#/b")};
	const struct mqtt_str f = S("a+");
	const uint8_t codes[] = {0x03};
	struct mqtt_suback sa = {.packet_id = 1, .reason_codes = codes, .count = 1};
	struct mqtt_connack ca = {.reason_code = 6};
	struct mqtt_reason r = {.reason_code = MQTT_RC_SUCCESS};

	REFUSE(mqtt_encode_ack(&sb, 4, MQTT_PUBACK, &a), -EINVAL); /* 3.1.1: no code */
	REFUSE(mqtt_encode_ack(&sb, 5, MQTT_PUBREL, &a), -EINVAL); /* 0x10 not on PUBREL */
	REFUSE(mqtt_encode_ack(&sb, 5, MQTT_SUBACK, &a), -EINVAL);
	a.reason_code = 0, a.packet_id = 0;
	REFUSE(mqtt_encode_ack(&sb, 5, MQTT_PUBACK, &a), -EINVAL);
	REFUSE(mqtt_encode_subscribe(&sb, 4, 1, NULL, &s, 1), -EINVAL);
	s.filter = S("a");
	REFUSE(mqtt_encode_subscribe(&sb, 4, 0, NULL, &s, 1), -EINVAL);
	REFUSE(mqtt_encode_subscribe(&sb, 4, 1, NULL, &s, 0), -EINVAL);
	s.qos = 3;
	REFUSE(mqtt_encode_subscribe(&sb, 4, 1, NULL, &s, 1), -EINVAL);
	s.qos = 0, s.no_local = true; /* a 5.0 option in 3.1.1 */
	REFUSE(mqtt_encode_subscribe(&sb, 4, 1, NULL, &s, 1), -EINVAL);
	s.filter = S("$share/g/a"); /* no local on a shared subscription */
	REFUSE(mqtt_encode_subscribe(&sb, 5, 1, NULL, &s, 1), -EINVAL);
	s.no_local = false, s.retain_handling = 3;
	REFUSE(mqtt_encode_subscribe(&sb, 5, 1, NULL, &s, 1), -EINVAL);
	REFUSE(mqtt_encode_unsubscribe(&sb, 4, 1, NULL, &f, 1), -EINVAL);
	REFUSE(mqtt_encode_suback(&sb, 4, &sa), -EINVAL);
	sa.count = 0;
	REFUSE(mqtt_encode_suback(&sb, 5, &sa), -EINVAL);
	REFUSE(mqtt_encode_connack(&sb, 4, &ca), -EINVAL);
	ca.reason_code = 0x80;
	REFUSE(mqtt_encode_connack(&sb, 4, &ca), -EINVAL); /* a 5.0 code */
	ca.reason_code = 0x05, ca.session_present = true;
	REFUSE(mqtt_encode_connack(&sb, 4, &ca), -EINVAL);
	r.reason_code = 0x04;
	REFUSE(mqtt_encode_disconnect(&sb, 4, &r), -EINVAL);
	r.reason_code = 0x01;
	REFUSE(mqtt_encode_disconnect(&sb, 5, &r), -EINVAL);
	REFUSE(mqtt_encode_auth(&sb, &r), -EINVAL);
	REFUSE(mqtt_encode_pingreq(NULL), -EINVAL);
	REFUSE(mqtt_props_add_user(&sb, "a\0", 2, "v", 1), -EINVAL);
	ck_assert_uint_eq(sb.len, 0);
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_encode_failed_buffer)
{
	struct strbuf sb = STRBUF_INIT;

	sb.failed = true;
	ck_assert_int_eq(mqtt_encode_pingreq(&sb), -ENOMEM);
	ck_assert_int_eq(mqtt_props_add_user(&sb, "k", 1, "v", 1), -ENOMEM);
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_encode_user_props_raw)
{
	struct strbuf sb = STRBUF_INIT, raw = STRBUF_INIT;
	struct mqtt_ack a = {.packet_id = 9};

	/* a raw block with a broken entry is refused */
	strbuf_append(&raw, "\x26\x00\x05k", 4);
	a.props.raw = (const uint8_t *)raw.data;
	a.props.raw_len = raw.len;
	REFUSE(mqtt_encode_ack(&sb, 5, MQTT_PUBACK, &a), -EINVAL);
	/* a good one is copied; other entries of raw are skipped */
	raw.len = 0;
	strbuf_append(&raw, "\x1f\x00\x01r", 4);
	ck_assert_int_eq(mqtt_props_add_user(&raw, "k", 1, "v1", 2), 0);
	ck_assert_int_eq(mqtt_props_add_user(&raw, "k", 1, "v2", 2), 0);
	a.props.raw = (const uint8_t *)raw.data;
	a.props.raw_len = raw.len;
	ck_assert_int_eq(mqtt_encode_ack(&sb, 5, MQTT_PUBACK, &a), 0);
	bytes_are(&sb, "40 14 0009 00 10 26 0001 'k' 0002 'v1' 26 0001 'k' 0002 'v2'");
	ck_assert_int_eq(mqtt_decode((uint8_t *)sb.data, sb.len, 5, &P), 0);
	ck_assert_uint_eq(P.u.ack.props.user_count, 2);
	strbuf_free(&raw);
	strbuf_free(&sb);
}
END_TEST

/* ---- round trips ----------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

/* A random topic or filter from a small alphabet that includes the
 * separators and, for filters, wildcards placed legally. */
static size_t gen_level_text(char *out, bool filter)
{
	static const char alpha[] = "abcXYZ019 _-$\xc3\xa9";
	size_t n = 0, levels = 1 + rng() % 4;

	for (size_t l = 0; l < levels; l++) {
		if (l)
			out[n++] = '/';
		if (filter && rng() % 5 == 0) {
			out[n++] = l + 1 == levels && rng() % 2 ? '#' : '+';
			continue;
		}
		for (size_t k = rng() % 4; k > 0; k--) {
			char ch = alpha[rng() % (sizeof alpha - 1)];
			if ((unsigned char)ch >= 0x80) { /* keep the é pair whole */
				out[n++] = '\xc3';
				out[n++] = '\xa9';
			} else {
				out[n++] = ch;
			}
		}
	}
	if (n == 0)
		out[n++] = 'x';
	return n;
}

START_TEST(test_random_publish_round_trip)
{
	struct strbuf sb = STRBUF_INIT;
	static char topics[200][64];
	static uint8_t payload[300];
	struct mqtt_publish in[200];

	rng_state = 0x6d717474ULL + (uint64_t)_i;
	printf("test_random_publish_round_trip: seed 0x%" PRIx64 "\n", rng_state);
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)rng();
	for (int k = 0; k < N(in); k++) {
		int version = 4 + (int)(rng() % 2);
		size_t fl, off = sb.len;
		memset(&in[k], 0, sizeof in[k]);
		in[k].topic.len = gen_level_text(topics[k], false);
		in[k].topic.ptr = topics[k];
		in[k].qos = (uint8_t)(rng() % 3);
		in[k].dup = in[k].qos && rng() % 2;
		in[k].retain = rng() % 2;
		in[k].packet_id = in[k].qos ? (uint16_t)(1 + rng() % 65535) : 0;
		in[k].payload = payload;
		in[k].payload_len = rng() % sizeof payload;
		if (version == 5 && rng() % 2) {
			in[k].props.message_expiry_s = rng();
			in[k].props.sub_id = 1 + rng() % MQTT_VBI_MAX;
			SET(&in[k].props, MESSAGE_EXPIRY);
			SET(&in[k].props, SUBSCRIPTION_ID);
		}
		ck_assert_int_eq(mqtt_encode_publish(&sb, version, &in[k]), 0);
		ck_assert_int_eq(mqtt_frame_len((uint8_t *)sb.data + off, sb.len - off, 0, &fl), 1);
		ck_assert_uint_eq(fl, sb.len - off);
		ck_assert_int_eq(mqtt_decode((uint8_t *)sb.data + off, fl, version, &P), 0);
		ck_assert_uint_eq(P.u.publish.qos, in[k].qos);
		ck_assert_int_eq(P.u.publish.dup, in[k].dup);
		ck_assert_int_eq(P.u.publish.retain, in[k].retain);
		ck_assert_uint_eq(P.u.publish.packet_id, in[k].packet_id);
		ck_assert_uint_eq(P.u.publish.topic.len, in[k].topic.len);
		ck_assert(memcmp(P.u.publish.topic.ptr, in[k].topic.ptr, in[k].topic.len) == 0);
		ck_assert_uint_eq(P.u.publish.payload_len, in[k].payload_len);
		ck_assert(memcmp(P.u.publish.payload, payload, in[k].payload_len) == 0);
		ck_assert_uint_eq(P.u.publish.props.present, in[k].props.present);
		ck_assert_uint_eq(P.u.publish.props.message_expiry_s, in[k].props.message_expiry_s);
		ck_assert_uint_eq(P.u.publish.props.sub_id, in[k].props.sub_id);
	}
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_random_subscribe_round_trip)
{
	struct strbuf sb = STRBUF_INIT;
	static char text[50][64];
	struct mqtt_subscription subs[50], got;
	struct mqtt_sub_iter it;
	int version, n;

	rng_state = 0x73756273ULL + (uint64_t)_i;
	printf("test_random_subscribe_round_trip: seed 0x%" PRIx64 "\n", rng_state);
	version = 4 + _i % 2;
	n = 1 + (int)(rng() % N(subs));
	for (int k = 0; k < n; k++) {
		memset(&subs[k], 0, sizeof subs[k]);
		subs[k].filter.len = gen_level_text(text[k], true);
		subs[k].filter.ptr = text[k];
		subs[k].qos = (uint8_t)(rng() % 3);
		if (version == 5) {
			subs[k].no_local = rng() % 2;
			subs[k].retain_as_published = rng() % 2;
			subs[k].retain_handling = (uint8_t)(rng() % 3);
		}
		ck_assert(mqtt_filter_valid(text[k], subs[k].filter.len));
	}
	ck_assert_int_eq(mqtt_encode_subscribe(&sb, version, 77, NULL, subs, (size_t)n), 0);
	ck_assert_int_eq(mqtt_decode((uint8_t *)sb.data, sb.len, version, &P), 0);
	ck_assert_uint_eq(P.u.subscribe.count, (uint32_t)n);
	mqtt_sub_iter_init(&it, &P.u.subscribe);
	for (int k = 0; k < n; k++) {
		ck_assert_int_eq(mqtt_sub_next(&it, &got), 1);
		ck_assert_uint_eq(got.filter.len, subs[k].filter.len);
		ck_assert(memcmp(got.filter.ptr, subs[k].filter.ptr, got.filter.len) == 0);
		ck_assert_uint_eq(got.qos, subs[k].qos);
		ck_assert_int_eq(got.no_local, subs[k].no_local);
		ck_assert_int_eq(got.retain_as_published, subs[k].retain_as_published);
		ck_assert_uint_eq(got.retain_handling, subs[k].retain_handling);
	}
	ck_assert_int_eq(mqtt_sub_next(&it, &got), 0);
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_connect_round_trip_all_props)
{
	struct strbuf sb = STRBUF_INIT;
	struct mqtt_connect c = {.protocol_level = 5, .keep_alive_s = 0xffff, .client_id = S("id"),
				 .will = true, .will_qos = 2, .will_retain = true,
				 .will_topic = S("w/t"), .will_payload = BIN("wp"),
				 .has_username = true, .username = S("user"),
				 .has_password = true, .password = BIN("pw")};
	const struct mqtt_connect *d = &P.u.connect;

	c.props.session_expiry_s = 0xffffffffu;
	c.props.receive_max = 1;
	c.props.max_packet_len = 1000;
	c.props.topic_alias_max = 3;
	c.props.request_response_info = 1;
	c.props.request_problem_info = 0;
	c.props.auth_method = S("m");
	c.props.auth_data = BIN("d");
	c.props.present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY) |
			  MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM) |
			  MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE) |
			  MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM) |
			  MQTT_PROP_BIT(MQTT_PROP_REQUEST_RESPONSE_INFO) |
			  MQTT_PROP_BIT(MQTT_PROP_REQUEST_PROBLEM_INFO) |
			  MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD) | MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
	c.will_props.will_delay_s = 9;
	c.will_props.content_type = S("ct");
	c.will_props.response_topic = S("r");
	c.will_props.correlation_data = BIN("cd");
	c.will_props.message_expiry_s = 4;
	c.will_props.present = MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY) |
			       MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
			       MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |
			       MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA) |
			       MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
	ck_assert_int_eq(mqtt_encode_connect(&sb, &c), 0);
	ck_assert_int_eq(mqtt_decode((uint8_t *)sb.data, sb.len, 0, &P), 0);
	ck_assert_uint_eq(d->props.present, c.props.present);
	ck_assert_uint_eq(d->props.session_expiry_s, 0xffffffffu);
	ck_assert_uint_eq(d->props.receive_max, 1);
	ck_assert_uint_eq(d->props.max_packet_len, 1000);
	ck_assert_uint_eq(d->props.topic_alias_max, 3);
	ck_assert_uint_eq(d->props.request_response_info, 1);
	str_is(&d->props.auth_method, "m");
	bin_is(&d->props.auth_data, "d", 1);
	ck_assert_uint_eq(d->will_props.present, c.will_props.present);
	ck_assert_uint_eq(d->will_props.will_delay_s, 9);
	str_is(&d->will_props.content_type, "ct");
	str_is(&d->will_props.response_topic, "r");
	bin_is(&d->will_props.correlation_data, "cd", 2);
	ck_assert_uint_eq(d->will_props.message_expiry_s, 4);
	ck_assert(d->will && d->will_retain && d->has_username && d->has_password);
	ck_assert_uint_eq(d->will_qos, 2);
	ck_assert_uint_eq(d->keep_alive_s, 0xffff);
	str_is(&d->username, "user");
	bin_is(&d->password, "pw", 2);
	bin_is(&d->will_payload, "wp", 2);
	strbuf_free(&sb);
}
END_TEST

/* Random bytes, and random mutations of the vectors: never a crash, every
 * accepted packet re-encodes and decodes again. Seeds are printed. */
START_TEST(test_random_mutations)
{
	struct strbuf sb = STRBUF_INIT;
	uint8_t buf[512];

	rng_state = 0x66757a7aULL + (uint64_t)_i;
	printf("test_random_mutations: seed 0x%" PRIx64 "\n", rng_state);
	for (int round = 0; round < 20000; round++) {
		const struct vec *v = &vectors[rng() % N(vectors)];
		size_t len = hx(v->hex, buf, sizeof buf), fl;
		uint8_t *b;
		int rc;
		for (int m = 1 + (int)(rng() % 3); m > 0 && len > 2; m--)
			buf[2 + rng() % (len - 2)] = (uint8_t)rng();
		b = keep(buf, len);
		if (mqtt_frame_len(b, len, 0, &fl) != 1 || fl != len)
			continue;
		rc = mqtt_decode(b, len, v->version, &P);
		ck_assert(rc == 0 || rc == MQTT_EMALFORMED || rc == MQTT_EPROTOCOL ||
			  rc == MQTT_EVERSION);
		if (rc != 0)
			continue;
		sb.len = 0;
		rc = reencode(&sb, P.type == MQTT_CONNECT ? P.version : v->version, &P);
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(mqtt_decode((uint8_t *)sb.data, sb.len,
					     P.type == MQTT_CONNECT ? P.version : v->version, &P), 0);
	}
	strbuf_free(&sb);
}
END_TEST

START_TEST(test_strerror_and_names)
{
	ck_assert_str_eq(mqtt_strerror(MQTT_EMALFORMED), "malformed MQTT packet");
	ck_assert_str_eq(mqtt_strerror(MQTT_ETOOLARGE), "MQTT packet too large");
	ck_assert_str_eq(mqtt_strerror(-EINVAL), "Invalid argument");
	ck_assert_str_eq(mqtt_type_name(MQTT_PUBREL), "PUBREL");
	ck_assert_str_eq(mqtt_type_name(MQTT_NONE), "none");
	ck_assert(mqtt_topic_valid("a/b", 3));
	ck_assert(!mqtt_topic_valid("", 0));
	ck_assert(!mqtt_topic_valid("a/+", 3));
}
END_TEST

/* ---- the suite ------------------------------------------------------------------------------- */

static TCase *tc(Suite *s, const char *name)
{
	TCase *t = tcase_create(name);

	tcase_add_checked_fixture(t, NULL, teardown);
	suite_add_tcase(s, t);
	return t;
}

#define LOOP(t, fn, table) tcase_add_loop_test(t, fn, 0, N(table))

static Suite *mqtt_codec_suite(void)
{
	Suite *s = suite_create("mqtt_codec");
	TCase *t;

	t = tc(s, "vectors");
	LOOP(t, test_vector_decodes_and_reencodes, vectors);
	tcase_add_test(t, test_connect_v311_fields);
	tcase_add_test(t, test_connect_v5_fields);
	tcase_add_test(t, test_connack_fields);
	tcase_add_test(t, test_publish_fields);
	tcase_add_test(t, test_ack_fields);
	tcase_add_test(t, test_subscribe_fields);
	tcase_add_test(t, test_suback_disconnect_auth_fields);

	t = tc(s, "framing");
	tcase_add_test(t, test_frame_len);
	LOOP(t, test_remaining_length_boundaries, rl_cases);
	tcase_add_test(t, test_packet_too_large);
	tcase_add_test(t, test_non_minimal_remaining_length);
	tcase_add_test(t, test_remaining_length_mismatch);

	t = tc(s, "truncation");
	LOOP(t, test_truncated_every_byte, vectors);
	LOOP(t, test_body_cut_every_byte, vectors);

	t = tc(s, "fixed_header_flags");
	LOOP(t, test_reserved_flags, vectors);
	tcase_add_test(t, test_reserved_types);

	t = tc(s, "utf8");
	LOOP(t, test_invalid_utf8_everywhere, bad_utf8);
	tcase_add_test(t, test_utf8_errors_named);
	tcase_add_test(t, test_utf8_allowed_oddities);

	t = tc(s, "publish");
	tcase_add_test(t, test_publish_topic_rules);
	tcase_add_test(t, test_publish_flag_rules);
	tcase_add_test(t, test_packet_id_zero);

	t = tc(s, "subscribe");
	LOOP(t, test_good_filters, good_filters);
	LOOP(t, test_bad_filters, bad_filters);
	tcase_add_test(t, test_subscribe_rules);

	t = tc(s, "connect");
	tcase_add_test(t, test_connect_versions);
	tcase_add_test(t, test_connect_flag_rules);

	t = tc(s, "properties");
	tcase_add_test(t, test_property_rules);
	tcase_add_test(t, test_property_bounds);
	tcase_add_test(t, test_property_values);

	t = tc(s, "reason_codes");
	tcase_add_test(t, test_reason_codes);

	t = tc(s, "encode_exact");
	tcase_add_test(t, test_encode_connect_exact);
	tcase_add_test(t, test_encode_connack_exact);
	tcase_add_test(t, test_encode_publish_exact);
	tcase_add_test(t, test_encode_acks_exact);
	tcase_add_test(t, test_encode_subscribe_exact);
	tcase_add_test(t, test_encode_suback_exact);
	tcase_add_test(t, test_encode_small_packets_exact);

	t = tc(s, "encode_refusals");
	tcase_add_test(t, test_encode_refusals_publish_connect);
	tcase_add_test(t, test_encode_refusals_acks_subs);
	tcase_add_test(t, test_encode_failed_buffer);
	tcase_add_test(t, test_encode_user_props_raw);

	t = tc(s, "round_trip");
	tcase_add_loop_test(t, test_random_publish_round_trip, 0, 4);
	tcase_add_loop_test(t, test_random_subscribe_round_trip, 0, 4);
	tcase_add_test(t, test_connect_round_trip_all_props);
	tcase_add_loop_test(t, test_random_mutations, 0, 2);
	tcase_add_test(t, test_strerror_and_names);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mqtt_codec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
