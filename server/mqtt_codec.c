/* mqtt_codec.c: the MQTT 3.1.1 / 5.0 packet codec behind mqtt_codec.h: framing, a cursor decoder and a two-pass encoder.
 * Pure and reentrant: no I/O, no globals but constant tables, no allocation; any thread, nothing shared.
 *
 * Decoding reads through a bounds-checked cursor (struct dec): every read
 * checks the bytes left first, so no input can make it read outside the
 * frame, and every failure says what, where and in which field. Views in
 * the result point into the frame.
 *
 * Which rule breaks give Malformed Packet and which Protocol Error follows
 * the 5.0 text where it says; where it does not (and for 3.1.1, which only
 * says "close the connection") the closest 5.0 rule decides: a byte that
 * cannot be what the spec says (reserved bits, QoS 3, bad UTF-8, unknown
 * or misplaced property, wildcard in a topic name, packet id 0) is
 * malformed; a well-formed value the spec forbids in context (a duplicate
 * property, a 0 where 0 is not allowed, an unknown reason code, an empty
 * SUBSCRIBE) is a protocol error.
 *
 * Encoding runs the packet's body function twice: once to measure it (and
 * validate the input: nothing is appended if it is bad), then, after the
 * fixed header with the measured remaining length, to write it. So the
 * remaining length is always minimal and a packet is never half-written.
 * Properties are measured the same way for their length prefix. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "lib/hs_error.h"
#include "lib/strbuf.h"
#include "lib/utf8.h"
#include "server/mqtt_codec.h"

/* ---- tables -------------------------------------------------------------------------- */

/* Where a property may appear (Table 2-4). W_ACK covers PUBACK, PUBREC,
 * PUBREL and PUBCOMP, which allow the same two. */
enum {
	W_CONNECT = 1 << 0,
	W_CONNACK = 1 << 1,
	W_PUBLISH = 1 << 2,
	W_WILL = 1 << 3,
	W_ACK = 1 << 4,
	W_SUBSCRIBE = 1 << 5,
	W_SUBACK = 1 << 6,
	W_UNSUBSCRIBE = 1 << 7,
	W_UNSUBACK = 1 << 8,
	W_DISCONNECT = 1 << 9,
	W_AUTH = 1 << 10,
	W_ALL = (1 << 11) - 1,
};

/* Property value types. */
enum { T_NONE, T_U8, T_U16, T_U32, T_VBI, T_STR, T_BIN, T_PAIR };

struct prop_spec {
	uint8_t type;
	uint16_t where;
	uint16_t offset; /* of the field in struct mqtt_props (not for T_PAIR) */
	uint32_t min, max;
};

#define OFF(f) ((uint16_t)offsetof(struct mqtt_props, f))
#define U32MAX 0xFFFFFFFFu

/* The spec's limits on values: a value outside [min, max] is a protocol
 * error ("It is a Protocol Error to ... have a value other than 0 or 1"). */
static const struct prop_spec prop_specs[MQTT_PROP_ID_MAX + 1] = {
	[MQTT_PROP_PAYLOAD_FORMAT] = {T_U8, W_PUBLISH | W_WILL, OFF(payload_format), 0, 1},
	[MQTT_PROP_MESSAGE_EXPIRY] = {T_U32, W_PUBLISH | W_WILL, OFF(message_expiry_s), 0, U32MAX},
	[MQTT_PROP_CONTENT_TYPE] = {T_STR, W_PUBLISH | W_WILL, OFF(content_type), 0, 0},
	[MQTT_PROP_RESPONSE_TOPIC] = {T_STR, W_PUBLISH | W_WILL, OFF(response_topic), 0, 0},
	[MQTT_PROP_CORRELATION_DATA] = {T_BIN, W_PUBLISH | W_WILL, OFF(correlation_data), 0, 0},
	[MQTT_PROP_SUBSCRIPTION_ID] = {T_VBI, W_PUBLISH | W_SUBSCRIBE, OFF(sub_id), 1, MQTT_VBI_MAX},
	[MQTT_PROP_SESSION_EXPIRY] = {T_U32, W_CONNECT | W_CONNACK | W_DISCONNECT,
				      OFF(session_expiry_s), 0, U32MAX},
	[MQTT_PROP_ASSIGNED_CLIENT_ID] = {T_STR, W_CONNACK, OFF(assigned_client_id), 0, 0},
	[MQTT_PROP_SERVER_KEEP_ALIVE] = {T_U16, W_CONNACK, OFF(server_keep_alive_s), 0, 0xFFFF},
	[MQTT_PROP_AUTH_METHOD] = {T_STR, W_CONNECT | W_CONNACK | W_AUTH, OFF(auth_method), 0, 0},
	[MQTT_PROP_AUTH_DATA] = {T_BIN, W_CONNECT | W_CONNACK | W_AUTH, OFF(auth_data), 0, 0},
	[MQTT_PROP_REQUEST_PROBLEM_INFO] = {T_U8, W_CONNECT, OFF(request_problem_info), 0, 1},
	[MQTT_PROP_WILL_DELAY] = {T_U32, W_WILL, OFF(will_delay_s), 0, U32MAX},
	[MQTT_PROP_REQUEST_RESPONSE_INFO] = {T_U8, W_CONNECT, OFF(request_response_info), 0, 1},
	[MQTT_PROP_RESPONSE_INFO] = {T_STR, W_CONNACK, OFF(response_info), 0, 0},
	[MQTT_PROP_SERVER_REFERENCE] = {T_STR, W_CONNACK | W_DISCONNECT, OFF(server_reference), 0, 0},
	[MQTT_PROP_REASON_STRING] = {T_STR, W_CONNACK | W_ACK | W_SUBACK | W_UNSUBACK |
					    W_DISCONNECT | W_AUTH, OFF(reason_string), 0, 0},
	[MQTT_PROP_RECEIVE_MAXIMUM] = {T_U16, W_CONNECT | W_CONNACK, OFF(receive_max), 1, 0xFFFF},
	[MQTT_PROP_TOPIC_ALIAS_MAXIMUM] = {T_U16, W_CONNECT | W_CONNACK, OFF(topic_alias_max), 0,
					   0xFFFF},
	[MQTT_PROP_TOPIC_ALIAS] = {T_U16, W_PUBLISH, OFF(topic_alias), 1, 0xFFFF},
	[MQTT_PROP_MAXIMUM_QOS] = {T_U8, W_CONNACK, OFF(max_qos), 0, 1},
	[MQTT_PROP_RETAIN_AVAILABLE] = {T_U8, W_CONNACK, OFF(retain_available), 0, 1},
	[MQTT_PROP_USER_PROPERTY] = {T_PAIR, W_ALL, 0, 0, 0},
	[MQTT_PROP_MAXIMUM_PACKET_SIZE] = {T_U32, W_CONNECT | W_CONNACK, OFF(max_packet_len), 1,
					   U32MAX},
	[MQTT_PROP_WILDCARD_SUB_AVAILABLE] = {T_U8, W_CONNACK, OFF(wildcard_sub_available), 0, 1},
	[MQTT_PROP_SUB_ID_AVAILABLE] = {T_U8, W_CONNACK, OFF(sub_id_available), 0, 1},
	[MQTT_PROP_SHARED_SUB_AVAILABLE] = {T_U8, W_CONNACK, OFF(shared_sub_available), 0, 1},
};

#define USER_BIT MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY)

/* Reason codes each packet may carry: 5.0 sections 3.2.2.2 to 3.15.2.1,
 * and the two 3.1.1 lists. */
struct rc_list {
	const uint8_t *codes;
	size_t n;
};

