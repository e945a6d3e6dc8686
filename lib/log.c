/* log.c: the logger behind log.h.
 * Concurrency: the level is an atomic; the output (fd, path, journald mode) is guarded by a mutex
 * that is held across the single write(2) of a line, so a reopen never races a writer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define LOG_LINE_MAX 4096

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
/* syslog priorities for journald's "<N>" prefix: err, warning, info, debug. */
static const int level_syslog[] = {3, 4, 6, 7};

static _Atomic int current_level = HS_LOG_INFO;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int out_fd = STDERR_FILENO;
static char *out_path;     /* NULL while logging to stderr */
static bool out_journal;   /* stderr is a journald stream */

int log_level_parse(const char *text, enum log_level *out)
{
	static const struct { const char *name; enum log_level level; } names[] = {
		{"error", HS_LOG_ERROR}, {"warn", HS_LOG_WARN}, {"warning", HS_LOG_WARN},
		{"info", HS_LOG_INFO}, {"debug", HS_LOG_DEBUG},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcasecmp(text, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	static const char *const lower[] = {"error", "warn", "info", "debug"};
	if ((int)level < 0 || level > HS_LOG_DEBUG)
		return "?";
	return lower[level];
}

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

bool log_enabled(enum log_level level)
{
	return (int)level <= atomic_load(&current_level);
}

/* journald sets JOURNAL_STREAM=dev:ino for the stream it hands a service;
 * it only applies while our stderr is still that very stream. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

int log_open(const char *path)
{
	int fd = STDERR_FILENO;
	char *copy = NULL;

	if (path && path[0]) {
		fd = open_file(path);
		if (fd < 0)
			return fd;
		copy = strdup(path);
		if (!copy) {
			close(fd);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&out_lock);
	if (out_fd != STDERR_FILENO)
		close(out_fd);
	free(out_path);
	out_fd = fd;
	out_path = copy;
	out_journal = copy == NULL && stderr_is_journal();
	pthread_mutex_unlock(&out_lock);
	return 0;
}

int log_reopen(void)
{
	int rc = 0;

	pthread_mutex_lock(&out_lock);
	if (out_path) {
		int fd = open_file(out_path);
		if (fd < 0) {
			rc = fd;
		} else {
			close(out_fd);
			out_fd = fd;
		}
	}
	pthread_mutex_unlock(&out_lock);
	return rc;
}

bool log_to_file(void)
{
	bool to_file;

	pthread_mutex_lock(&out_lock);
	to_file = out_path != NULL;
	pthread_mutex_unlock(&out_lock);
	return to_file;
}

void log_close(void)
{
	pthread_mutex_lock(&out_lock);
	if (out_fd != STDERR_FILENO)
		close(out_fd);
	free(out_path);
	out_path = NULL;
	out_fd = STDERR_FILENO;
	out_journal = stderr_is_journal();
	pthread_mutex_unlock(&out_lock);
}

/* Copy src into dst, writing control bytes as \xNN; returns bytes used and
 * sets *cut when src did not fit. */
static size_t escape_into(char *dst, size_t cap, const char *src, bool *cut)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *src; src++) {
		unsigned char c = (unsigned char)*src;
		if (c < 0x20 || c == 0x7f) {
			if (n + 4 > cap) {
				*cut = true;
				break;
			}
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		} else {
			if (n + 1 > cap) {
				*cut = true;
				break;
			}
			dst[n++] = (char)c;
		}
	}
	return n;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere left to report a failing log */
		}
		buf += w;
		len -= (size_t)w;
	}
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX + 1];
	char line[LOG_LINE_MAX + 128];
	size_t n = 0, room;
	bool cut;
	int written;
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	written = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (written < 0)
		return;

	pthread_mutex_lock(&out_lock);
	if (out_journal) {
		n = (size_t)snprintf(line, sizeof line, "<%d>%s: ", level_syslog[level], module);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s %s: ",
				      ts.tv_nsec / 1000000L, level_names[level], module);
	}
	room = sizeof line - n - 5; /* "...\n" and a spare byte */
	cut = (size_t)written >= sizeof msg;
	n += escape_into(line + n, room, msg, &cut);
	if (cut) {
		memcpy(line + n, "...", 3);
		n += 3;
	}
	line[n++] = '\n';
	write_all(out_fd, line, n);
	pthread_mutex_unlock(&out_lock);
}
