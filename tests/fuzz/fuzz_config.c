/* fuzz_config.c: libFuzzer target for the configuration reader (config_parse_text, config_validate, config_print).
 * A configuration file is operator input; no byte sequence may crash the reader or leak. */
#include <stdint.h>
#include <stdio.h>

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs_config cfg;
	char err[CONFIG_ERROR_MAX];
	FILE *sink;

	if (config_init(&cfg) != 0)
		return 0;
	if (config_parse_text(&cfg, "fuzz.conf", (const char *)data, size, err) == 0 &&
	    config_validate(&cfg, err) == 0) {
		sink = fopen("/dev/null", "w");
		if (sink) {
			config_print(&cfg, sink);
			fclose(sink);
		}
	}
	config_free(&cfg);
	return 0;
}