static const uint8_t rc_connack[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
				     0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
				     0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
static const uint8_t rc_puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
static const uint8_t rc_pubrel[] = {0x00, 0x92};
static const uint8_t rc_suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
				    0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
static const uint8_t rc_unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
static const uint8_t rc_disconnect[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89,
					0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
					0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D,
					0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
static const uint8_t rc_auth[] = {0x00, 0x18, 0x19};
static const uint8_t rc_connack_v311[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05};
static const uint8_t rc_suback_v311[] = {0x00, 0x01, 0x02, 0x80};

#define RC(a) ((struct rc_list){a, sizeof(a)})

/* The 5.0 list (or 3.1.1 list, where the packet has codes there) of a type. */
static struct rc_list rc_codes(enum mqtt_type type, int version)
{
	switch (type) {
	case MQTT_CONNACK: return version == MQTT_V5 ? RC(rc_connack) : RC(rc_connack_v311);
	case MQTT_PUBACK:
	case MQTT_PUBREC: return RC(rc_puback);
	case MQTT_PUBREL:
	case MQTT_PUBCOMP: return RC(rc_pubrel);
	case MQTT_SUBACK: return version == MQTT_V5 ? RC(rc_suback) : RC(rc_suback_v311);
	case MQTT_UNSUBACK: return RC(rc_unsuback);
	case MQTT_DISCONNECT: return RC(rc_disconnect);
	case MQTT_AUTH: return RC(rc_auth);
	default: return (struct rc_list){NULL, 0};
	}
}

static bool rc_allowed(enum mqtt_type type, int version, uint8_t code)
{
	struct rc_list l = rc_codes(type, version);

	return l.n > 0 && memchr(l.codes, code, l.n) != NULL;
}

/* Wire packet type -> in-memory type, its name, its required flags
 * (0xFF: PUBLISH, checked on its own) and where its properties may be. */
static const struct {
	enum mqtt_type type;
	const char *name;
	uint8_t flags;
	uint16_t where;
} pt_info[16] = {
	[0] = {MQTT_NONE, "reserved type 0", 0, 0},
	[MQTT_PT_CONNECT] = {MQTT_CONNECT, "CONNECT", 0, W_CONNECT},
	[MQTT_PT_CONNACK] = {MQTT_CONNACK, "CONNACK", 0, W_CONNACK},
	[MQTT_PT_PUBLISH] = {MQTT_PUBLISH, "PUBLISH", 0xFF, W_PUBLISH},
	[MQTT_PT_PUBACK] = {MQTT_PUBACK, "PUBACK", 0, W_ACK},
	[MQTT_PT_PUBREC] = {MQTT_PUBREC, "PUBREC", 0, W_ACK},
	[MQTT_PT_PUBREL] = {MQTT_PUBREL, "PUBREL", MQTT_FLAGS_PUBREL_SUB_UNSUB, W_ACK},
	[MQTT_PT_PUBCOMP] = {MQTT_PUBCOMP, "PUBCOMP", 0, W_ACK},
	[MQTT_PT_SUBSCRIBE] = {MQTT_SUBSCRIBE, "SUBSCRIBE", MQTT_FLAGS_PUBREL_SUB_UNSUB, W_SUBSCRIBE},
	[MQTT_PT_SUBACK] = {MQTT_SUBACK, "SUBACK", 0, W_SUBACK},
	[MQTT_PT_UNSUBSCRIBE] = {MQTT_UNSUBSCRIBE, "UNSUBSCRIBE", MQTT_FLAGS_PUBREL_SUB_UNSUB,
				 W_UNSUBSCRIBE},
	[MQTT_PT_UNSUBACK] = {MQTT_UNSUBACK, "UNSUBACK", 0, W_UNSUBACK},
	[MQTT_PT_PINGREQ] = {MQTT_PINGREQ, "PINGREQ", 0, 0},
	[MQTT_PT_PINGRESP] = {MQTT_PINGRESP, "PINGRESP", 0, 0},
	[MQTT_PT_DISCONNECT] = {MQTT_DISCONNECT, "DISCONNECT", 0, W_DISCONNECT},
	[MQTT_PT_AUTH] = {MQTT_AUTH, "AUTH", 0, W_AUTH},
};

/* In-memory type -> wire type: the inverse of pt_info. */
static unsigned wire_type(enum mqtt_type type)
{
	for (unsigned i = 1; i < 16; i++)
		if (pt_info[i].type == type)
			return i;
	return 0;
}

const char *mqtt_type_name(enum mqtt_type type)
{
	unsigned pt = wire_type(type);

	return pt ? pt_info[pt].name : "none";
}

const char *mqtt_strerror(int code)
{
	switch (code) {
	case MQTT_EMALFORMED: return "malformed MQTT packet";
	case MQTT_EPROTOCOL: return "MQTT protocol error";
	case MQTT_EVERSION: return "unsupported MQTT protocol version";
	case MQTT_ETOOLARGE: return "MQTT packet too large";
	default: return hs_strerror(code);
	}
}

/* ---- strings, topics and filters ------------------------------------------------------ */

/* A UTF-8 string as both specs define it: well-formed and without U+0000.
 * Control characters and non-characters are allowed (the specs say
 * SHOULD NOT send, MAY refuse: we accept). */
static const char *str_problem(const char *s, size_t len)
{
	if (len > 0 && memchr(s, '\0', len) != NULL)
		return "string contains U+0000";
	if (!utf8_valid(s, len))
		return "string is not valid UTF-8";
	return NULL;
}

bool mqtt_topic_valid(const char *s, size_t len)
{
	return len > 0 && memchr(s, '+', len) == NULL && memchr(s, '#', len) == NULL;
}

bool mqtt_filter_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool starts_level = i == 0 || s[i - 1] == '/';
		if (s[i] == '+' && !(starts_level && (i + 1 == len || s[i + 1] == '/')))
			return false;
		if (s[i] == '#' && !(starts_level && i + 1 == len))
			return false;
	}
	return true;
}

/* Filter rules, with 5.0 shared subscriptions ("$share/name/filter":
 * MQTT-4.8.2-1, -2); 3.1.1 has no such thing, there it is a plain filter.
 * NULL when valid. */
static const char *filter_problem(const char *s, size_t len, int version, bool *shared)
{
	const size_t plen = sizeof MQTT_SHARE_PREFIX - 1;
	const char *name, *slash;
	size_t rest;

	*shared = false;
	if (version != MQTT_V5 || len < plen || memcmp(s, MQTT_SHARE_PREFIX, plen) != 0)
		return mqtt_filter_valid(s, len) ? NULL : "invalid topic filter";
	name = s + plen;
	rest = len - plen;
	slash = memchr(name, '/', rest);
	if (slash == NULL || slash == name)
		return "shared subscription without a share name";
	if (memchr(name, '+', (size_t)(slash - name)) || memchr(name, '#', (size_t)(slash - name)))
		return "share name contains a wildcard";
	rest -= (size_t)(slash - name) + 1;
	if (!mqtt_filter_valid(slash + 1, rest))
		return "invalid topic filter in a shared subscription";
	*shared = true;
	return NULL;
}

/* ---- the cursor decoder --------------------------------------------------------------- */

struct dec {
	const uint8_t *b;
	size_t pos;
	size_t end;               /* reads stop here */
	uint8_t version;          /* MQTT_V311 / MQTT_V5; 5 checks vbi minimality */
	struct mqtt_packet *pkt;  /* where errors go; NULL in the iterators */
	const char *field;        /* what is being read, for errors */
};

static int fail_at(struct dec *d, size_t at, int code, const char *why)
{
	if (d->pkt) {
		d->pkt->err = why;
		d->pkt->err_field = d->field;
		d->pkt->err_offset = at;
	}
	return code;
}

static int fail(struct dec *d, int code, const char *why)
{
	return fail_at(d, d->pos, code, why);
}

static size_t left(const struct dec *d)
{
	return d->end - d->pos;
}

static int rd_bytes(struct dec *d, size_t n, const uint8_t **out)
{
	if (left(d) < n)
		return fail(d, MQTT_EMALFORMED, "runs past the end of the packet");
	*out = d->b + d->pos;
	d->pos += n;
	return 0;
}

