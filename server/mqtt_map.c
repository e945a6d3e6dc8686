/* mqtt_map.c: topic rules and payload formats of MQTT ingest, behind mqtt_map.h.
 * A rule is parsed once into levels; matching walks the topic's levels against them, capturing named wildcards. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/timefmt.h"
#include "lib/vec.h"
#include "server/mqtt_map.h"

#define MAP_NAME_MAX 1024
#define MAP_LEVELS_MAX 32
#define MAP_LABELS_MAX 16

enum map_format { FMT_AUTO, FMT_NUMBER, FMT_JSON, FMT_LP };

enum level_kind { LEVEL_LITERAL, LEVEL_PLUS, LEVEL_HASH };

struct level {
	enum level_kind kind;
	char *text;  /* the literal, or the capture's name ("" unnamed) */
};

struct rule {
	struct level levels[MAP_LEVELS_MAX];
	size_t nlevels;
	char *tmpl;
	enum map_format format;
};

struct mqtt_map {
	struct rule *rules;
	size_t count, cap;
};

/* --- rules -------------------------------------------------------------- */

static void rule_free(struct rule *r)
{
	for (size_t i = 0; i < r->nlevels; i++)
		free(r->levels[i].text);
	free(r->tmpl);
}

void mqtt_map_free(struct mqtt_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++)
		rule_free(&m->rules[i]);
	free(m->rules);
	free(m);
}

static int parse_filter(struct rule *r, const char *f, char *err, size_t err_len)
{
	for (const char *p = f;; p++) {
		size_t len = strcspn(p, "/");
		struct level *l = &r->levels[r->nlevels];
		if (r->nlevels == MAP_LEVELS_MAX) {
			snprintf(err, err_len, "filter %s: more than %d levels", f, MAP_LEVELS_MAX);
			return -EINVAL;
		}
		if (len && (p[0] == '+' || p[0] == '#')) {
			l->kind = p[0] == '+' ? LEVEL_PLUS : LEVEL_HASH;
			l->text = strndup(p + 1, len - 1);
		} else {
			l->kind = LEVEL_LITERAL;
			l->text = strndup(p, len);
		}
		if (!l->text)
			return -ENOMEM;
		r->nlevels++;
		if (strpbrk(l->text, "+#") || (l->kind == LEVEL_HASH && p[len] != '\0')) {
			snprintf(err, err_len, "filter %s: '+' and '#' must start a level, and '#' "
				 "must be the last level", f);
			return -EINVAL;
		}
		p += len;
		if (*p == '\0')
			return 0;
	}
}

static bool capture_named(const struct rule *r, const char *name, size_t len)
{
	if (len == 5 && memcmp(name, "topic", 5) == 0)
		return true;
	for (size_t i = 0; i < r->nlevels; i++)
		if (r->levels[i].kind != LEVEL_LITERAL && strlen(r->levels[i].text) == len &&
		    memcmp(r->levels[i].text, name, len) == 0)
			return true;
	return false;
}

