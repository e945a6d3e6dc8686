/* mqtt_format.h: the MQTT control packet wire format, versions 3.1.1 (protocol level 4) and 5.0 (level 5).
 * Format only: packet types, flags, property identifiers and reason codes as they are on the wire. */
#ifndef HS_MQTT_FORMAT_H
#define HS_MQTT_FORMAT_H

/*
 * Specifications: OASIS "MQTT Version 3.1.1" (2014, plus errata 01) and
 * OASIS "MQTT Version 5.0" (2019). Format version: both, told apart by the
 * protocol level byte of CONNECT; a connection keeps the level CONNECT set.
 *
 * Byte order big-endian ("network order"), unlike historian's own formats.
 * Data types:
 *   u8, u16, u32    unsigned integers, most significant byte first
 *   vbi             Variable Byte Integer: 7 bits a byte, low group first,
 *                   bit 7 set on every byte but the last; 1 to 4 bytes,
 *                   at most 268,435,455. 5.0 requires the fewest bytes
 *                   (MQTT-1.5.5-1); 3.1.1 does not say.
 *   string          u16 length + that many bytes of well-formed UTF-8
 *                   (RFC 3629: no surrogates, no overlongs) without U+0000
 *   binary          u16 length + that many bytes
 *   pair            string name + string value (5.0 User Property)
 *
 * Every packet:
 * OFFSET SIZE     DESCRIPTION
 * 0      1        bits 7-4: packet type (MQTT_PT_*); bits 3-0: flags
 * 1      vbi      remaining length: bytes after this field
 * ...             variable header, then payload, as below
 *
 * Flags are reserved (MQTT_FLAGS_RESERVED) except on PUBLISH, whose bits
 * are DUP (3), QoS (2-1, never 3) and RETAIN (0). PUBREL, SUBSCRIBE and
 * UNSUBSCRIBE must carry 0010, every other type 0000.
 *
 * 5.0 "props": vbi length, then that many bytes of properties, each a vbi
 * identifier (MQTT_PROP_*) and a value of the identifier's type. Which
 * identifiers a packet may carry is Table 2-4 of the 5.0 spec; none occurs
 * twice except User Property, and Subscription Identifier in PUBLISH.
 *
 * Variable header and payload per type ("5:" = 5.0 only):
 *   CONNECT      string "MQTT", u8 level (4 or 5), u8 connect flags,
 *                u16 keep alive (s), 5: props; payload: string client id,
 *                [5: will props, string will topic, binary will payload]
 *                if WILL, [string user name] if USERNAME, [binary
 *                password] if PASSWORD
 *   CONNACK      u8 ack flags (bit 0 session present, rest 0), u8 return
 *                code (3.1.1) or reason code (5.0), 5: props
 *   PUBLISH      string topic, [u16 packet id] if QoS > 0, 5: props;
 *                payload: the remaining bytes
 *   PUBACK, PUBREC, PUBREL, PUBCOMP
 *                u16 packet id; 5: u8 reason code and props, both left
 *                out when remaining length is 2 (reason 0), props left out
 *                when it is 3
 *   SUBSCRIBE    u16 packet id, 5: props; payload: one or more (string
 *                filter, u8 options: bits 1-0 QoS; 5: bit 2 no local,
 *                bit 3 retain as published, bits 5-4 retain handling)
 *   SUBACK       u16 packet id, 5: props; payload: one u8 code a filter
 *   UNSUBSCRIBE  u16 packet id, 5: props; payload: one or more strings
 *   UNSUBACK     u16 packet id; 5: props, payload: one reason code a filter
 *   PINGREQ, PINGRESP
 *                nothing (remaining length 0)
 *   DISCONNECT   3.1.1: nothing; 5: u8 reason and props, left out as for
 *                PUBACK when remaining length is 0 or 1
 *   AUTH         5 only: as the 5.0 DISCONNECT
 *
 * Valid iff the remaining length fits in 4 bytes and equals the bytes that
 * follow it, every field lies inside the packet, no bytes follow the last
 * field, reserved bits hold their listed values, strings are valid as
 * above, and the type's rules hold (packet ids non-zero, topic names
 * without wildcards, QoS at most 2, at least one filter, ...); the
 * spec's "Malformed Packet" and "Protocol Error" lists say which is which.
 * An invalid packet ends the connection: 5.0 first sends DISCONNECT with
 * 0x81 or 0x82 (CONNACK for a bad CONNECT); 3.1.1 just closes.
 */

/* Packet types: bits 7-4 of byte 0. Type 0 is reserved; AUTH is reserved
 * (invalid) in 3.1.1. */
#define MQTT_PT_CONNECT 1
#define MQTT_PT_CONNACK 2
#define MQTT_PT_PUBLISH 3
#define MQTT_PT_PUBACK 4
#define MQTT_PT_PUBREC 5
#define MQTT_PT_PUBREL 6
#define MQTT_PT_PUBCOMP 7
#define MQTT_PT_SUBSCRIBE 8
#define MQTT_PT_SUBACK 9
#define MQTT_PT_UNSUBSCRIBE 10
#define MQTT_PT_UNSUBACK 11
#define MQTT_PT_PINGREQ 12
#define MQTT_PT_PINGRESP 13
#define MQTT_PT_DISCONNECT 14
#define MQTT_PT_AUTH 15