static int rd_u8(struct dec *d, uint8_t *v)
{
	const uint8_t *p;
	int rc = rd_bytes(d, 1, &p);

	if (rc == 0)
		*v = p[0];
	return rc;
}

static int rd_u16(struct dec *d, uint16_t *v)
{
	const uint8_t *p;
	int rc = rd_bytes(d, 2, &p);

	if (rc == 0)
		*v = (uint16_t)(p[0] << 8 | p[1]);
	return rc;
}

static int rd_u32(struct dec *d, uint32_t *v)
{
	const uint8_t *p;
	int rc = rd_bytes(d, 4, &p);

	if (rc == 0)
		*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return rc;
}

/* A Variable Byte Integer inside the variable header (5.0 only: property
 * lengths, identifiers, subscription ids). MQTT-1.5.5-1 asks for the
 * fewest bytes; a longer form ends in a 0x00 byte, which is refused. */
static int rd_vbi(struct dec *d, uint32_t *v)
{
	size_t at = d->pos;
	uint32_t val = 0;

	for (unsigned i = 0; i < MQTT_VBI_MAX_BYTES; i++) {
		uint8_t c;
		int rc = rd_u8(d, &c);
		if (rc)
			return rc;
		val |= (uint32_t)(c & 0x7F) << (7 * i);
		if ((c & 0x80) == 0) {
			if (i > 0 && c == 0 && d->version == MQTT_V5)
				return fail_at(d, at, MQTT_EMALFORMED,
					       "variable byte integer not in its fewest bytes");
			*v = val;
			return 0;
		}
	}
	return fail_at(d, at, MQTT_EMALFORMED, "variable byte integer longer than 4 bytes");
}

static int rd_bin(struct dec *d, struct mqtt_bin *v)
{
	uint16_t n;
	int rc = rd_u16(d, &n);

	if (rc == 0)
		rc = rd_bytes(d, n, &v->ptr);
	if (rc == 0)
		v->len = n;
	return rc;
}

static int rd_str(struct dec *d, struct mqtt_str *v)
{
	size_t at = d->pos;
	struct mqtt_bin b;
	const char *why;
	int rc = rd_bin(d, &b);

	if (rc)
		return rc;
	v->ptr = (const char *)b.ptr;
	v->len = b.len;
	why = str_problem(v->ptr, v->len);
	return why ? fail_at(d, at, MQTT_EMALFORMED, why) : 0;
}

/* The packet must end where its last field ends. */
static int rd_end(struct dec *d)
{
	return left(d) ? fail(d, MQTT_EMALFORMED, "bytes after the end of the packet") : 0;
}

static int rd_packet_id(struct dec *d, uint16_t *id)
{
	const char *field = d->field;
	int rc;

	d->field = "packet identifier";
	rc = rd_u16(d, id);
	if (rc == 0 && *id == 0)
		rc = fail_at(d, d->pos - 2, MQTT_EMALFORMED, "packet identifier 0");
	d->field = field;
	return rc;
}

/* ---- properties ----------------------------------------------------------------------- */

/* Read one property, id and value, without judging where it is. */
static int rd_prop_raw(struct dec *d, struct mqtt_prop *out, const struct prop_spec **specp)
{
	size_t at = d->pos;
	const struct prop_spec *spec;
	uint32_t id;
	uint8_t b = 0;
	uint16_t w = 0;
	int rc = rd_vbi(d, &id);

	if (rc)
		return rc;
	if (id > MQTT_PROP_ID_MAX || prop_specs[id].type == T_NONE)
		return fail_at(d, at, MQTT_EMALFORMED, "unknown property identifier");
	spec = &prop_specs[id];
	memset(out, 0, sizeof *out);
	out->id = (uint8_t)id;
	switch (spec->type) {
	case T_U8: rc = rd_u8(d, &b); out->num = b; break;
	case T_U16: rc = rd_u16(d, &w); out->num = w; break;
	case T_U32: rc = rd_u32(d, &out->num); break;
	case T_VBI: rc = rd_vbi(d, &out->num); break;
	case T_STR: rc = rd_str(d, &out->str); break;
	case T_BIN: rc = rd_bin(d, &out->bin); break;
	default:
		rc = rd_str(d, &out->str);
		if (rc == 0)
			rc = rd_str(d, &out->value);
		break;
	}
	*specp = spec;
	return rc;
}

static void prop_store(struct mqtt_props *p, const struct prop_spec *spec, const struct mqtt_prop *v)
{
	char *field = (char *)p + spec->offset;

	switch (spec->type) {
	case T_U8: *(uint8_t *)(void *)field = (uint8_t)v->num; break;
	case T_U16: *(uint16_t *)(void *)field = (uint16_t)v->num; break;
	case T_U32:
	case T_VBI: *(uint32_t *)(void *)field = v->num; break;
	case T_STR: *(struct mqtt_str *)(void *)field = v->str; break;
	case T_BIN: *(struct mqtt_bin *)(void *)field = v->bin; break;
	default: break;
	}
}

/* Read one property of a packet whose properties may be those of where. */
static int rd_prop(struct dec *d, unsigned where, struct mqtt_props *p)
{
	size_t at = d->pos;
	const struct prop_spec *spec;
	struct mqtt_prop v;
	bool repeatable;
	int rc = rd_prop_raw(d, &v, &spec);

	if (rc)
		return rc;
	/* 2.2.2.2: "an Identifier which is not valid for its packet type" */
	if ((spec->where & where) == 0)
		return fail_at(d, at, MQTT_EMALFORMED, "property not allowed in this packet");
	repeatable = v.id == MQTT_PROP_USER_PROPERTY ||
		     (v.id == MQTT_PROP_SUBSCRIPTION_ID && where == W_PUBLISH);
	if (!repeatable && (p->present & MQTT_PROP_BIT(v.id)))
		return fail_at(d, at, MQTT_EPROTOCOL, "property appears twice");
	if (spec->type <= T_VBI && (v.num < spec->min || v.num > spec->max))
		return fail_at(d, at, MQTT_EPROTOCOL, "property value out of range");
	if (v.id == MQTT_PROP_RESPONSE_TOPIC &&
	    (memchr(v.str.ptr, '+', v.str.len) || memchr(v.str.ptr, '#', v.str.len)))
		return fail_at(d, at, MQTT_EPROTOCOL, "Response Topic contains a wildcard");
	if (v.id == MQTT_PROP_USER_PROPERTY)
		p->user_count++;
	else if (v.id != MQTT_PROP_SUBSCRIPTION_ID || p->sub_id_count == 0)
		prop_store(p, spec, &v); /* of several subscription ids, the first */
	if (v.id == MQTT_PROP_SUBSCRIPTION_ID)
		p->sub_id_count++;
	p->present |= MQTT_PROP_BIT(v.id);
	return 0;
}

/* A 5.0 property block: vbi length, then the properties. */
static int rd_props(struct dec *d, unsigned where, struct mqtt_props *p)
{
	const char *field = d->field;
	struct dec sub;
	uint32_t len;
	int rc;

	memset(p, 0, sizeof *p);
	d->field = "property length";
	rc = rd_vbi(d, &len);
	if (rc == 0 && len > left(d))
		rc = fail(d, MQTT_EMALFORMED, "property length runs past the end of the packet");
	d->field = field;
	if (rc)
		return rc;
	p->raw = len ? d->b + d->pos : NULL;
	p->raw_len = len;
	sub = *d;
	sub.end = d->pos + len;
	while (rc == 0 && sub.pos < sub.end)
		rc = rd_prop(&sub, where, p);
	if (rc)
		return rc;
	d->pos = sub.end;
	if (mqtt_props_has(p, MQTT_PROP_AUTH_DATA) && !mqtt_props_has(p, MQTT_PROP_AUTH_METHOD))
		return fail(d, MQTT_EPROTOCOL, "Authentication Data without Authentication Method");
	return 0;
}

