/* fuzz_mqtt_codec.c: libFuzzer target for the MQTT packet codec (server/mqtt_codec.c), both protocol versions.
 * Network input: the input is a byte stream cut into frames; every frame that decodes must re-encode, decode alike and be a fixed point. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"
#include "server/mqtt_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "invariant broken: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                     \
		}                                                                    \
	} while (0)

#define MAX_SUBS 512

static const uint8_t *frame_lo, *frame_hi;

/* A view lies inside the frame it was decoded from. */
static void check_in(const void *ptr, size_t len)
{
	const uint8_t *p = ptr;

	if (len == 0)
		return;
	CHECK(p >= frame_lo && p <= frame_hi && len <= (size_t)(frame_hi - p));
}

static bool same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

#define SAME_STR(x, y) same_bytes((x).ptr, (x).len, (y).ptr, (y).len)

/* Reference rules, written apart from the codec's: a filter level is
 * "#" (last only), "+", or text without either; a 5.0 "$share/" filter
 * is checked from its third level on. */
static bool ref_filter_ok(const char *s, size_t len, bool shared)
{
	size_t from = 0, lvl;

	if (shared) {
		const char *name = s + 7, *slash = memchr(name, '/', len - 7);
		CHECK(len > 7 && memcmp(s, "$share/", 7) == 0);
		CHECK(slash != NULL && slash > name);
		CHECK(!memchr(name, '+', (size_t)(slash - name)));
		CHECK(!memchr(name, '#', (size_t)(slash - name)));
		from = (size_t)(slash - s) + 1;
	}
	CHECK(len > from);
	lvl = from;
	for (size_t i = from; i <= len; i++) {
		size_t n = i - lvl; /* the level is s[lvl, i) */
		if (i < len && s[i] != '/')
			continue;
		if (memchr(s + lvl, '#', n) && !(n == 1 && i == len))
			return false;
		if (memchr(s + lvl, '+', n) && n != 1)
			return false;
		lvl = i + 1;
	}
	return true;
}

/* Every property identifier seen is flagged, and none but User Property
 * and Subscription Identifier repeats. */
static void ref_props_once(const struct mqtt_props *p)
{
	struct mqtt_prop_iter it;
	struct mqtt_prop v;
	uint64_t seen = 0;
	uint32_t users = 0;
	int rc;

	mqtt_props_iter_init(&it, p);
	while ((rc = mqtt_props_next(&it, &v)) == 1) {
		CHECK(v.id <= MQTT_PROP_ID_MAX && mqtt_props_has(p, v.id));
		if (v.id == MQTT_PROP_USER_PROPERTY)
			users++;
		else if (v.id != MQTT_PROP_SUBSCRIPTION_ID)
			CHECK((seen & MQTT_PROP_BIT(v.id)) == 0);
		seen |= MQTT_PROP_BIT(v.id);
	}
	CHECK(rc == 0 && seen == p->present && users == p->user_count);
}

