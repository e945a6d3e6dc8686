/* mqtt_map.h: from an MQTT message (topic, payload) to samples: topic rules with named captures, payload formats.
 * Pure apart from the ingest batch it fills; shared by the MQTT endpoint and the broker bridge. */
#ifndef HS_MQTT_MAP_H
#define HS_MQTT_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "server/ingest.h"

/*
 * RULES ([mqtt] map in historiand.conf), separated by ";", first match wins:
 *
 *   FILTER TEMPLATE [FORMAT]
 *
 *   FILTER    an MQTT topic filter whose wildcards may be named:
 *             "+name" matches one level, "#name" the rest of the topic
 *             (zero or more levels); plain "+" and "#" match unnamed.
 *   TEMPLATE  the tag name, with {name} replaced by a capture and {topic}
 *             by the whole topic; every capture of a "+name" level also
 *             becomes a label name=value of the tag.
 *   FORMAT    auto (default), number, json or lp.
 *
 *   plant/+site/+area/#rest {site}.{area}.{rest} json
 *     plant/north/boiler/temp -> tag north.boiler.temp,area=boiler,site=north
 *
 * A topic no rule matches names its tag itself (template {topic}, auto).
 *
 * PAYLOADS
 *   number   text of a number ("81.5", "-3", "1e3") or a boolean (true,
 *            false, on, off); integers without a point or exponent make
 *            integer tags.
 *   json     a number, boolean or string; {"value": v, "ts": t,
 *            "quality": q} (ts and quality optional; also "v", "t",
 *            "q"); an object of field -> value, one tag per field named
 *            TAG.field (a field "ts"/"timestamp" gives the time); or an
 *            array of such objects, or of [t, v] / [t, v, q] pairs.
 *            t is RFC 3339 text or an epoch number whose unit follows from
 *            its size: below 1e11 seconds, 1e14 milliseconds, 1e17
 *            microseconds, else nanoseconds.
 *   lp       InfluxDB line protocol (tag names come from the lines, as
 *            for HTTP writes; the topic is not used); ns timestamps.
 *   auto     json when the payload starts with '{', '[' or '"', number
 *            when it reads as one, else line protocol.
 * Without a time in the payload a sample takes the arrival time.
 */

struct mqtt_map;

/* Parse rules text (may be empty). 0, or -EINVAL with a reason naming the
 * rule in err (err_len bytes), or -ENOMEM. */
int mqtt_map_parse(const char *text, struct mqtt_map **out, char *err, size_t err_len)
	__attribute__((warn_unused_result));
void mqtt_map_free(struct mqtt_map *m);

/* Add the samples of one message to b as message number line. Returns 0,
 * 1 when the payload could not be read (why says how, why_len bytes; the
 * message adds nothing), or -ENOMEM. Any thread. */
int mqtt_map_message(const struct mqtt_map *m, const char *topic, size_t topic_len,
		     const uint8_t *payload, size_t len, int64_t now_ns, struct ingest_batch *b,
		     uint32_t line, struct ingest_report *rep, char *why, size_t why_len)
	__attribute__((warn_unused_result));

#endif