void mqtt_props_iter_init(struct mqtt_prop_iter *it, const struct mqtt_props *props)
{
	it->p = props ? props->raw : NULL;
	it->left = props && props->raw ? props->raw_len : 0;
}

int mqtt_props_next(struct mqtt_prop_iter *it, struct mqtt_prop *out)
{
	struct dec d = {it->p, 0, it->left, MQTT_V5, NULL, NULL};
	const struct prop_spec *spec;
	int rc;

	if (it->left == 0)
		return 0;
	rc = rd_prop_raw(&d, out, &spec);
	if (rc) {
		it->left = 0;
		return rc;
	}
	it->p += d.pos;
	it->left -= d.pos;
	return 1;
}

/* ---- framing -------------------------------------------------------------------------- */

/* The remaining length at buf[1..]: 1 with *rl and *nbytes, 0 when more
 * bytes are needed, MQTT_EMALFORMED past 4 bytes. *minimal says whether
 * the encoding used the fewest bytes. */
static int read_remaining(const uint8_t *buf, size_t len, uint32_t *rl, unsigned *nbytes,
			  bool *minimal)
{
	uint32_t val = 0;

	for (unsigned i = 0; i < MQTT_VBI_MAX_BYTES; i++) {
		if (len < 2 + i)
			return 0;
		val |= (uint32_t)(buf[1 + i] & 0x7F) << (7 * i);
		if ((buf[1 + i] & 0x80) == 0) {
			*rl = val;
			*nbytes = i + 1;
			*minimal = i == 0 || buf[1 + i] != 0;
			return 1;
		}
	}
	return MQTT_EMALFORMED;
}

int mqtt_frame_len(const uint8_t *buf, size_t len, size_t max_packet, size_t *frame_len)
{
	uint32_t rl;
	unsigned nbytes;
	bool minimal;
	size_t total;
	int rc;

	if ((buf == NULL && len > 0) || frame_len == NULL)
		return -EINVAL;
	rc = read_remaining(buf, len, &rl, &nbytes, &minimal);
	if (rc <= 0)
		return rc;
	total = 1 + (size_t)nbytes + rl;
	if (max_packet > 0 && total > max_packet)
		return MQTT_ETOOLARGE;
	if (len < total)
		return 0;
	*frame_len = total;
	return 1;
}

/* ---- decoding, per packet type -------------------------------------------------------- */

/* CONNECT up to and including the flags: settles the version first, so
 * that a client of another version gets its CONNACK whatever follows. */
static int dec_connect_header(struct dec *d, struct mqtt_packet *out, bool rl_minimal)
{
	struct mqtt_connect *c = &out->u.connect;
	struct mqtt_str name;
	uint8_t flags;
	int rc;

	d->field = "CONNECT protocol name";
	if ((rc = rd_str(d, &name)) != 0)
		return rc;
	d->field = "CONNECT protocol level";
	if ((rc = rd_u8(d, &c->protocol_level)) != 0)
		return rc;
	if (name.len == 6 && memcmp(name.ptr, MQTT_PROTOCOL_NAME_V31, 6) == 0)
		return fail(d, MQTT_EVERSION, "MQTT 3.1 (MQIsdp) is not supported");
	if (name.len != 4 || memcmp(name.ptr, MQTT_PROTOCOL_NAME, 4) != 0)
		return fail_at(d, 2, MQTT_EPROTOCOL, "protocol name is not MQTT");
	if (c->protocol_level != MQTT_LEVEL_311 && c->protocol_level != MQTT_LEVEL_5)
		return fail(d, MQTT_EVERSION, "unsupported protocol level");
	d->version = out->version = c->protocol_level;
	if (d->version == MQTT_V5 && !rl_minimal)
		return fail_at(d, 1, MQTT_EMALFORMED, "remaining length not in its fewest bytes");
	d->field = "CONNECT flags";
	if ((rc = rd_u8(d, &flags)) != 0)
		return rc;
	if (flags & MQTT_CONNECT_RESERVED)
		return fail(d, MQTT_EMALFORMED, "reserved flag set");
	c->clean_start = (flags & MQTT_CONNECT_CLEAN_START) != 0;
	c->will = (flags & MQTT_CONNECT_WILL) != 0;
	c->will_qos = (flags & MQTT_CONNECT_WILL_QOS_MASK) >> MQTT_CONNECT_WILL_QOS_SHIFT;
	c->will_retain = (flags & MQTT_CONNECT_WILL_RETAIN) != 0;
	c->has_username = (flags & MQTT_CONNECT_USERNAME) != 0;
	c->has_password = (flags & MQTT_CONNECT_PASSWORD) != 0;
	if (!c->will && (c->will_qos || c->will_retain))
		return fail(d, MQTT_EMALFORMED, "will QoS or retain set without the will flag");
	if (c->will_qos > 2)
		return fail(d, MQTT_EMALFORMED, "will QoS 3");
	if (d->version == MQTT_V311 && c->has_password && !c->has_username)
		return fail(d, MQTT_EMALFORMED, "password flag without user name flag");
	d->field = "CONNECT keep alive";
	return rd_u16(d, &c->keep_alive_s);
}

static int dec_connect_will(struct dec *d, struct mqtt_connect *c)
{
	size_t at;
	int rc;

	d->field = "CONNECT will properties";
	if (d->version == MQTT_V5 && (rc = rd_props(d, W_WILL, &c->will_props)) != 0)
		return rc;
	d->field = "CONNECT will topic";
	at = d->pos;
	if ((rc = rd_str(d, &c->will_topic)) != 0)
		return rc;
	if (!mqtt_topic_valid(c->will_topic.ptr, c->will_topic.len))
		return fail_at(d, at, MQTT_EMALFORMED, "will topic is empty or has a wildcard");
	d->field = "CONNECT will payload";
	return rd_bin(d, &c->will_payload);
}

static int dec_connect(struct dec *d, struct mqtt_packet *out, bool rl_minimal)
{
	struct mqtt_connect *c = &out->u.connect;
	int rc = dec_connect_header(d, out, rl_minimal);

	if (rc)
		return rc;
	d->field = "CONNECT properties";
	if (d->version == MQTT_V5 && (rc = rd_props(d, W_CONNECT, &c->props)) != 0)
		return rc;
	d->field = "CONNECT client identifier";
	if ((rc = rd_str(d, &c->client_id)) != 0)
		return rc;
	if (c->will && (rc = dec_connect_will(d, c)) != 0)
		return rc;
	d->field = "CONNECT user name";
	if (c->has_username && (rc = rd_str(d, &c->username)) != 0)
		return rc;
	d->field = "CONNECT password";
	if (c->has_password && (rc = rd_bin(d, &c->password)) != 0)
		return rc;
	d->field = "CONNECT";
	return rd_end(d);
}

static int dec_connack(struct dec *d, struct mqtt_connack *c)
{
	uint8_t flags;
	int rc;

	if ((rc = rd_u8(d, &flags)) != 0)
		return rc;
	if (flags & ~MQTT_CONNACK_SESSION_PRESENT)
		return fail(d, MQTT_EMALFORMED, "reserved acknowledge flags set");
	c->session_present = flags & MQTT_CONNACK_SESSION_PRESENT;
	if ((rc = rd_u8(d, &c->reason_code)) != 0)
		return rc;
	if (!rc_allowed(MQTT_CONNACK, d->version, c->reason_code))
		return fail(d, MQTT_EPROTOCOL, "unknown CONNACK reason code");
	if (c->session_present && c->reason_code != 0)
		return fail(d, MQTT_EPROTOCOL, "session present with a refusal");
	if (d->version == MQTT_V5 && (rc = rd_props(d, W_CONNACK, &c->props)) != 0)
		return rc;
	return rd_end(d);
}