/* Properties: the same set, values and User Properties in the same order. */
static void check_props(const struct mqtt_props *a, const struct mqtt_props *b, bool views)
{
	struct mqtt_prop_iter ia, ib;
	struct mqtt_prop pa, pb;
	int ra, rb;

	if (views) {
		check_in(a->raw, a->raw_len);
		ref_props_once(a);
	}
	CHECK(a->present == b->present);
	CHECK(a->user_count == b->user_count);
	CHECK((a->sub_id_count > 0) == (b->sub_id_count > 0));
	CHECK(a->payload_format == b->payload_format && a->message_expiry_s == b->message_expiry_s);
	CHECK(a->sub_id == b->sub_id && a->session_expiry_s == b->session_expiry_s);
	CHECK(a->server_keep_alive_s == b->server_keep_alive_s && a->will_delay_s == b->will_delay_s);
	CHECK(a->request_problem_info == b->request_problem_info);
	CHECK(a->request_response_info == b->request_response_info);
	CHECK(a->receive_max == b->receive_max && a->topic_alias_max == b->topic_alias_max);
	CHECK(a->topic_alias == b->topic_alias && a->max_qos == b->max_qos);
	CHECK(a->retain_available == b->retain_available && a->max_packet_len == b->max_packet_len);
	CHECK(a->wildcard_sub_available == b->wildcard_sub_available);
	CHECK(a->sub_id_available == b->sub_id_available);
	CHECK(a->shared_sub_available == b->shared_sub_available);
	CHECK(SAME_STR(a->content_type, b->content_type));
	CHECK(SAME_STR(a->response_topic, b->response_topic));
	CHECK(SAME_STR(a->correlation_data, b->correlation_data));
	CHECK(SAME_STR(a->assigned_client_id, b->assigned_client_id));
	CHECK(SAME_STR(a->auth_method, b->auth_method) && SAME_STR(a->auth_data, b->auth_data));
	CHECK(SAME_STR(a->response_info, b->response_info));
	CHECK(SAME_STR(a->server_reference, b->server_reference));
	CHECK(SAME_STR(a->reason_string, b->reason_string));
	mqtt_props_iter_init(&ia, a);
	mqtt_props_iter_init(&ib, b);
	for (;;) {
		while ((ra = mqtt_props_next(&ia, &pa)) == 1 && pa.id != MQTT_PROP_USER_PROPERTY)
			;
		while ((rb = mqtt_props_next(&ib, &pb)) == 1 && pb.id != MQTT_PROP_USER_PROPERTY)
			;
		CHECK(ra == rb && ra >= 0);
		if (ra == 0)
			break;
		CHECK(SAME_STR(pa.str, pb.str) && SAME_STR(pa.value, pb.value));
	}
}

static void check_connect(const struct mqtt_connect *a, const struct mqtt_connect *b, bool views)
{
	CHECK(a->protocol_level == b->protocol_level && a->clean_start == b->clean_start);
	CHECK(a->keep_alive_s == b->keep_alive_s && a->will == b->will);
	CHECK(a->will_qos == b->will_qos && a->will_retain == b->will_retain);
	CHECK(a->will_qos <= 2 && (a->will || (a->will_qos == 0 && !a->will_retain)));
	CHECK(a->has_username == b->has_username && a->has_password == b->has_password);
	CHECK(SAME_STR(a->client_id, b->client_id) && SAME_STR(a->will_topic, b->will_topic));
	CHECK(SAME_STR(a->will_payload, b->will_payload) && SAME_STR(a->username, b->username));
	CHECK(SAME_STR(a->password, b->password));
	if (views) {
		check_in(a->client_id.ptr, a->client_id.len);
		check_in(a->will_topic.ptr, a->will_topic.len);
		check_in(a->will_payload.ptr, a->will_payload.len);
		check_in(a->username.ptr, a->username.len);
		check_in(a->password.ptr, a->password.len);
	}
	check_props(&a->props, &b->props, views);
	check_props(&a->will_props, &b->will_props, views);
}

static void check_publish(const struct mqtt_publish *a, const struct mqtt_publish *b, bool views)
{
	CHECK(a->qos <= 2 && !(a->dup && a->qos == 0));
	CHECK((a->packet_id != 0) == (a->qos > 0));
	CHECK(a->qos == b->qos && a->dup == b->dup && a->retain == b->retain);
	CHECK(a->packet_id == b->packet_id && SAME_STR(a->topic, b->topic));
	CHECK(same_bytes(a->payload, a->payload_len, b->payload, b->payload_len));
	CHECK(a->topic.len > 0 || mqtt_props_has(&a->props, MQTT_PROP_TOPIC_ALIAS));
	CHECK(a->topic.len == 0 || mqtt_topic_valid(a->topic.ptr, a->topic.len));
	if (views) {
		check_in(a->topic.ptr, a->topic.len);
		check_in(a->payload, a->payload_len);
		CHECK(a->payload + a->payload_len == frame_hi);
	}
	check_props(&a->props, &b->props, views);
}

