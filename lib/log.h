/* log.h: historian's logger: one line per message, level and UTC timestamp, to stderr or a file.
 * Owns the log output (stderr, or a file that log_reopen() reopens on SIGHUP). */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdbool.h>

enum log_level {
	HS_LOG_ERROR = 0,
	HS_LOG_WARN = 1,
	HS_LOG_INFO = 2,
	HS_LOG_DEBUG = 3,
};

/* Parse "error", "warn" ("warning"), "info" or "debug", in any case.
 * Returns 0 or -EINVAL. */
int log_level_parse(const char *text, enum log_level *out) __attribute__((warn_unused_result));
const char *log_level_name(enum log_level level);

/* Open the output. path NULL or "" means stderr: when stderr is connected to
 * journald (JOURNAL_STREAM names its device and inode) lines carry a "<N>"
 * syslog priority prefix and no timestamp, since the journal adds its own.
 * Otherwise every line is "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL module: message".
 * A file is opened O_APPEND|O_CREAT, mode 0640. Returns 0 or -errno; on
 * failure the previous output stays in use. Call from one thread at a time
 * with log_reopen() and log_close(); log_msg() may run concurrently. */
int log_open(const char *path) __attribute__((warn_unused_result));

/* Reopen the file given to log_open() (after logrotate moved it). A no-op for
 * stderr. Returns 0 or -errno; on failure logging goes on to the old file. */
int log_reopen(void) __attribute__((warn_unused_result));

/* True while logging to a file (so SIGHUP has something to reopen). */
bool log_to_file(void);

/* Close a log file and go back to stderr. */
void log_close(void);

/* Messages above this level are dropped. Default HS_LOG_INFO. Any thread. */
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* Write one line. module is a short subsystem name ("http", "wal"). Control
 * characters in the message are written as \xNN so untrusted text (topics,
 * tag names) cannot forge lines. Longer than 4 KiB is cut with "...".
 * Thread-safe; one write(2) per line. */
void log_msg(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(module, ...) log_msg(HS_LOG_ERROR, module, __VA_ARGS__)
#define log_warn(module, ...) log_msg(HS_LOG_WARN, module, __VA_ARGS__)
#define log_info(module, ...) log_msg(HS_LOG_INFO, module, __VA_ARGS__)
#define log_debug(module, ...) log_msg(HS_LOG_DEBUG, module, __VA_ARGS__)

#endif
