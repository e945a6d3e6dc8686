/* tagname.h: the one rule that turns a line-protocol measurement, label set and field into a canonical tag name.
 * Pure; used by every ingest path (HTTP, UDP, MQTT) so a sample names the same tag whichever way it arrives. */
#ifndef HS_TAGNAME_H
#define HS_TAGNAME_H

#include <stddef.h>

/*
 * THE RULE (documented in docs/INGEST.md):
 *
 *   name = measurement [ "." field ] { "," key "=" value }
 *
 * - the field part is left out when the field is called "value", so
 *   "pump7.speed value=3" names tag "pump7.speed";
 * - labels follow, sorted by key (bytewise), each as ",key=value";
 * - in a label key or value, the characters "," "=" and "\" are written
 *   with a backslash before them, so the name splits back unambiguously;
 * - measurement and field are taken as they are (after line-protocol
 *   unescaping).
 *
 *   boiler,site=north,unit=3 temp=81.5   ->  boiler.temp,site=north,unit=3
 *   pump7.speed value=3                  ->  pump7.speed
 *   tank,area=a\,b level=2               ->  tank.level,area=a\,b
 */

struct tagname_label {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
};

/* Sort labels by key in place (insertion sort: label sets are small). */
void tagname_sort_labels(struct tagname_label *labels, size_t n);

/* Write the canonical name into dst (cap bytes, NUL-terminated when it
 * fits). labels must be sorted. Returns the name's length, which may
 * exceed cap - 1 (then dst holds a prefix and the caller refuses it). */
size_t tagname_render(char *dst, size_t cap, const char *measurement, size_t measurement_len,
		      const char *field, size_t field_len, const struct tagname_label *labels,
		      size_t nlabels);

/* The same rule in two steps, for a line with several fields: the label
 * part (",k=v..." of sorted labels) once, then each field's name from it.
 * Lengths as in tagname_render. */
size_t tagname_render_labels(char *dst, size_t cap, const struct tagname_label *labels,
			     size_t nlabels);
size_t tagname_render_field(char *dst, size_t cap, const char *measurement, size_t measurement_len,
			    const char *field, size_t field_len, const char *label_part,
			    size_t label_part_len);

#endif