static void check_subscribe(const struct mqtt_subscribe *a, const struct mqtt_subscribe *b,
			    bool views)
{
	struct mqtt_sub_iter ia, ib;
	struct mqtt_subscription sa, sb;
	uint32_t n = 0;
	int ra, rb;

	CHECK(a->packet_id != 0 && a->packet_id == b->packet_id);
	CHECK(a->count >= 1 && a->count == b->count && a->options == b->options);
	if (views)
		check_in(a->list, a->list_len);
	check_props(&a->props, &b->props, views);
	mqtt_sub_iter_init(&ia, a);
	mqtt_sub_iter_init(&ib, b);
	while ((ra = mqtt_sub_next(&ia, &sa)) == 1) {
		rb = mqtt_sub_next(&ib, &sb);
		CHECK(rb == 1);
		CHECK(SAME_STR(sa.filter, sb.filter) && sa.qos == sb.qos && sa.qos <= 2);
		CHECK(sa.no_local == sb.no_local && sa.retain_handling == sb.retain_handling);
		CHECK(sa.retain_as_published == sb.retain_as_published && sa.shared == sb.shared);
		CHECK(sa.filter.len > 0);
		CHECK(ref_filter_ok(sa.filter.ptr, sa.filter.len, sa.shared));
		if (views)
			check_in(sa.filter.ptr, sa.filter.len);
		n++;
	}
	CHECK(ra == 0 && mqtt_sub_next(&ib, &sb) == 0 && n == a->count);
}

/* Two decodings of the same packet agree; views of a lie in the frame. */
static void check_same(const struct mqtt_packet *a, const struct mqtt_packet *b, bool views)
{
	CHECK(a->type == b->type && a->flags == b->flags && a->version == b->version);
	switch (a->type) {
	case MQTT_CONNECT: check_connect(&a->u.connect, &b->u.connect, views); break;
	case MQTT_CONNACK:
		CHECK(a->u.connack.session_present == b->u.connack.session_present);
		CHECK(a->u.connack.reason_code == b->u.connack.reason_code);
		check_props(&a->u.connack.props, &b->u.connack.props, views);
		break;
	case MQTT_PUBLISH: check_publish(&a->u.publish, &b->u.publish, views); break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		CHECK(a->u.ack.packet_id != 0 && a->u.ack.packet_id == b->u.ack.packet_id);
		CHECK(a->u.ack.reason_code == b->u.ack.reason_code);
		check_props(&a->u.ack.props, &b->u.ack.props, views);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: check_subscribe(&a->u.subscribe, &b->u.subscribe, views); break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		CHECK(a->u.suback.packet_id != 0 && a->u.suback.packet_id == b->u.suback.packet_id);
		CHECK(same_bytes(a->u.suback.reason_codes, a->u.suback.count,
				 b->u.suback.reason_codes, b->u.suback.count));
		if (views)
			check_in(a->u.suback.reason_codes, a->u.suback.count);
		check_props(&a->u.suback.props, &b->u.suback.props, views);
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		CHECK(a->u.disconnect.reason_code == b->u.disconnect.reason_code);
		check_props(&a->u.disconnect.props, &b->u.disconnect.props, views);
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP: break;
	default: CHECK(0);
	}
}

/* Encode a decoded packet with its type's encoder. 1: not tried (more
 * filters than fit here). */
