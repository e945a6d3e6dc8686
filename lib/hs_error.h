/* hs_error.h: historian's error codes and hs_strerror().
 * Every module returns int: 0 on success, -errno for system errors, or one of the HS_E* codes below. */
#ifndef HS_ERROR_H
#define HS_ERROR_H

/* Project codes sit below -10000 so they never collide with -errno. */
enum {
	HS_EINVAL_CONFIG = -10001, /* configuration value or syntax is wrong */
	HS_ECORRUPT = -10002,      /* stored bytes fail a check (CRC, magic, bounds) */
	HS_EPROTO = -10003,        /* a peer broke the protocol */
	HS_ELOCKED = -10004,       /* the data directory is held by another process */
	HS_ETYPE = -10005,         /* a sample's value type differs from its tag's */
	HS_EADDR = -10006,         /* an address or port could not be parsed */
};

/* Text for any code this project returns: HS_E* or -errno. The pointer is to
 * static storage, valid forever, safe from every thread. */
const char *hs_strerror(int code);

#endif
