/* mqtt_codec.h: MQTT 3.1.1 and 5.0 control packets: framing, decoding into views of the input, and encoding into a strbuf.
 * Pure: no I/O, no globals, no allocation when decoding; any thread, the caller owns every buffer. Wire format: mqtt_format.h. */
#ifndef HS_MQTT_CODEC_H
#define HS_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/mqtt_format.h"

struct strbuf;

/* Protocol versions as the decoder and encoders take them: the CONNECT
 * protocol level of the connection. */
#define MQTT_V311 4
#define MQTT_V5 5

/* Errors of mqtt_frame_len() and mqtt_decode(), beside -EINVAL for a bad
 * argument. Each says what the endpoint answers (5.0 reason code in
 * brackets; a 3.1.1 endpoint closes the connection, except as noted). They
 * sit in historian's project range (lib/hs_error.h) and mqtt_strerror()
 * gives their text. */
enum mqtt_err {
	MQTT_EMALFORMED = -10101, /* cannot be parsed or breaks a "malformed" rule (0x81) */
	MQTT_EPROTOCOL = -10102,  /* parsed, but the spec forbids it (0x82) */
	MQTT_EVERSION = -10103,   /* CONNECT for a protocol level we do not speak: CONNACK
				     0x01 (3.1.1 form) or 0x84 (5.0 form), then close */
	MQTT_ETOOLARGE = -10104,  /* larger than the caller's maximum packet size (0x95) */
};

/* Packet types in memory (the wire values are MQTT_PT_* of mqtt_format.h;
 * the decoder maps between them). */
enum mqtt_type {
	MQTT_NONE = 0, /* not decoded */
	MQTT_CONNECT,
	MQTT_CONNACK,
	MQTT_PUBLISH,
	MQTT_PUBACK,
	MQTT_PUBREC,
	MQTT_PUBREL,
	MQTT_PUBCOMP,
	MQTT_SUBSCRIBE,
	MQTT_SUBACK,
	MQTT_UNSUBSCRIBE,
	MQTT_UNSUBACK,
	MQTT_PINGREQ,
	MQTT_PINGRESP,
	MQTT_DISCONNECT,
	MQTT_AUTH,
};

/* A UTF-8 string (valid, no U+0000 when decoded) or binary data. A
 * decoded one points into the decoded buffer and is not NUL-terminated;
 * ptr may be NULL when len is 0. len is size_t so that an encoder can
 * refuse a string longer than 65,535 bytes instead of cutting it. */
struct mqtt_str {
	const char *ptr;
	size_t len;
};

struct mqtt_bin {
	const uint8_t *ptr;
	size_t len;
};

/* The bit of property identifier id (MQTT_PROP_*) in mqtt_props.present. */
#define MQTT_PROP_BIT(id) (UINT64_C(1) << (id))

/* 5.0 properties of one packet (or of a CONNECT's will). Decoding fills
 * present with a bit for each property seen and the field of each; absent
 * fields are 0 and the spec's defaults are the caller's to apply (receive
 * maximum 65,535, maximum QoS 2, the three "available" flags 1, topic
 * alias maximum 0, no packet size limit). raw is the whole block as on the
 * wire, for mqtt_props_next(), which is also the only way to read User
 * Properties (user_count says how many).
 *
 * Encoding writes the fields whose bit is set in present (in identifier
 * order), then every User Property found in raw (other entries of raw are
 * ignored, so a decoded block re-encodes as it came). A bit the packet
 * type may not carry, a value out of range or a bad string is -EINVAL. */