static int dec_publish(struct dec *d, uint8_t flags, struct mqtt_publish *p)
{
	size_t topic_at;
	int rc;

	p->qos = (flags & MQTT_PUBLISH_QOS_MASK) >> MQTT_PUBLISH_QOS_SHIFT;
	p->dup = (flags & MQTT_PUBLISH_DUP) != 0;
	p->retain = (flags & MQTT_PUBLISH_RETAIN) != 0;
	if (p->qos > 2)
		return fail_at(d, 0, MQTT_EMALFORMED, "QoS 3");
	if (p->dup && p->qos == 0)
		return fail_at(d, 0, MQTT_EMALFORMED, "DUP set on a QoS 0 message");
	d->field = "PUBLISH topic";
	topic_at = d->pos;
	if ((rc = rd_str(d, &p->topic)) != 0)
		return rc;
	if (p->qos > 0 && (rc = rd_packet_id(d, &p->packet_id)) != 0)
		return rc;
	d->field = "PUBLISH properties";
	if (d->version == MQTT_V5 && (rc = rd_props(d, W_PUBLISH, &p->props)) != 0)
		return rc;
	d->field = "PUBLISH topic";
	if (memchr(p->topic.ptr, '+', p->topic.len) || memchr(p->topic.ptr, '#', p->topic.len))
		return fail_at(d, topic_at, MQTT_EMALFORMED, "topic contains a wildcard");
	if (p->topic.len == 0 && d->version == MQTT_V311)
		return fail_at(d, topic_at, MQTT_EMALFORMED, "empty topic");
	if (p->topic.len == 0 && !mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS))
		return fail_at(d, topic_at, MQTT_EPROTOCOL, "empty topic without a topic alias");
	p->payload = d->b + d->pos;
	p->payload_len = left(d);
	d->pos = d->end;
	return 0;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP. 5.0 may leave out the reason code
 * (meaning 0) and the properties (3.4.2.1). */
static int dec_ack(struct dec *d, enum mqtt_type type, struct mqtt_ack *a)
{
	int rc = rd_packet_id(d, &a->packet_id);

	if (rc || d->version == MQTT_V311)
		return rc ? rc : rd_end(d);
	if (left(d) > 0 && (rc = rd_u8(d, &a->reason_code)) != 0)
		return rc;
	if (!rc_allowed(type, MQTT_V5, a->reason_code))
		return fail_at(d, d->pos - 1, MQTT_EPROTOCOL, "reason code not allowed in this packet");
	if (left(d) > 0 && (rc = rd_props(d, W_ACK, &a->props)) != 0)
		return rc;
	return rd_end(d);
}

/* One entry of a SUBSCRIBE (options) or UNSUBSCRIBE list. */
static int rd_sub(struct dec *d, bool options, struct mqtt_subscription *s)
{
	size_t at = d->pos;
	const char *why;
	uint8_t o = 0;
	int rc = rd_str(d, &s->filter);

	if (rc)
		return rc;
	why = filter_problem(s->filter.ptr, s->filter.len, d->version, &s->shared);
	if (why)
		return fail_at(d, at, MQTT_EMALFORMED, why);
	if (options && (rc = rd_u8(d, &o)) != 0)
		return rc;
	s->qos = o & MQTT_SUBOPT_QOS_MASK;
	s->no_local = (o & MQTT_SUBOPT_NO_LOCAL) != 0;
	s->retain_as_published = (o & MQTT_SUBOPT_RETAIN_AS_PUBLISHED) != 0;
	s->retain_handling = (o & MQTT_SUBOPT_RETAIN_HANDLING_MASK) >> MQTT_SUBOPT_RETAIN_HANDLING_SHIFT;
	if (o & (d->version == MQTT_V5 ? MQTT_SUBOPT_RESERVED_V5 : MQTT_SUBOPT_RESERVED_V311))
		return fail_at(d, d->pos - 1, MQTT_EMALFORMED, "reserved subscription option bits set");
	if (s->qos > 2)
		return fail_at(d, d->pos - 1, MQTT_EMALFORMED, "requested QoS 3");
	if (s->retain_handling > 2)
		return fail_at(d, d->pos - 1, MQTT_EPROTOCOL, "retain handling 3");
	if (s->no_local && s->shared)
		return fail_at(d, d->pos - 1, MQTT_EPROTOCOL, "no local on a shared subscription");
	return 0;
}

static int dec_subscribe(struct dec *d, enum mqtt_type type, struct mqtt_subscribe *s)
{
	bool sub = type == MQTT_SUBSCRIBE;
	struct mqtt_subscription one;
	int rc;

	d->field = sub ? "SUBSCRIBE" : "UNSUBSCRIBE";
	if ((rc = rd_packet_id(d, &s->packet_id)) != 0)
		return rc;
	if (d->version == MQTT_V5 &&
	    (rc = rd_props(d, sub ? W_SUBSCRIBE : W_UNSUBSCRIBE, &s->props)) != 0)
		return rc;
	s->version = d->version;
	s->options = sub;
	s->list = d->b + d->pos;
	s->list_len = left(d);
	if (s->list_len == 0)
		return fail(d, MQTT_EPROTOCOL, "no topic filter");
	d->field = sub ? "SUBSCRIBE topic filter" : "UNSUBSCRIBE topic filter";
	while (left(d) > 0) {
		if ((rc = rd_sub(d, sub, &one)) != 0)
			return rc;
		s->count++;
	}
	return 0;
}

/* SUBACK and UNSUBACK: one code per filter (none in a 3.1.1 UNSUBACK). */
static int dec_suback(struct dec *d, enum mqtt_type type, struct mqtt_suback *s)
{
	int rc = rd_packet_id(d, &s->packet_id);

	if (rc)
		return rc;
	if (d->version == MQTT_V311 && type == MQTT_UNSUBACK)
		return rd_end(d);
	if (d->version == MQTT_V5 &&
	    (rc = rd_props(d, type == MQTT_SUBACK ? W_SUBACK : W_UNSUBACK, &s->props)) != 0)
		return rc;
	s->reason_codes = d->b + d->pos;
	s->count = left(d);
	if (s->count == 0)
		return fail(d, MQTT_EPROTOCOL, "no reason code");
	for (; left(d) > 0; d->pos++)
		if (!rc_allowed(type, d->version, d->b[d->pos]))
			return fail(d, MQTT_EPROTOCOL, "reason code not allowed in this packet");
	return 0;
}

/* 5.0 DISCONNECT and AUTH: reason code and properties, both optional. */
static int dec_reason(struct dec *d, enum mqtt_type type, struct mqtt_reason *r)
{
	int rc;

	if (left(d) > 0 && (rc = rd_u8(d, &r->reason_code)) != 0)
		return rc;
	if (!rc_allowed(type, MQTT_V5, r->reason_code))
		return fail_at(d, d->pos - 1, MQTT_EPROTOCOL, "reason code not allowed in this packet");
	if (left(d) > 0 &&
	    (rc = rd_props(d, type == MQTT_AUTH ? W_AUTH : W_DISCONNECT, &r->props)) != 0)
		return rc;
	return rd_end(d);
}

