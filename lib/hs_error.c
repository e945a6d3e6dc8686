/* hs_error.c: text for historian's error codes.
 * Thread-safe: returns only static strings (glibc's strerrordesc_np, unlike strerror, never writes a buffer). */
#define _GNU_SOURCE
#include <string.h>

#include "lib/hs_error.h"

const char *hs_strerror(int code)
{
	switch (code) {
	case 0: return "success";
	case HS_EINVAL_CONFIG: return "invalid configuration";
	case HS_ECORRUPT: return "stored data is corrupt";
	case HS_EPROTO: return "protocol error";
	case HS_ELOCKED: return "data directory is locked by another process";
	case HS_ETYPE: return "value type does not match the tag's type";
	case HS_EADDR: return "bad address";
	default: break;
	}
	if (code < 0 && code > -4096) {
		const char *text = strerrordesc_np(-code);
		return text ? text : "unknown system error";
	}
	return "unknown error";
}