struct mqtt_props {
	const uint8_t *raw;                  /* NULL/0 when none */
	size_t raw_len;
	uint64_t present;                    /* MQTT_PROP_BIT(id) of each property */
	uint32_t user_count;                 /* User Property pairs in raw */
	uint32_t sub_id_count;               /* Subscription Identifiers seen (PUBLISH may hold several) */
	uint8_t payload_format;              /* 0x01: 0 bytes, 1 UTF-8 */
	uint32_t message_expiry_s;           /* 0x02 */
	struct mqtt_str content_type;        /* 0x03 */
	struct mqtt_str response_topic;      /* 0x08: a topic name, no wildcards */
	struct mqtt_bin correlation_data;    /* 0x09 */
	uint32_t sub_id;                     /* 0x0B: the first one; 1..268,435,455 */
	uint32_t session_expiry_s;           /* 0x11: 0xFFFFFFFF = never */
	struct mqtt_str assigned_client_id;  /* 0x12 */
	uint16_t server_keep_alive_s;        /* 0x13 */
	struct mqtt_str auth_method;         /* 0x15 */
	struct mqtt_bin auth_data;           /* 0x16: only with auth_method */
	uint8_t request_problem_info;        /* 0x17: 0 or 1 */
	uint32_t will_delay_s;               /* 0x18 */
	uint8_t request_response_info;       /* 0x19: 0 or 1 */
	struct mqtt_str response_info;       /* 0x1A */
	struct mqtt_str server_reference;    /* 0x1C */
	struct mqtt_str reason_string;       /* 0x1F */
	uint16_t receive_max;                /* 0x21: not 0 */
	uint16_t topic_alias_max;            /* 0x22 */
	uint16_t topic_alias;                /* 0x23: not 0 */
	uint8_t max_qos;                     /* 0x24: 0 or 1 */
	uint8_t retain_available;            /* 0x25: 0 or 1 */
	uint32_t max_packet_len;             /* 0x27: not 0 */
	uint8_t wildcard_sub_available;      /* 0x28: 0 or 1 */
	uint8_t sub_id_available;            /* 0x29: 0 or 1 */
	uint8_t shared_sub_available;        /* 0x2A: 0 or 1 */
};

static inline bool mqtt_props_has(const struct mqtt_props *p, unsigned id)
{
	return id <= MQTT_PROP_ID_MAX && (p->present & MQTT_PROP_BIT(id)) != 0;
}

/* One property of a raw block. num holds integer values; str string
 * values and a User Property's name; value a User Property's value; bin
 * binary values. Views point into the block. */
struct mqtt_prop {
	uint8_t id;
	uint32_t num;
	struct mqtt_str str;
	struct mqtt_str value;
	struct mqtt_bin bin;
};

struct mqtt_prop_iter {
	const uint8_t *p;
	size_t left;
};

struct mqtt_connect {
	uint8_t protocol_level;        /* 4 or 5; on MQTT_EVERSION the level asked for */
	bool clean_start;              /* "clean session" in 3.1.1 */
	uint16_t keep_alive_s;         /* 0 = no keep alive */
	struct mqtt_props props;
	struct mqtt_str client_id;     /* may be empty: the server assigns one (5.0) or refuses */
	bool will;
	uint8_t will_qos;              /* 0 unless will */
	bool will_retain;              /* false unless will */
	struct mqtt_props will_props;
	struct mqtt_str will_topic;    /* a topic name: non-empty, no wildcards */
	struct mqtt_bin will_payload;
	bool has_username;
	bool has_password;             /* 3.1.1: only with has_username */
	struct mqtt_str username;
	struct mqtt_bin password;
};

struct mqtt_connack {
	bool session_present;          /* false unless reason_code is 0 */
	uint8_t reason_code;           /* 3.1.1: 0-5 (MQTT_CONNACK_V311_*); 5.0: MQTT_RC_* */
	struct mqtt_props props;
};

struct mqtt_publish {
	uint8_t qos;                   /* 0-2 */
	bool dup;                      /* false when qos is 0 */
	bool retain;
	struct mqtt_str topic;         /* no wildcards; empty only in 5.0 with a topic alias */
	uint16_t packet_id;            /* non-zero iff qos > 0 */
	struct mqtt_props props;
	const uint8_t *payload;        /* the rest of the packet; may be empty */
	size_t payload_len;
};

/* PUBACK, PUBREC, PUBREL and PUBCOMP. */
struct mqtt_ack {
	uint16_t packet_id;            /* non-zero */
	uint8_t reason_code;           /* 5.0; 0 in 3.1.1 */
	struct mqtt_props props;
};

/* SUBSCRIBE and UNSUBSCRIBE: the filters stay in the packet, read them
 * with mqtt_sub_iter_init() / mqtt_sub_next(). */
struct mqtt_subscribe {
	uint16_t packet_id;            /* non-zero */
	struct mqtt_props props;
	const uint8_t *list;           /* the payload: count filters (with options) */
	size_t list_len;
	uint32_t count;                /* at least 1 */
	uint8_t version;               /* MQTT_V311 or MQTT_V5: how to read list */
	bool options;                  /* SUBSCRIBE: each filter has an options byte */
};