static int dec_body(struct dec *d, struct mqtt_packet *out, bool rl_minimal)
{
	switch (out->type) {
	case MQTT_CONNECT: return dec_connect(d, out, rl_minimal);
	case MQTT_CONNACK: return dec_connack(d, &out->u.connack);
	case MQTT_PUBLISH: return dec_publish(d, out->flags, &out->u.publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP: return dec_ack(d, out->type, &out->u.ack);
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: return dec_subscribe(d, out->type, &out->u.subscribe);
	case MQTT_SUBACK:
	case MQTT_UNSUBACK: return dec_suback(d, out->type, &out->u.suback);
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		if (d->version == MQTT_V5)
			return dec_reason(d, out->type, &out->u.disconnect);
		return rd_end(d);
	default: return rd_end(d); /* PINGREQ, PINGRESP: nothing */
	}
}

/* The fixed header: type, flags, and a remaining length that matches len. */
static int dec_fixed_header(struct dec *d, size_t len, struct mqtt_packet *out, bool *rl_minimal)
{
	unsigned pt = d->b[0] >> 4, nbytes = 0;
	uint32_t rl = 0;
	int rc;

	out->flags = d->b[0] & 0x0F;
	d->field = pt_info[pt].name;
	rc = read_remaining(d->b, len, &rl, &nbytes, rl_minimal);
	if (rc <= 0 || 1 + (size_t)nbytes + rl != len)
		return fail_at(d, 1, MQTT_EMALFORMED, "remaining length does not match the frame");
	d->pos = 1 + nbytes;
	if (pt == 0 || (pt == MQTT_PT_AUTH && d->version == MQTT_V311))
		return fail_at(d, 0, MQTT_EMALFORMED, "reserved packet type");
	out->type = pt_info[pt].type;
	if (pt_info[pt].flags != 0xFF && out->flags != pt_info[pt].flags)
		return fail_at(d, 0, MQTT_EMALFORMED, pt_info[pt].flags
			       ? "fixed header flags must be 0010" : "fixed header flags must be 0000");
	if (out->type != MQTT_CONNECT && d->version == MQTT_V5 && !*rl_minimal)
		return fail_at(d, 1, MQTT_EMALFORMED, "remaining length not in its fewest bytes");
	return 0;
}

int mqtt_decode(const uint8_t *buf, size_t len, int protocol_version, struct mqtt_packet *out)
{
	struct dec d = {buf, 0, len, 0, out, NULL};
	bool rl_minimal = true;
	int rc;

	if (out == NULL)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	if (buf == NULL || len < 2)
		return fail_at(&d, 0, len < 2 ? MQTT_EMALFORMED : -EINVAL, "shorter than a fixed header");
	if (buf[0] >> 4 != MQTT_PT_CONNECT) {
		/* 0: no CONNECT yet, and a connection starts with one (MQTT-3.1.0-1) */
		out->type = protocol_version == 0 ? pt_info[buf[0] >> 4].type : MQTT_NONE;
		if (protocol_version == 0)
			return fail_at(&d, 0, MQTT_EPROTOCOL, "first packet is not CONNECT");
		if (protocol_version != MQTT_V311 && protocol_version != MQTT_V5)
			return fail_at(&d, 0, -EINVAL, "protocol version not 4 or 5");
		d.version = out->version = (uint8_t)protocol_version;
	}
	rc = dec_fixed_header(&d, len, out, &rl_minimal);
	if (rc == 0)
		rc = dec_body(&d, out, rl_minimal);
	return rc;
}

void mqtt_sub_iter_init(struct mqtt_sub_iter *it, const struct mqtt_subscribe *s)
{
	it->p = s->list;
	it->left = s->list ? s->list_len : 0;
	it->version = s->version;
	it->options = s->options;
}

int mqtt_sub_next(struct mqtt_sub_iter *it, struct mqtt_subscription *out)
{
	struct dec d = {it->p, 0, it->left, it->version, NULL, NULL};
	int rc;

	if (it->left == 0)
		return 0;
	memset(out, 0, sizeof *out);
	rc = rd_sub(&d, it->options, out);
	if (rc) {
		it->left = 0;
		return rc;
	}
	it->p += d.pos;
	it->left -= d.pos;
	return 1;
}

/* ---- the two-pass writer -------------------------------------------------------------- */

/* dry: count only. n saturates instead of wrapping, so a sum past any
 * packet size stays past it. */
struct wr {
	struct strbuf *sb;
	size_t n;
	bool dry;
};

static void w_bytes(struct wr *w, const void *p, size_t len)
{
	if (!w->dry && len > 0)
		strbuf_append(w->sb, p, len);
	w->n = len > (size_t)-1 - w->n ? (size_t)-1 : w->n + len;
}

static void w_u8(struct wr *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void w_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	w_bytes(w, b, 2);
}

static void w_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	w_bytes(w, b, 4);
}

/* v <= MQTT_VBI_MAX, in the fewest bytes. */
static void w_vbi(struct wr *w, uint32_t v)
{
	uint8_t b[MQTT_VBI_MAX_BYTES];
	size_t n = 0;

	do {
		b[n] = v & 0x7F;
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v && n < MQTT_VBI_MAX_BYTES);
	w_bytes(w, b, n);
}

static int w_bin(struct wr *w, const uint8_t *p, size_t len)
{
	if (len > MQTT_STRING_MAX || (len > 0 && p == NULL))
		return -EINVAL;
	w_u16(w, (uint16_t)len);
	w_bytes(w, p, len);
	return 0;
}

static int w_str(struct wr *w, const struct mqtt_str *s)
{
	if (s->len > 0 && (s->ptr == NULL || str_problem(s->ptr, s->len)))
		return -EINVAL;
	return w_bin(w, (const uint8_t *)s->ptr, s->len);
}

static int w_prop_field(struct wr *w, unsigned id, const struct prop_spec *spec,
			const struct mqtt_props *p)
{
	const char *field = (const char *)p + spec->offset;
	uint32_t num = 0;

	switch (spec->type) {
	case T_U8: num = *(const uint8_t *)(const void *)field; break;
	case T_U16: num = *(const uint16_t *)(const void *)field; break;
	case T_U32:
	case T_VBI: num = *(const uint32_t *)(const void *)field; break;
	default: break;
	}
	if (spec->type <= T_VBI && (num < spec->min || num > spec->max))
		return -EINVAL;
	w_u8(w, (uint8_t)id);
	switch (spec->type) {
	case T_U8: w_u8(w, (uint8_t)num); return 0;
	case T_U16: w_u16(w, (uint16_t)num); return 0;
	case T_U32: w_u32(w, num); return 0;
	case T_VBI: w_vbi(w, num); return 0;
	case T_STR: return w_str(w, (const struct mqtt_str *)(const void *)field);
	default: {
		const struct mqtt_bin *b = (const void *)field;
		return w_bin(w, b->ptr, b->len);
	}
	}
}

/* User Properties of raw, in order; other entries are represented by
 * the fields and skipped. */
static int w_user_props(struct wr *w, const struct mqtt_props *p)
{
	struct mqtt_prop_iter it;
	struct mqtt_prop v;
	int rc;

	mqtt_props_iter_init(&it, p);
	while ((rc = mqtt_props_next(&it, &v)) == 1) {
		if (v.id != MQTT_PROP_USER_PROPERTY)
			continue;
		w_u8(w, MQTT_PROP_USER_PROPERTY);
		if (w_str(w, &v.str) || w_str(w, &v.value))
			return -EINVAL;
	}
	return rc == 0 ? 0 : -EINVAL;
}

static int w_props_body(struct wr *w, const struct mqtt_props *p, unsigned where)
{
	const struct mqtt_str *rt = &p->response_topic;
	uint64_t allowed = 0;
	int rc;

	for (unsigned id = 1; id <= MQTT_PROP_ID_MAX; id++)
		if (prop_specs[id].where & where)
			allowed |= MQTT_PROP_BIT(id);
	if ((p->present & ~allowed) != 0 || p->raw_len > MQTT_VBI_MAX)
		return -EINVAL;
	if (mqtt_props_has(p, MQTT_PROP_AUTH_DATA) && !mqtt_props_has(p, MQTT_PROP_AUTH_METHOD))
		return -EINVAL;
	if (mqtt_props_has(p, MQTT_PROP_RESPONSE_TOPIC) && rt->len > 0 && rt->ptr &&
	    (memchr(rt->ptr, '+', rt->len) || memchr(rt->ptr, '#', rt->len)))
		return -EINVAL;
	for (unsigned id = 1; id <= MQTT_PROP_ID_MAX; id++) {
		if (id == MQTT_PROP_USER_PROPERTY || !mqtt_props_has(p, id))
			continue;
		if ((rc = w_prop_field(w, id, &prop_specs[id], p)) != 0)
			return rc;
	}
	return w_user_props(w, p);
}