/* The only flags a non-PUBLISH packet may carry. */
#define MQTT_FLAGS_RESERVED 0x0
#define MQTT_FLAGS_PUBREL_SUB_UNSUB 0x2

/* PUBLISH flags (bits 3-0 of byte 0). */
#define MQTT_PUBLISH_DUP 0x8
#define MQTT_PUBLISH_QOS_MASK 0x6
#define MQTT_PUBLISH_QOS_SHIFT 1
#define MQTT_PUBLISH_RETAIN 0x1

/* Remaining length: at most 4 vbi bytes, so a packet is at most 5 + this. */
#define MQTT_VBI_MAX 268435455u
#define MQTT_VBI_MAX_BYTES 4
#define MQTT_FIXED_HEADER_MAX 5
#define MQTT_STRING_MAX 65535u

/* CONNECT variable header. */
#define MQTT_PROTOCOL_NAME "MQTT"
#define MQTT_PROTOCOL_NAME_V31 "MQIsdp" /* MQTT 3.1, level 3: refused with 0x01 */
#define MQTT_LEVEL_311 4
#define MQTT_LEVEL_5 5

#define MQTT_CONNECT_RESERVED 0x01
#define MQTT_CONNECT_CLEAN_START 0x02 /* "clean session" in 3.1.1 */
#define MQTT_CONNECT_WILL 0x04
#define MQTT_CONNECT_WILL_QOS_MASK 0x18
#define MQTT_CONNECT_WILL_QOS_SHIFT 3
#define MQTT_CONNECT_WILL_RETAIN 0x20
#define MQTT_CONNECT_PASSWORD 0x40
#define MQTT_CONNECT_USERNAME 0x80

#define MQTT_CONNACK_SESSION_PRESENT 0x01

/* SUBSCRIBE options byte; 3.1.1 defines only the QoS bits. */
#define MQTT_SUBOPT_QOS_MASK 0x03
#define MQTT_SUBOPT_NO_LOCAL 0x04
#define MQTT_SUBOPT_RETAIN_AS_PUBLISHED 0x08
#define MQTT_SUBOPT_RETAIN_HANDLING_MASK 0x30
#define MQTT_SUBOPT_RETAIN_HANDLING_SHIFT 4
#define MQTT_SUBOPT_RESERVED_V5 0xC0
#define MQTT_SUBOPT_RESERVED_V311 0xFC

/* 5.0 shared subscription filters: "$share/" share name "/" filter. */
#define MQTT_SHARE_PREFIX "$share/"

/* 5.0 property identifiers (Table 2-4) and their value types. */
#define MQTT_PROP_PAYLOAD_FORMAT 0x01          /* u8      PUBLISH, will */
#define MQTT_PROP_MESSAGE_EXPIRY 0x02          /* u32     PUBLISH, will */
#define MQTT_PROP_CONTENT_TYPE 0x03            /* string  PUBLISH, will */
#define MQTT_PROP_RESPONSE_TOPIC 0x08          /* string  PUBLISH, will */
#define MQTT_PROP_CORRELATION_DATA 0x09        /* binary  PUBLISH, will */
#define MQTT_PROP_SUBSCRIPTION_ID 0x0B         /* vbi     PUBLISH, SUBSCRIBE */
#define MQTT_PROP_SESSION_EXPIRY 0x11          /* u32     CONNECT, CONNACK, DISCONNECT */
#define MQTT_PROP_ASSIGNED_CLIENT_ID 0x12      /* string  CONNACK */
#define MQTT_PROP_SERVER_KEEP_ALIVE 0x13       /* u16     CONNACK */
#define MQTT_PROP_AUTH_METHOD 0x15             /* string  CONNECT, CONNACK, AUTH */
#define MQTT_PROP_AUTH_DATA 0x16               /* binary  CONNECT, CONNACK, AUTH */
#define MQTT_PROP_REQUEST_PROBLEM_INFO 0x17    /* u8      CONNECT */
#define MQTT_PROP_WILL_DELAY 0x18              /* u32     will */
#define MQTT_PROP_REQUEST_RESPONSE_INFO 0x19   /* u8      CONNECT */
#define MQTT_PROP_RESPONSE_INFO 0x1A           /* string  CONNACK */
#define MQTT_PROP_SERVER_REFERENCE 0x1C        /* string  CONNACK, DISCONNECT */
#define MQTT_PROP_REASON_STRING 0x1F           /* string  every ack, DISCONNECT, AUTH */
#define MQTT_PROP_RECEIVE_MAXIMUM 0x21         /* u16     CONNECT, CONNACK */
#define MQTT_PROP_TOPIC_ALIAS_MAXIMUM 0x22     /* u16     CONNECT, CONNACK */
#define MQTT_PROP_TOPIC_ALIAS 0x23             /* u16     PUBLISH */
#define MQTT_PROP_MAXIMUM_QOS 0x24             /* u8      CONNACK */
#define MQTT_PROP_RETAIN_AVAILABLE 0x25        /* u8      CONNACK */
#define MQTT_PROP_USER_PROPERTY 0x26           /* pair    every packet with props */
#define MQTT_PROP_MAXIMUM_PACKET_SIZE 0x27     /* u32     CONNECT, CONNACK */
#define MQTT_PROP_WILDCARD_SUB_AVAILABLE 0x28  /* u8      CONNACK */
#define MQTT_PROP_SUB_ID_AVAILABLE 0x29        /* u8      CONNACK */
#define MQTT_PROP_SHARED_SUB_AVAILABLE 0x2A    /* u8      CONNACK */
#define MQTT_PROP_ID_MAX 0x2A