/* One filter of a SUBSCRIBE (or UNSUBSCRIBE: filter and shared only). */
struct mqtt_subscription {
	struct mqtt_str filter;        /* valid filter; the whole "$share/name/f" when shared */
	uint8_t qos;                   /* requested maximum QoS, 0-2 */
	bool no_local;                 /* 5.0 options; false in 3.1.1 */
	bool retain_as_published;
	uint8_t retain_handling;       /* 0-2 */
	bool shared;                   /* 5.0 "$share/" filter */
};

struct mqtt_sub_iter {
	const uint8_t *p;
	size_t left;
	uint8_t version;
	bool options;
};

/* SUBACK and UNSUBACK: one code per filter, in filter order. */
struct mqtt_suback {
	uint16_t packet_id;            /* non-zero */
	struct mqtt_props props;
	const uint8_t *reason_codes;   /* count bytes (points into the packet when decoded) */
	size_t count;                  /* >= 1; 0 for a 3.1.1 UNSUBACK, which has none */
};

/* DISCONNECT and AUTH. */
struct mqtt_reason {
	uint8_t reason_code;           /* 5.0; 0 in 3.1.1 */
	struct mqtt_props props;
};

/* A decoded packet. On failure type may be set (and, for MQTT_EVERSION,
 * connect.protocol_level) but no other field is to be trusted; err says
 * what was wrong, err_field where (may be NULL), err_offset the byte
 * offset in the frame. All three are static text / numbers for logs. */
struct mqtt_packet {
	enum mqtt_type type;
	uint8_t flags;                 /* bits 3-0 of byte 0 */
	uint8_t version;               /* MQTT_V311 or MQTT_V5 (of CONNECT: its level) */
	const char *err;
	const char *err_field;
	size_t err_offset;
	union {
		struct mqtt_connect connect;
		struct mqtt_connack connack;
		struct mqtt_publish publish;
		struct mqtt_ack ack;                /* PUBACK, PUBREC, PUBREL, PUBCOMP */
		struct mqtt_subscribe subscribe;    /* SUBSCRIBE, UNSUBSCRIBE */
		struct mqtt_suback suback;          /* SUBACK, UNSUBACK */
		struct mqtt_reason disconnect;      /* DISCONNECT, AUTH */
	} u;
};

/* ---- framing and decoding ------------------------------------------------------------- */

/* Is a whole packet at the start of buf (len bytes)? 1 with *frame_len =
 * fixed header + remaining length, 0 when more bytes are needed, or
 * MQTT_EMALFORMED (remaining length longer than 4 bytes) or MQTT_ETOOLARGE
 * (the packet would be larger than max_packet bytes; 0 = no limit but the
 * protocol's). ETOOLARGE comes as soon as the length is known, before the
 * body arrives. Non-minimal length encodings are accepted here (3.1.1
 * allows them; mqtt_decode refuses them in 5.0). */
int mqtt_frame_len(const uint8_t *buf, size_t len, size_t max_packet, size_t *frame_len)
	__attribute__((warn_unused_result));

/* Decode one frame: buf holds exactly len = *frame_len bytes from
 * mqtt_frame_len(). protocol_version is the connection's (MQTT_V311 or
 * MQTT_V5) and is ignored for CONNECT, which carries its own; pass 0
 * before CONNECT: any other packet then is MQTT_EPROTOCOL ("first packet
 * is not CONNECT", out->type set). Returns 0 with out filled,
 * MQTT_EMALFORMED, MQTT_EPROTOCOL, MQTT_EVERSION (CONNECT only) or -EINVAL
 * (protocol_version not 0, 4 or 5; NULL out). Every view in out points
 * into buf, which must outlive them; buf is never written.
 *
 * Checked here: everything the spec asks of one packet on its own. Left
 * to the caller, who holds the state: packet order (a second CONNECT),
 * packet ids in flight, topic alias against the maximum, and the
 * rules of direction: a server must refuse CONNACK, SUBACK, UNSUBACK,
 * PINGRESP from a client, a Subscription Identifier in a client's PUBLISH
 * (props.sub_id_count, protocol error), and a DISCONNECT session expiry
 * when CONNECT's was 0; a 3.1.1 server refuses an empty client id with
 * clean_start false (CONNACK 0x02). */
int mqtt_decode(const uint8_t *buf, size_t len, int protocol_version, struct mqtt_packet *out)
	__attribute__((warn_unused_result));

/* Walk a property block (props->raw) from the start. */
void mqtt_props_iter_init(struct mqtt_prop_iter *it, const struct mqtt_props *props);

/* Next property: 1 and *out, 0 at the end, or MQTT_EMALFORMED when the
 * block is broken (never for a block mqtt_decode accepted). */