/* A 5.0 property block with its length; p may be NULL (no properties). */
static int w_props(struct wr *w, const struct mqtt_props *p, unsigned where)
{
	struct wr dry = {w->sb, 0, true};
	int rc;

	if (p == NULL) {
		w_u8(w, 0);
		return 0;
	}
	if ((rc = w_props_body(&dry, p, where)) != 0)
		return rc;
	if (dry.n > MQTT_VBI_MAX)
		return -EMSGSIZE;
	w_vbi(w, (uint32_t)dry.n);
	return w_props_body(w, p, where);
}

/* Bytes the property block of p takes without its length (0: none). */
static int props_len(const struct mqtt_props *p, unsigned where, size_t *len)
{
	struct wr dry = {NULL, 0, true};
	int rc = p ? w_props_body(&dry, p, where) : 0;

	*len = dry.n;
	return rc;
}

/* Body writers: called dry, then for real; the same input gives the same
 * bytes and the same result both times. */
typedef int (*body_fn)(struct wr *w, const void *arg);

static int encode(struct strbuf *sb, uint8_t byte0, body_fn fn, const void *arg)
{
	struct wr w = {sb, 0, true};
	size_t body, head;
	int rc;

	if (sb == NULL)
		return -EINVAL;
	if (strbuf_failed(sb))
		return -ENOMEM;
	if ((rc = fn(&w, arg)) != 0)
		return rc;
	if (w.n > MQTT_VBI_MAX)
		return -EMSGSIZE;
	body = w.n;
	if (!strbuf_reserve(sb, MQTT_FIXED_HEADER_MAX + body))
		return -ENOMEM;
	w = (struct wr){sb, 0, false};
	w_u8(&w, byte0);
	w_vbi(&w, (uint32_t)body);
	head = w.n;
	rc = fn(&w, arg);
	assert(rc == 0 && w.n == head + body);
	(void)head;
	return strbuf_failed(sb) ? -ENOMEM : rc;
}

static uint8_t byte0(enum mqtt_type type, uint8_t flags)
{
	return (uint8_t)(wire_type(type) << 4 | flags);
}

static bool version_ok(int version)
{
	return version == MQTT_V311 || version == MQTT_V5;
}

/* ---- encoders ------------------------------------------------------------------------- */

static int connect_body(struct wr *w, const void *arg)
{
	const struct mqtt_connect *c = arg;
	const struct mqtt_str name = {MQTT_PROTOCOL_NAME, 4};
	bool v5 = c->protocol_level == MQTT_V5;
	uint8_t flags = 0;
	int rc;

	if (c->will && (c->will_qos > 2 || c->will_topic.ptr == NULL ||
			!mqtt_topic_valid(c->will_topic.ptr, c->will_topic.len)))
		return -EINVAL;
	if (!v5 && c->has_password && !c->has_username)
		return -EINVAL;
	flags |= c->clean_start ? MQTT_CONNECT_CLEAN_START : 0;
	if (c->will)
		flags |= MQTT_CONNECT_WILL | (uint8_t)(c->will_qos << MQTT_CONNECT_WILL_QOS_SHIFT) |
			 (c->will_retain ? MQTT_CONNECT_WILL_RETAIN : 0);
	flags |= c->has_username ? MQTT_CONNECT_USERNAME : 0;
	flags |= c->has_password ? MQTT_CONNECT_PASSWORD : 0;
	rc = w_str(w, &name);
	w_u8(w, c->protocol_level);
	w_u8(w, flags);
	w_u16(w, c->keep_alive_s);
	if (rc == 0 && v5)
		rc = w_props(w, &c->props, W_CONNECT);
	if (rc == 0)
		rc = w_str(w, &c->client_id);
	if (rc == 0 && c->will && v5)
		rc = w_props(w, &c->will_props, W_WILL);
	if (rc == 0 && c->will)
		rc = w_str(w, &c->will_topic);
	if (rc == 0 && c->will)
		rc = w_bin(w, c->will_payload.ptr, c->will_payload.len);
	if (rc == 0 && c->has_username)
		rc = w_str(w, &c->username);
	if (rc == 0 && c->has_password)
		rc = w_bin(w, c->password.ptr, c->password.len);
	return rc;
}

int mqtt_encode_connect(struct strbuf *sb, const struct mqtt_connect *c)
{
	if (c == NULL || !version_ok(c->protocol_level))
		return -EINVAL;
	return encode(sb, byte0(MQTT_CONNECT, 0), connect_body, c);
}

struct connack_args {
	int version;
	const struct mqtt_connack *c;
};

static int connack_body(struct wr *w, const void *arg)
{
	const struct connack_args *a = arg;
	const struct mqtt_connack *c = a->c;

	if (!rc_allowed(MQTT_CONNACK, a->version, c->reason_code))
		return -EINVAL;
	if (c->session_present && c->reason_code != 0)
		return -EINVAL;
	w_u8(w, c->session_present ? MQTT_CONNACK_SESSION_PRESENT : 0);
	w_u8(w, c->reason_code);
	return a->version == MQTT_V5 ? w_props(w, &c->props, W_CONNACK) : 0;
}

int mqtt_encode_connack(struct strbuf *sb, int version, const struct mqtt_connack *c)
{
	struct connack_args a = {version, c};

	if (c == NULL || !version_ok(version))
		return -EINVAL;
	return encode(sb, byte0(MQTT_CONNACK, 0), connack_body, &a);
}

struct publish_args {
	int version;
	const struct mqtt_publish *p;
};

static int publish_body(struct wr *w, const void *arg)
{
	const struct publish_args *a = arg;
	const struct mqtt_publish *p = a->p;
	bool v5 = a->version == MQTT_V5;
	int rc;

	if (p->topic.len > 0 && (p->topic.ptr == NULL ||
				 !mqtt_topic_valid(p->topic.ptr, p->topic.len)))
		return -EINVAL;
	if (p->topic.len == 0 && !(v5 && mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS)))
		return -EINVAL;
	if (p->payload_len > 0 && p->payload == NULL)
		return -EINVAL;
	if (p->payload_len > MQTT_VBI_MAX)
		return -EMSGSIZE;
	if ((rc = w_str(w, &p->topic)) != 0)
		return rc;
	if (p->qos > 0)
		w_u16(w, p->packet_id);
	if (v5 && (rc = w_props(w, &p->props, W_PUBLISH)) != 0)
		return rc;
	w_bytes(w, p->payload, p->payload_len);
	return 0;
}

int mqtt_encode_publish(struct strbuf *sb, int version, const struct mqtt_publish *p)
{
	struct publish_args a = {version, p};
	uint8_t flags;

	if (p == NULL || !version_ok(version) || p->qos > 2 || (p->dup && p->qos == 0) ||
	    (p->qos > 0 && p->packet_id == 0))
		return -EINVAL;
	flags = (uint8_t)(p->qos << MQTT_PUBLISH_QOS_SHIFT) | (p->dup ? MQTT_PUBLISH_DUP : 0) |
		(p->retain ? MQTT_PUBLISH_RETAIN : 0);
	return encode(sb, byte0(MQTT_PUBLISH, flags), publish_body, &a);
}

/* Packet id (if any), then the 5.0 reason code and properties in the
 * shortest form the spec allows: nothing for 0 without properties, the
 * code alone without properties. PUBACK family, DISCONNECT and AUTH. */
struct reason_args {
	int version;
	enum mqtt_type type;
	bool has_id;
	uint16_t packet_id;
	uint8_t reason_code;
	const struct mqtt_props *props;
};