static int check_template(const struct rule *r, char *err, size_t err_len)
{
	for (const char *p = r->tmpl; (p = strchr(p, '{')) != NULL; p++) {
		const char *close = strchr(p, '}');
		if (!close || !capture_named(r, p + 1, (size_t)(close - p - 1))) {
			snprintf(err, err_len, "template %s: {%.*s} is not a capture of the filter "
				 "(nor {topic})", r->tmpl, close ? (int)(close - p - 1) : 0, p + 1);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_rule(struct rule *r, char *text, char *err, size_t err_len)
{
	static const char *const formats[] = {"auto", "number", "json", "lp"};
	char *save = NULL, *filter = strtok_r(text, " \t", &save);
	char *tmpl = strtok_r(NULL, " \t", &save), *fmt = strtok_r(NULL, " \t", &save);
	int rc;

	if (!filter || !tmpl || strtok_r(NULL, " \t", &save)) {
		snprintf(err, err_len, "rule \"%.100s\": expected FILTER TEMPLATE [FORMAT]",
			 filter ? filter : "");
		return -EINVAL;
	}
	if ((rc = parse_filter(r, filter, err, err_len)) != 0)
		return rc;
	r->format = FMT_AUTO;
	if (fmt) {
		size_t i = 0;
		while (i < 4 && strcmp(fmt, formats[i]) != 0)
			i++;
		if (i == 4) {
			snprintf(err, err_len, "rule %s: format %s is not auto, number, json or lp",
				 filter, fmt);
			return -EINVAL;
		}
		r->format = (enum map_format)i;
	}
	if (!(r->tmpl = strdup(tmpl)))
		return -ENOMEM;
	return check_template(r, err, err_len);
}

int mqtt_map_parse(const char *text, struct mqtt_map **out, char *err, size_t err_len)
{
	struct mqtt_map *m = calloc(1, sizeof *m);
	char *copy = strdup(text ? text : ""), *save = NULL, *item;
	int rc = 0;

	*out = NULL;
	if (!m || !copy) {
		rc = -ENOMEM;
		goto out;
	}
	for (item = strtok_r(copy, ";", &save); item && rc == 0; item = strtok_r(NULL, ";", &save)) {
		item += strspn(item, " \t\n");
		if (!*item)
			continue;
		if (vec_grow(&m->rules, &m->cap, m->count, sizeof *m->rules) != 0) {
			rc = -ENOMEM;
			break;
		}
		memset(&m->rules[m->count], 0, sizeof m->rules[0]);
		rc = parse_rule(&m->rules[m->count], item, err, err_len);
		m->count++; /* freed with the map, parsed or not */
	}
out:
	free(copy);
	if (rc == 0)
		*out = m;
	else
		mqtt_map_free(m);
	return rc;
}

/* --- matching ------------------------------------------------------------- */

struct capture {
	const char *name;
	const char *value;
	size_t len;
	bool label;  /* a "+name" level */
};

struct match {
	struct capture caps[MAP_LEVELS_MAX];
	size_t ncaps;
};

static bool match_rule(const struct rule *r, const char *topic, size_t tlen, struct match *m)
{
	const char *p = topic, *end = topic + tlen;

	m->ncaps = 0;
	for (size_t i = 0; i < r->nlevels; i++) {
		const struct level *l = &r->levels[i];
		const char *slash;
		size_t len;
		if (l->kind == LEVEL_HASH) {
			/* "#" matches zero levels too: p is then one past the end. */
			if (*l->text)
				m->caps[m->ncaps++] = (struct capture){l->text, p <= end ? p : end,
								       p <= end ? (size_t)(end - p) : 0,
								       false};
			return true;
		}
		if (p > end)
			return false;
		slash = memchr(p, '/', (size_t)(end - p));
		len = slash ? (size_t)(slash - p) : (size_t)(end - p);
		if (l->kind == LEVEL_LITERAL && (strlen(l->text) != len || memcmp(l->text, p, len) != 0))
			return false;
		if (l->kind == LEVEL_PLUS && *l->text)
			m->caps[m->ncaps++] = (struct capture){l->text, p, len, true};
		p += len + 1; /* past the '/', or one past the end */
	}
	return p == end + 1;
}

/* The template with its captures in; the length, or SIZE_MAX if too long. */
static size_t render(const char *tmpl, const char *topic, size_t tlen, const struct match *m,
		     char *out)
{
	size_t n = 0;

	for (const char *p = tmpl; *p;) {
		const char *v = p;
		size_t len = 1;
		if (*p == '{') {
			const char *close = strchr(p, '}');
			size_t name_len = (size_t)(close - p - 1);
			v = topic;
			len = tlen;
			for (size_t i = 0; i < m->ncaps; i++)
				if (strlen(m->caps[i].name) == name_len &&
				    memcmp(m->caps[i].name, p + 1, name_len) == 0) {
					v = m->caps[i].value;
					len = m->caps[i].len;
				}
			p = close + 1;
		} else {
			p++;
		}
		if (len > MAP_NAME_MAX - n)
			return SIZE_MAX;
		memcpy(out + n, v, len);
		n += len;
	}
	out[n] = '\0';
	return n;
}

/* --- payloads ------------------------------------------------------------- */

struct target {
	const char *name;
	size_t name_len;
	struct tagname_label labels[MAP_LABELS_MAX];
	size_t nlabels;
	int64_t now_ns;
	struct ingest_batch *b;
	uint32_t line;
	struct ingest_report *rep;
	bool dry;    /* check the payload only: a message goes in whole or not at all */
};

static int add(struct target *t, const char *field, size_t field_len, const struct ingest_value *v,
	       int64_t ts, quality_t q)
{
	if (t->dry)
		return 0;
	return ingest_batch_add(t->b, t->name, t->name_len, field, field_len, t->labels, t->nlabels, v,
				ts, q, t->line, t->rep);
}

/* "81.5", "-3", "1e3", "true", "off": 1 when it reads as a value. */
static int number_text(const uint8_t *p, size_t len, struct ingest_value *v)
{
	static const char *const yes[] = {"true", "on"}, *const no[] = {"false", "off"};
	char buf[64], *end;

	while (len && (p[len - 1] == ' ' || p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == '\t'))
		len--;
	while (len && (*p == ' ' || *p == '\t'))
		p++, len--;
	if (len == 0 || len >= sizeof buf)
		return 0;
	memcpy(buf, p, len);
	buf[len] = '\0';
	for (int i = 0; i < 2; i++)
		if (strcasecmp(buf, yes[i]) == 0 || strcasecmp(buf, no[i]) == 0) {
			*v = (struct ingest_value){.type = VALUE_BOOL, .i64 = strcasecmp(buf, yes[i]) == 0};
			return 1;
		}
	errno = 0;
	if (!strpbrk(buf, ".eEnNiI")) {
		long long i = strtoll(buf, &end, 10);
		if (!*end && !errno) {
			*v = (struct ingest_value){.type = VALUE_INT64, .i64 = i};
			return 1;
		}
	}
	errno = 0;
	double d = strtod(buf, &end);
	if (*end || errno == ERANGE || !isfinite(d))
		return 0;
	*v = (struct ingest_value){.type = VALUE_FLOAT64, .f64 = d};
	return 1;
}

/* A JSON time: RFC 3339 text, or an epoch number in the unit its size says. */
static int json_ts(const json_t *t, int64_t now_ns, int64_t *ns)
{
	double v, mag;

	if (!t) {
		*ns = now_ns;
		return 0;
	}
	if (json_is_string(t))
		return timefmt_parse_rfc3339(json_string_value(t), json_string_length(t), ns);
	if (!json_is_number(t))
		return -1;
	if (json_is_integer(t)) {
		json_int_t i = json_integer_value(t);
		uint64_t a = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
		int64_t unit;
		unit = a < 100000000000ULL ? 1000000000 : a < 100000000000000ULL ? 1000000
		       : a < 100000000000000000ULL ? 1000 : 1;
		if (i > INT64_MAX / unit || i < INT64_MIN / unit)
			return -1;
		*ns = (int64_t)i * unit;
		return 0;
	}
	v = json_real_value(t);
	mag = fabs(v);
	v *= mag < 1e11 ? 1e9 : mag < 1e14 ? 1e6 : mag < 1e17 ? 1e3 : 1;
	if (!(v > -9.2e18 && v < 9.2e18))
		return -1;
	*ns = (int64_t)v;
	return 0;
}

static int json_val(const json_t *j, struct ingest_value *v)
{
	if (json_is_integer(j))
		*v = (struct ingest_value){.type = VALUE_INT64, .i64 = json_integer_value(j)};
	else if (json_is_real(j))
		*v = (struct ingest_value){.type = VALUE_FLOAT64, .f64 = json_real_value(j)};
	else if (json_is_boolean(j))
		*v = (struct ingest_value){.type = VALUE_BOOL, .i64 = json_is_true(j)};
	else if (json_is_string(j))
		*v = (struct ingest_value){.type = VALUE_STRING, .str = json_string_value(j),
					   .str_len = json_string_length(j)};
	else
		return -1;
	return 0;
}

static const json_t *get2(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	return v ? v : json_object_get(o, b);
}

/* One JSON item: a value, {"value", "ts", "quality"}, or field -> value. */
static int json_item(struct target *t, const json_t *j, const char **why)
{
	const json_t *val, *ts, *q;
	struct ingest_value v;
	int64_t ns;
	json_int_t qv = 0;
	const char *key;
	json_t *member;

	if (!json_is_object(j)) {
		if (json_val(j, &v) != 0)
			return *why = "a JSON value must be a number, boolean or string", 1;
		return add(t, NULL, 0, &v, t->now_ns, QUALITY_GOOD);
	}
	ts = get2(j, "ts", "t");
	if (!ts)
		ts = json_object_get(j, "timestamp");
	q = get2(j, "quality", "q");
	if (json_ts(ts, t->now_ns, &ns) != 0)
		return *why = "ts: not RFC 3339 text nor an epoch number", 1;
	if (q && (!json_is_integer(q) || (qv = json_integer_value(q)) < 0 || qv > 0xFFFF))
		return *why = "quality: an OPC UA status code 0..65535 expected", 1;
	if ((val = get2(j, "value", "v")) != NULL) {
		if (json_val(val, &v) != 0)
			return *why = "value: a number, boolean or string expected", 1;
		return add(t, NULL, 0, &v, ns, (quality_t)qv);
	}
	json_object_foreach((json_t *)j, key, member) {
		int rc;
		if (member == ts || member == q)
			continue;
		if (json_val(member, &v) != 0)
			return *why = "an object's fields must be numbers, booleans or strings", 1;
		if ((rc = add(t, key, strlen(key), &v, ns, (quality_t)qv)) != 0)
			return rc;
	}
	return 0;
}

static int json_payload(struct target *t, const uint8_t *p, size_t len, const char **why)
{
	json_error_t err;
	json_t *doc = json_loadb((const char *)p, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	int rc = 0;

	if (!doc)
		return *why = "not valid JSON", 1;
	if (json_is_array(doc)) {
		size_t i;
		json_t *item;
		json_array_foreach(doc, i, item) {
			if (json_is_array(item)) {
				/* [t, v] or [t, v, q] */
				json_t *pair = json_pack("{s:O,s:O,s:O*}", "ts", json_array_get(item, 0),
							 "value", json_array_get(item, 1), "quality",
							 json_array_get(item, 2));
				rc = pair ? json_item(t, pair, why) : (*why = "[t, v] pairs expected", 1);
				json_decref(pair);
			} else {
				rc = json_item(t, item, why);
			}
			if (rc != 0)
				break;
		}
	} else {
		rc = json_item(t, doc, why);
	}
	json_decref(doc);
	return rc;
}

int mqtt_map_message(const struct mqtt_map *m, const char *topic, size_t topic_len,
		     const uint8_t *payload, size_t len, int64_t now_ns, struct ingest_batch *b,
		     uint32_t line, struct ingest_report *rep, char *why_out, size_t why_len)
{
	static const struct rule fallback = {.tmpl = (char *)"{topic}", .format = FMT_AUTO};
	const struct rule *r = &fallback;
	struct target t = {.now_ns = now_ns, .b = b, .line = line, .rep = rep};
	struct match mt = {.ncaps = 0};
	char name[MAP_NAME_MAX + 1];
	const char *why = NULL;
	enum map_format fmt;
	struct ingest_value v;
	int rc;

	for (size_t i = 0; m && i < m->count; i++)
		if (match_rule(&m->rules[i], topic, topic_len, &mt)) {
			r = &m->rules[i];
			break;
		}
	if (r == &fallback)
		mt.ncaps = 0;
	t.name = name;
	t.name_len = render(r->tmpl, topic, topic_len, &mt, name);
	for (size_t i = 0; i < mt.ncaps && t.nlabels < MAP_LABELS_MAX; i++)
		if (mt.caps[i].label) {
			if (mt.caps[i].len == 0)
				why = "an empty topic level cannot be a label value";
			t.labels[t.nlabels++] = (struct tagname_label){mt.caps[i].name,
								       strlen(mt.caps[i].name),
								       mt.caps[i].value, mt.caps[i].len};
		}
	fmt = r->format;
	if (fmt == FMT_AUTO)
		fmt = len && (payload[0] == '{' || payload[0] == '[' || payload[0] == '"') ? FMT_JSON
		      : number_text(payload, len, &v) ? FMT_NUMBER
							: FMT_LP;
	if (len == 0)
		why = "empty payload";
	else if (t.name_len == SIZE_MAX)
		why = "tag name longer than 1024 bytes";
	else if (!why && fmt == FMT_NUMBER)
		why = number_text(payload, len, &v) ? NULL : "not a number or boolean";
	if (why) {
		snprintf(why_out, why_len, "%s", why);
		return 1;
	}
	switch (fmt) {
	case FMT_NUMBER: rc = add(&t, NULL, 0, &v, now_ns, QUALITY_GOOD); break;
	case FMT_JSON:
		t.dry = true;
		rc = json_payload(&t, payload, len, &why);
		t.dry = false;
		if (rc == 0)
			rc = json_payload(&t, payload, len, &why);
		break;
	case FMT_LP: {
		size_t bad = rep->bad_lines;
		rc = ingest_batch_add_lp(b, (const char *)payload, len, LP_PRECISION_NS, now_ns, line, rep);
		if (rc == 0 && rep->bad_lines > bad)
			why = "not line protocol";
		break;
	}
	default: rc = 0; break;
	}
	if (rc == 1 || (rc == 0 && why)) {
		snprintf(why_out, why_len, "%s", why);
		return 1;
	}
	return rc;
}