int mqtt_props_next(struct mqtt_prop_iter *it, struct mqtt_prop *out)
	__attribute__((warn_unused_result));

/* Walk the filters of a decoded SUBSCRIBE or UNSUBSCRIBE. */
void mqtt_sub_iter_init(struct mqtt_sub_iter *it, const struct mqtt_subscribe *s);

/* Next filter: 1 and *out, 0 at the end, MQTT_EMALFORMED when the list is
 * broken (never for a packet mqtt_decode accepted). */
int mqtt_sub_next(struct mqtt_sub_iter *it, struct mqtt_subscription *out)
	__attribute__((warn_unused_result));

/* Filter and topic name rules (4.7): a filter is non-empty, '#' is last
 * and alone in its level, '+' alone in its level; a topic name is
 * non-empty without '+' or '#'. Neither checks UTF-8. */
bool mqtt_filter_valid(const char *s, size_t len);
bool mqtt_topic_valid(const char *s, size_t len);

/* "PUBLISH", "CONNECT", ... ("none" for MQTT_NONE). Static. */
const char *mqtt_type_name(enum mqtt_type type);

/* Text for MQTT_E* codes; other codes as hs_strerror(). Static. */
const char *mqtt_strerror(int code);

/* ---- encoding ------------------------------------------------------------------------- */
/* Each encoder appends one packet to sb (remaining length in the fewest
 * bytes) and returns 0, -EINVAL when the input cannot be encoded (an
 * argument outside its range, a bad string or filter, a property the
 * packet may not carry, a reason code the packet may not carry, 5.0
 * content in a 3.1.1 packet other than props, which 3.1.1 ignores),
 * -EMSGSIZE when the packet would pass 268,435,455 + 5 bytes, or -ENOMEM
 * (sb has failed; see strbuf.h). Nothing is appended on -EINVAL or
 * -EMSGSIZE. version is MQTT_V311 or MQTT_V5. Inputs are only read. */

/* Client side (a bridge): the version is c->protocol_level. */
int mqtt_encode_connect(struct strbuf *sb, const struct mqtt_connect *c)
	__attribute__((warn_unused_result));
int mqtt_encode_connack(struct strbuf *sb, int version, const struct mqtt_connack *c)
	__attribute__((warn_unused_result));
int mqtt_encode_publish(struct strbuf *sb, int version, const struct mqtt_publish *p)
	__attribute__((warn_unused_result));
/* type: MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL or MQTT_PUBCOMP. A 3.1.1 ack
 * has no reason code: a non-zero one is -EINVAL. */
int mqtt_encode_ack(struct strbuf *sb, int version, enum mqtt_type type, const struct mqtt_ack *a)
	__attribute__((warn_unused_result));
int mqtt_encode_subscribe(struct strbuf *sb, int version, uint16_t packet_id,
			  const struct mqtt_props *props, const struct mqtt_subscription *subs,
			  size_t count) __attribute__((warn_unused_result));
int mqtt_encode_suback(struct strbuf *sb, int version, const struct mqtt_suback *s)
	__attribute__((warn_unused_result));
int mqtt_encode_unsubscribe(struct strbuf *sb, int version, uint16_t packet_id,
			    const struct mqtt_props *props, const struct mqtt_str *filters,
			    size_t count) __attribute__((warn_unused_result));
/* 3.1.1: s->count and reason codes are ignored (the packet has none). */
int mqtt_encode_unsuback(struct strbuf *sb, int version, const struct mqtt_suback *s)
	__attribute__((warn_unused_result));
int mqtt_encode_pingreq(struct strbuf *sb) __attribute__((warn_unused_result));
int mqtt_encode_pingresp(struct strbuf *sb) __attribute__((warn_unused_result));
/* d may be NULL: normal disconnection. 3.1.1: d must be NULL or reason 0. */
int mqtt_encode_disconnect(struct strbuf *sb, int version, const struct mqtt_reason *d)
	__attribute__((warn_unused_result));
/* 5.0 only. */
int mqtt_encode_auth(struct strbuf *sb, const struct mqtt_reason *a)
	__attribute__((warn_unused_result));

/* Append one User Property entry (identifier, name, value) in wire form to
 * block, to build a props.raw for an encoder. -EINVAL for a bad string,
 * -ENOMEM when block has failed. */
int mqtt_props_add_user(struct strbuf *block, const char *name, size_t name_len,
			const char *value, size_t value_len) __attribute__((warn_unused_result));

#endif