/* 3.1.1 CONNACK return codes. */
#define MQTT_CONNACK_V311_ACCEPTED 0x00
#define MQTT_CONNACK_V311_BAD_PROTOCOL_LEVEL 0x01
#define MQTT_CONNACK_V311_IDENTIFIER_REJECTED 0x02
#define MQTT_CONNACK_V311_SERVER_UNAVAILABLE 0x03
#define MQTT_CONNACK_V311_BAD_USERNAME_OR_PASSWORD 0x04
#define MQTT_CONNACK_V311_NOT_AUTHORIZED 0x05

/* 3.1.1 SUBACK return codes: the granted QoS (0-2) or failure. */
#define MQTT_SUBACK_V311_FAILURE 0x80

/* 5.0 reason codes (section 2.4); which packet may carry which is listed
 * with each packet in the spec and checked by the codec. */
#define MQTT_RC_SUCCESS 0x00                  /* also normal disconnection, granted QoS 0 */
#define MQTT_RC_GRANTED_QOS_1 0x01
#define MQTT_RC_GRANTED_QOS_2 0x02
#define MQTT_RC_DISCONNECT_WITH_WILL 0x04
#define MQTT_RC_NO_MATCHING_SUBSCRIBERS 0x10
#define MQTT_RC_NO_SUBSCRIPTION_EXISTED 0x11
#define MQTT_RC_CONTINUE_AUTHENTICATION 0x18
#define MQTT_RC_REAUTHENTICATE 0x19
#define MQTT_RC_UNSPECIFIED_ERROR 0x80
#define MQTT_RC_MALFORMED_PACKET 0x81
#define MQTT_RC_PROTOCOL_ERROR 0x82
#define MQTT_RC_IMPLEMENTATION_SPECIFIC 0x83
#define MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION 0x84
#define MQTT_RC_CLIENT_ID_NOT_VALID 0x85
#define MQTT_RC_BAD_USERNAME_OR_PASSWORD 0x86
#define MQTT_RC_NOT_AUTHORIZED 0x87
#define MQTT_RC_SERVER_UNAVAILABLE 0x88
#define MQTT_RC_SERVER_BUSY 0x89
#define MQTT_RC_BANNED 0x8A
#define MQTT_RC_SERVER_SHUTTING_DOWN 0x8B
#define MQTT_RC_BAD_AUTH_METHOD 0x8C
#define MQTT_RC_KEEP_ALIVE_TIMEOUT 0x8D
#define MQTT_RC_SESSION_TAKEN_OVER 0x8E
#define MQTT_RC_TOPIC_FILTER_INVALID 0x8F
#define MQTT_RC_TOPIC_NAME_INVALID 0x90
#define MQTT_RC_PACKET_ID_IN_USE 0x91
#define MQTT_RC_PACKET_ID_NOT_FOUND 0x92
#define MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED 0x93
#define MQTT_RC_TOPIC_ALIAS_INVALID 0x94
#define MQTT_RC_PACKET_TOO_LARGE 0x95
#define MQTT_RC_MESSAGE_RATE_TOO_HIGH 0x96
#define MQTT_RC_QUOTA_EXCEEDED 0x97
#define MQTT_RC_ADMINISTRATIVE_ACTION 0x98
#define MQTT_RC_PAYLOAD_FORMAT_INVALID 0x99
#define MQTT_RC_RETAIN_NOT_SUPPORTED 0x9A
#define MQTT_RC_QOS_NOT_SUPPORTED 0x9B
#define MQTT_RC_USE_ANOTHER_SERVER 0x9C
#define MQTT_RC_SERVER_MOVED 0x9D
#define MQTT_RC_SHARED_SUBS_NOT_SUPPORTED 0x9E
#define MQTT_RC_CONNECTION_RATE_EXCEEDED 0x9F
#define MQTT_RC_MAXIMUM_CONNECT_TIME 0xA0
#define MQTT_RC_SUB_IDS_NOT_SUPPORTED 0xA1
#define MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED 0xA2

#endif