static int reencode(struct strbuf *sb, int version, const struct mqtt_packet *p)
{
	static struct mqtt_subscription subs[MAX_SUBS];
	static struct mqtt_str filters[MAX_SUBS];
	const struct mqtt_subscribe *s = &p->u.subscribe;
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
		if (s->count > MAX_SUBS)
			return 1;
		mqtt_sub_iter_init(&it, s);
		while (mqtt_sub_next(&it, &subs[n]) == 1) {
			filters[n] = subs[n].filter;
			n++;
		}
		if (p->type == MQTT_SUBSCRIBE)
			return mqtt_encode_subscribe(sb, version, s->packet_id, &s->props, subs, n);
		return mqtt_encode_unsubscribe(sb, version, s->packet_id, &s->props, filters, n);
	case MQTT_SUBACK: return mqtt_encode_suback(sb, version, &p->u.suback);
	case MQTT_UNSUBACK: return mqtt_encode_unsuback(sb, version, &p->u.suback);
	case MQTT_PINGREQ: return mqtt_encode_pingreq(sb);
	case MQTT_PINGRESP: return mqtt_encode_pingresp(sb);
	case MQTT_DISCONNECT: return mqtt_encode_disconnect(sb, version, &p->u.disconnect);
	case MQTT_AUTH: return mqtt_encode_auth(sb, &p->u.disconnect);
	default: return -1;
	}
}

static void check_error(int rc, const struct mqtt_packet *p, size_t len)
{
	CHECK(rc == MQTT_EMALFORMED || rc == MQTT_EPROTOCOL || rc == MQTT_EVERSION);
	CHECK(p->err != NULL && p->err[0] != '\0' && p->err_offset <= len);
	CHECK(rc != MQTT_EVERSION || p->type == MQTT_CONNECT);
}

/* One frame under one version: decode, and if it decodes, re-encode,
 * decode the re-encoding, compare, and re-encode that to the same bytes. */
static void one_frame(const uint8_t *frame, size_t len, int version)
{
	static struct mqtt_packet a, b;
	struct strbuf e1 = STRBUF_INIT, e2 = STRBUF_INIT;
	int rc = mqtt_decode(frame, len, version, &a), v;

	if (rc != 0) {
		check_error(rc, &a, len);
		return;
	}
	frame_lo = frame;
	frame_hi = frame + len;
	/* a shorter frame never decodes: every packet needs its last byte */
	CHECK(mqtt_decode(frame, len - 1, version, &b) < 0);
	v = a.type == MQTT_CONNECT ? a.version : version;
	rc = reencode(&e1, v, &a);
	if (rc == 1)
		goto out;
	CHECK(rc == 0 && !strbuf_failed(&e1));
	CHECK(e1.len <= len); /* minimal lengths, short forms: never longer */
	rc = mqtt_decode((const uint8_t *)e1.data, e1.len, v, &b);
	CHECK(rc == 0);
	check_same(&a, &b, true);
	CHECK(reencode(&e2, v, &b) == 0);
	CHECK(same_bytes(e1.data, e1.len, e2.data, e2.len));
out:
	strbuf_free(&e1);
	strbuf_free(&e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, fl;
	int rc;

	while (off < size) {
		const uint8_t *p = data + off;
		size_t left = size - off;
		uint8_t *copy;
		size_t small;
		rc = mqtt_frame_len(p, left, 0, &fl);
		CHECK(rc == 1 || rc == 0 || rc == MQTT_EMALFORMED);
		if (rc != 1)
			break;
		CHECK(fl >= 2 && fl <= left && fl <= 5 + (size_t)MQTT_VBI_MAX);
		/* a limit below the frame refuses it, at or above accepts it */
		small = fl - 1;
		CHECK(mqtt_frame_len(p, left, small, &small) == MQTT_ETOOLARGE);
		CHECK(mqtt_frame_len(p, left, fl, &small) == 1 && small == fl);
		/* decode from an exact-size copy, so ASan sees any overread */
		copy = malloc(fl);
		CHECK(copy != NULL);
		memcpy(copy, p, fl);
		one_frame(copy, fl, MQTT_V311);
		one_frame(copy, fl, MQTT_V5);
		CHECK(memcmp(copy, p, fl) == 0); /* the decoder never writes */
		free(copy);
		off += fl;
	}
	return 0;
}