static int reason_body(struct wr *w, const void *arg)
{
	const struct reason_args *a = arg;
	unsigned where = pt_info[wire_type(a->type)].where;
	size_t plen;
	int rc;

	if (a->has_id)
		w_u16(w, a->packet_id);
	if (a->version == MQTT_V311)
		return a->reason_code == 0 ? 0 : -EINVAL;
	if (!rc_allowed(a->type, MQTT_V5, a->reason_code))
		return -EINVAL;
	if ((rc = props_len(a->props, where, &plen)) != 0)
		return rc;
	if (plen == 0 && a->reason_code == 0)
		return 0;
	w_u8(w, a->reason_code);
	return plen == 0 ? 0 : w_props(w, a->props, where);
}

int mqtt_encode_ack(struct strbuf *sb, int version, enum mqtt_type type, const struct mqtt_ack *a)
{
	struct reason_args r;

	if (a == NULL || !version_ok(version) || a->packet_id == 0 ||
	    (type != MQTT_PUBACK && type != MQTT_PUBREC && type != MQTT_PUBREL &&
	     type != MQTT_PUBCOMP))
		return -EINVAL;
	r = (struct reason_args){version, type, true, a->packet_id, a->reason_code, &a->props};
	return encode(sb, byte0(type, type == MQTT_PUBREL ? MQTT_FLAGS_PUBREL_SUB_UNSUB : 0),
		      reason_body, &r);
}

int mqtt_encode_disconnect(struct strbuf *sb, int version, const struct mqtt_reason *d)
{
	struct reason_args r = {version, MQTT_DISCONNECT, false, 0, d ? d->reason_code : 0,
				d ? &d->props : NULL};

	if (!version_ok(version))
		return -EINVAL;
	if (version == MQTT_V311)
		r.props = NULL; /* 3.1.1 has none: ignored, as everywhere */
	return encode(sb, byte0(MQTT_DISCONNECT, 0), reason_body, &r);
}

int mqtt_encode_auth(struct strbuf *sb, const struct mqtt_reason *a)
{
	struct reason_args r;

	if (a == NULL)
		return -EINVAL;
	r = (struct reason_args){MQTT_V5, MQTT_AUTH, false, 0, a->reason_code, &a->props};
	return encode(sb, byte0(MQTT_AUTH, 0), reason_body, &r);
}

/* SUBSCRIBE and UNSUBSCRIBE: subs (options) or filters. */
struct sub_args {
	int version;
	uint16_t packet_id;
	const struct mqtt_props *props;
	const struct mqtt_subscription *subs;
	const struct mqtt_str *filters;
	size_t count;
};

static int w_sub(struct wr *w, int version, const struct mqtt_str *f,
		 const struct mqtt_subscription *s)
{
	bool shared;
	int rc;

	if (f->ptr == NULL || filter_problem(f->ptr, f->len, version, &shared))
		return -EINVAL;
	if ((rc = w_str(w, f)) != 0 || s == NULL)
		return rc;
	if (s->qos > 2 || s->retain_handling > 2 || (s->no_local && shared))
		return -EINVAL;
	if (version == MQTT_V311 && (s->no_local || s->retain_as_published || s->retain_handling))
		return -EINVAL;
	w_u8(w, (uint8_t)(s->qos | (s->no_local ? MQTT_SUBOPT_NO_LOCAL : 0) |
			  (s->retain_as_published ? MQTT_SUBOPT_RETAIN_AS_PUBLISHED : 0) |
			  s->retain_handling << MQTT_SUBOPT_RETAIN_HANDLING_SHIFT));
	return 0;
}

static int sub_body(struct wr *w, const void *arg)
{
	const struct sub_args *a = arg;
	unsigned where = a->subs ? W_SUBSCRIBE : W_UNSUBSCRIBE;
	int rc = 0;

	w_u16(w, a->packet_id);
	if (a->version == MQTT_V5 && (rc = w_props(w, a->props, where)) != 0)
		return rc;
	for (size_t i = 0; i < a->count && rc == 0; i++) {
		if (a->subs)
			rc = w_sub(w, a->version, &a->subs[i].filter, &a->subs[i]);
		else
			rc = w_sub(w, a->version, &a->filters[i], NULL);
	}
	return rc;
}

int mqtt_encode_subscribe(struct strbuf *sb, int version, uint16_t packet_id,
			  const struct mqtt_props *props, const struct mqtt_subscription *subs,
			  size_t count)
{
	struct sub_args a = {version, packet_id, props, subs, NULL, count};

	if (!version_ok(version) || packet_id == 0 || subs == NULL || count == 0)
		return -EINVAL;
	return encode(sb, byte0(MQTT_SUBSCRIBE, MQTT_FLAGS_PUBREL_SUB_UNSUB), sub_body, &a);
}

int mqtt_encode_unsubscribe(struct strbuf *sb, int version, uint16_t packet_id,
			    const struct mqtt_props *props, const struct mqtt_str *filters,
			    size_t count)
{
	struct sub_args a = {version, packet_id, props, NULL, filters, count};

	if (!version_ok(version) || packet_id == 0 || filters == NULL || count == 0)
		return -EINVAL;
	return encode(sb, byte0(MQTT_UNSUBSCRIBE, MQTT_FLAGS_PUBREL_SUB_UNSUB), sub_body, &a);
}

struct suback_args {
	int version;
	enum mqtt_type type;
	const struct mqtt_suback *s;
};

static int suback_body(struct wr *w, const void *arg)
{
	const struct suback_args *a = arg;
	const struct mqtt_suback *s = a->s;
	int rc;

	w_u16(w, s->packet_id);
	if (a->version == MQTT_V311 && a->type == MQTT_UNSUBACK)
		return 0;
	if (s->count == 0 || s->reason_codes == NULL)
		return -EINVAL;
	if (a->version == MQTT_V5 &&
	    (rc = w_props(w, &s->props, a->type == MQTT_SUBACK ? W_SUBACK : W_UNSUBACK)) != 0)
		return rc;
	for (size_t i = 0; i < s->count; i++)
		if (!rc_allowed(a->type, a->version, s->reason_codes[i]))
			return -EINVAL;
	w_bytes(w, s->reason_codes, s->count);
	return 0;
}

static int encode_suback(struct strbuf *sb, int version, enum mqtt_type type,
			 const struct mqtt_suback *s)
{
	struct suback_args a = {version, type, s};

	if (s == NULL || !version_ok(version) || s->packet_id == 0)
		return -EINVAL;
	return encode(sb, byte0(type, 0), suback_body, &a);
}

int mqtt_encode_suback(struct strbuf *sb, int version, const struct mqtt_suback *s)
{
	return encode_suback(sb, version, MQTT_SUBACK, s);
}

int mqtt_encode_unsuback(struct strbuf *sb, int version, const struct mqtt_suback *s)
{
	return encode_suback(sb, version, MQTT_UNSUBACK, s);
}

static int empty_body(struct wr *w, const void *arg)
{
	(void)w;
	(void)arg;
	return 0;
}

int mqtt_encode_pingreq(struct strbuf *sb)
{
	return encode(sb, byte0(MQTT_PINGREQ, 0), empty_body, NULL);
}

int mqtt_encode_pingresp(struct strbuf *sb)
{
	return encode(sb, byte0(MQTT_PINGRESP, 0), empty_body, NULL);
}

int mqtt_props_add_user(struct strbuf *block, const char *name, size_t name_len,
			const char *value, size_t value_len)
{
	const struct mqtt_str k = {name, name_len}, v = {value, value_len};
	struct wr dry = {block, 0, true}, w = {block, 0, false};

	if (block == NULL)
		return -EINVAL;
	if (strbuf_failed(block))
		return -ENOMEM;
	w_u8(&dry, MQTT_PROP_USER_PROPERTY);
	if (w_str(&dry, &k) || w_str(&dry, &v))
		return -EINVAL;
	if (!strbuf_reserve(block, dry.n))
		return -ENOMEM;
	w_u8(&w, MQTT_PROP_USER_PROPERTY);
	if (w_str(&w, &k) || w_str(&w, &v))
		return -EINVAL;
	return strbuf_failed(block) ? -ENOMEM : 0;
}
