/* check_log.c: unit tests for lib/log.h (levels, line format, escaping, truncation, reopen, journald, threads).
 * Output goes to files in a mkdtemp directory, or to a temp file dup2'd onto fd 2; teardown puts fd 2 back. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define ck_assert_str_contains(s, sub)                                                     \
	do {                                                                               \
		const char *s_ = (s), *sub_ = (sub);                                       \
		ck_assert_msg(strstr(s_, sub_) != NULL,                                    \
			      "Assertion '%s contains %s' failed: \"%s\" does not contain \"%s\"", \
			      #s, #sub, s_, sub_);                                         \
	} while (0)

#define LINE_RE                                                                            \
	"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "              \
	"(ERROR|WARN|INFO|DEBUG) [a-z0-9_]+: "

static char tmp_dir[PATH_MAX];
static char log_path[PATH_MAX];
static int saved_stderr = -1;
static mode_t saved_umask;

static void tmp_file(char *out, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", tmp_dir, name);
	ck_assert_int_lt(n, PATH_MAX);
}

/* The directory lives for a whole TCase (unchecked fixture, so it goes
 * even when a forked test dies); each test starts with it empty. */
static void dir_create(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp_dir, sizeof tmp_dir, "%s/check_log.XXXXXX", base && base[0] ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
	tmp_file(log_path, "historian.log");
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	return ftw->level == 0 ? 0 : remove(path);
}

static void dir_remove(void)
{
	nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(tmp_dir);
}

static void setup(void)
{
	nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	saved_umask = umask(022);
}

static void restore_stderr(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

/* Undo everything a test may have changed, so CK_FORK=no runs stay sane. */
static void teardown(void)
{
	unsetenv("JOURNAL_STREAM");
	restore_stderr();
	log_close();
	log_set_level(HS_LOG_INFO);
	umask(saved_umask);
}

/* Point fd 2 at a fresh file at path; restore_stderr() undoes it. */
static void capture_stderr(const char *path)
{
	int fd;

	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

/* The whole file as a NUL-terminated string; the caller frees it. */
static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t got;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		got = read(fd, buf + len, cap - len - 1);
		ck_assert_int_ge(got, 0);
		if (got == 0)
			break;
		len += (size_t)got;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* Line without its timestamp: "LEVEL module: message" (up to the newline). */
static const char *after_timestamp(const char *line)
{
	const char *sp = strchr(line, ' ');

	ck_assert_ptr_nonnull(sp);
	return sp + 1;
}

/* The message part of a file's only line, newline included. */
static const char *only_body(const char *text, const char *module)
{
	char marker[64];
	const char *body;

	ck_assert_uint_eq(count_lines(text), 1);
	snprintf(marker, sizeof marker, " %s: ", module);
	body = strstr(text, marker);
	ck_assert_ptr_nonnull(body);
	return body + strlen(marker);
}

/* ---- levels ------------------------------------------------------------- */

START_TEST(test_level_parse)
{
	static const struct {
		const char *text;
		enum log_level level;
	} ok[] = {
		{"error", HS_LOG_ERROR}, {"warn", HS_LOG_WARN},   {"warning", HS_LOG_WARN},
		{"info", HS_LOG_INFO},   {"debug", HS_LOG_DEBUG},
		/* any case */
		{"ERROR", HS_LOG_ERROR}, {"Warn", HS_LOG_WARN},   {"WARNING", HS_LOG_WARN},
		{"iNfO", HS_LOG_INFO},   {"DEBUG", HS_LOG_DEBUG},
	};
	static const char *const bad[] = {"", "verbose", "err", "information", "info ", "debugx"};
	enum log_level level;

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		level = (enum log_level)-1;
		ck_assert_int_eq(log_level_parse(ok[i].text, &level), 0);
		ck_assert_int_eq(level, ok[i].level);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(log_level_parse(bad[i], &level) == -EINVAL, "\"%s\" accepted", bad[i]);
}
END_TEST

START_TEST(test_level_name)
{
	enum log_level back;

	ck_assert_str_eq(log_level_name(HS_LOG_ERROR), "error");
	ck_assert_str_eq(log_level_name(HS_LOG_WARN), "warn");
	ck_assert_str_eq(log_level_name(HS_LOG_INFO), "info");
	ck_assert_str_eq(log_level_name(HS_LOG_DEBUG), "debug");
	ck_assert_str_eq(log_level_name((enum log_level)4), "?");
	ck_assert_str_eq(log_level_name((enum log_level)-1), "?");
	for (int l = HS_LOG_ERROR; l <= HS_LOG_DEBUG; l++) {
		ck_assert_int_eq(log_level_parse(log_level_name((enum log_level)l), &back), 0);
		ck_assert_int_eq(back, l);
	}
}
END_TEST

START_TEST(test_default_level)
{
	ck_assert(log_enabled(HS_LOG_ERROR));
	ck_assert(log_enabled(HS_LOG_WARN));
	ck_assert(log_enabled(HS_LOG_INFO));
	ck_assert(!log_enabled(HS_LOG_DEBUG));
}
END_TEST

START_TEST(test_filtering)
{
	static const char *const want[] = {
		"ERROR t: e1", "WARN t: w1",			       /* warn */
		"ERROR t: e2", "WARN t: w2", "INFO t: i2", "DEBUG t: d2", /* debug */
		"ERROR t: e3",					       /* error */
		"ERROR t: e4", "WARN t: w4", "INFO t: i4",		       /* info */
	};
	static const enum log_level levels[] = {HS_LOG_WARN, HS_LOG_DEBUG, HS_LOG_ERROR,
						HS_LOG_INFO};
	char *text, *line, *save = NULL;
	size_t n = 0;

	ck_assert_int_eq(log_open(log_path), 0);
	for (int round = 0; round < 4; round++) {
		log_set_level(levels[round]);
		for (int l = HS_LOG_ERROR; l <= HS_LOG_DEBUG; l++)
			ck_assert_int_eq(log_enabled((enum log_level)l), l <= (int)levels[round]);
		log_error("t", "e%d", round + 1);
		log_warn("t", "w%d", round + 1);
		log_info("t", "i%d", round + 1);
		log_debug("t", "d%d", round + 1);
	}
	text = slurp(log_path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		ck_assert_uint_lt(n, sizeof want / sizeof want[0]);
		ck_assert_str_eq(after_timestamp(line), want[n]);
		n++;
	}
	ck_assert_uint_eq(n, sizeof want / sizeof want[0]);
	free(text);
}
END_TEST

/* ---- line format -------------------------------------------------------- */

START_TEST(test_line_format)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	regex_t re;
	char *text, *line, *save = NULL;
	time_t before, after;
	int l = 0;

	ck_assert_int_eq(regcomp(&re, LINE_RE "message [0-3]$", REG_EXTENDED | REG_NOSUB), 0);
	log_set_level(HS_LOG_DEBUG);
	ck_assert_int_eq(log_open(log_path), 0);
	before = time(NULL);
	for (int i = HS_LOG_ERROR; i <= HS_LOG_DEBUG; i++)
		log_msg((enum log_level)i, "wal", "message %d", i);
	after = time(NULL);
	text = slurp(log_path);
	ck_assert_uint_eq(count_lines(text), 4);
	ck_assert_int_eq(text[strlen(text) - 1], '\n');
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), l++) {
		struct tm tm;
		int ms = -1, msg = -1;
		char level[8];

		ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "line \"%s\" has the wrong format",
			      line);
		memset(&tm, 0, sizeof tm);
		ck_assert_int_eq(sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %7s wal: message %d",
					&tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
					&tm.tm_sec, &ms, level, &msg),
				 9);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		/* UTC and now: within a second either side of the calls. */
		time_t t = timegm(&tm);
		ck_assert_int_ge(t, before - 1);
		ck_assert_int_le(t, after + 1);
		ck_assert_int_ge(ms, 0);
		ck_assert_int_le(ms, 999);
		ck_assert_str_eq(level, names[l]);
		ck_assert_int_eq(msg, l);
	}
	ck_assert_int_eq(l, 4);
	regfree(&re);
	free(text);
}
END_TEST

START_TEST(test_escapes_control_chars)
{
	char *text;

	ck_assert_int_eq(log_open(log_path), 0);
	log_warn("mqtt", "topic=%s", "a\nb\x1b[31mc\rd\te\x7f" "f\x01\xC3\xA9");
	text = slurp(log_path);
	ck_assert_str_eq(only_body(text, "mqtt"),
			 "topic=a\\x0ab\\x1b[31mc\\x0dd\\x09e\\x7ff\\x01\xC3\xA9\n");
	free(text);
}
END_TEST

START_TEST(test_cannot_forge_lines)
{
	char *text;

	ck_assert_int_eq(log_open(log_path), 0);
	log_info("http", "GET %s", "/x\n2030-01-01T00:00:00.000Z ERROR auth: forged\r\n");
	text = slurp(log_path);
	ck_assert_uint_eq(count_lines(text), 1);
	ck_assert_str_contains(text, "/x\\x0a2030-01-01T00:00:00.000Z ERROR auth: forged\\x0d\\x0a\n");
	free(text);
}
END_TEST

/* ---- truncation --------------------------------------------------------- */

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_long_message_cut)
{
	char *big = repeat('a', 5000), *text;
	const char *body;
	size_t kept;

	ck_assert_int_eq(log_open(log_path), 0);
	log_info("m", "%s", big);
	text = slurp(log_path);
	body = only_body(text, "m");
	ck_assert_uint_ge(strlen(body), 4);
	ck_assert_str_eq(body + strlen(body) - 4, "...\n");
	kept = strspn(body, "a");
	ck_assert_uint_eq(kept, strlen(body) - 4);
	ck_assert_uint_ge(kept, 4000);
	ck_assert_uint_le(kept, 4096);
	free(text);
	free(big);
}
END_TEST

/* "Longer than 4 KiB is cut": up to 4096 bytes arrive whole. */
START_TEST(test_4k_message_whole)
{
	static const size_t sizes[] = {4095, 4096};

	ck_assert_int_eq(log_open(log_path), 0);
	for (size_t i = 0; i < 2; i++) {
		char *msg = repeat('b', sizes[i]), *text, tail[16];
		ck_assert_int_eq(truncate(log_path, 0), 0);
		log_info("m", "%s", msg);
		free(msg);
		text = slurp(log_path);
		const char *body = only_body(text, "m");
		size_t kept = strspn(body, "b");
		snprintf(tail, sizeof tail, "%s", body + kept);
		free(text);
		ck_assert_msg(kept == sizes[i] && strcmp(tail, "\n") == 0,
			      "a %zu-byte message kept %zu bytes, then \"%s\"", sizes[i], kept, tail);
	}
}
END_TEST

/* Escapes grow the text fourfold; a cut never splits one. */
START_TEST(test_cut_between_escapes)
{
	char *flood = repeat('\x01', 3000), *text;
	const char *body;
	size_t len;

	ck_assert_int_eq(log_open(log_path), 0);
	log_error("m", "%s", flood);
	text = slurp(log_path);
	body = only_body(text, "m");
	len = strlen(body);
	ck_assert_uint_ge(len, 4);
	ck_assert_str_eq(body + len - 4, "...\n");
	ck_assert_uint_eq((len - 4) % 4, 0);
	for (size_t i = 0; i + 4 <= len - 4; i += 4)
		ck_assert_msg(memcmp(body + i, "\\x01", 4) == 0, "escape %zu broken: \"%.4s\"",
			      i / 4, body + i);
	ck_assert_uint_le(strlen(text), 4096 + 128);
	free(text);
	free(flood);
}
END_TEST

/* ---- files and logrotate ------------------------------------------------ */

START_TEST(test_file_created_and_appended)
{
	char *text;
	struct stat st;
	int fd = open(log_path, O_CREAT | O_WRONLY, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "old line\n", 9), 9);
	close(fd);
	ck_assert_int_eq(log_open(log_path), 0);
	log_info("t", "new line");
	text = slurp(log_path);
	ck_assert_uint_eq(count_lines(text), 2);
	ck_assert_int_eq(strncmp(text, "old line\n", 9), 0);
	ck_assert_str_contains(text + 9, "INFO t: new line\n");
	free(text);

	/* A file log_open creates gets mode 0640. */
	char fresh[PATH_MAX];
	tmp_file(fresh, "fresh.log");
	ck_assert_int_eq(log_open(fresh), 0);
	ck_assert_int_eq(stat(fresh, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
}
END_TEST

START_TEST(test_open_failure_keeps_output)
{
	char bad[PATH_MAX], *text;

	ck_assert_int_eq(log_open(log_path), 0);
	tmp_file(bad, "no/such/dir/x.log");
	ck_assert_int_eq(log_open(bad), -ENOENT);
	log_info("t", "still here");
	text = slurp(log_path);
	ck_assert_uint_eq(count_lines(text), 1);
	ck_assert_str_contains(text, "INFO t: still here\n");
	free(text);
}
END_TEST

START_TEST(test_reopen_after_rename)
{
	char rotated[PATH_MAX], *old_text, *new_text;
	struct stat st;

	tmp_file(rotated, "historian.log.1");
	ck_assert_int_eq(log_open(log_path), 0);
	log_info("t", "before");
	ck_assert_int_eq(rename(log_path, rotated), 0);
	log_info("t", "moved");
	ck_assert_int_eq(log_reopen(), 0);
	log_info("t", "after");

	old_text = slurp(rotated);
	ck_assert_uint_eq(count_lines(old_text), 2);
	ck_assert_str_contains(old_text, "INFO t: before\n");
	ck_assert_str_contains(old_text, "INFO t: moved\n");
	new_text = slurp(log_path);
	ck_assert_uint_eq(count_lines(new_text), 1);
	ck_assert_str_contains(new_text, "INFO t: after\n");
	ck_assert_int_eq(stat(log_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	free(old_text);
	free(new_text);
}
END_TEST

START_TEST(test_reopen_failure_keeps_old_file)
{
	char dir[PATH_MAX], path[PATH_MAX], rotated[PATH_MAX], *text;

	tmp_file(dir, "sub");
	tmp_file(path, "sub/h.log");
	tmp_file(rotated, "h.log.1");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(log_open(path), 0);
	ck_assert_int_eq(rename(path, rotated), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_int_eq(log_reopen(), -ENOENT);
	log_info("t", "kept");
	text = slurp(rotated);
	ck_assert_str_contains(text, "INFO t: kept\n");
	free(text);
}
END_TEST

START_TEST(test_stderr_output)
{
	char cap[PATH_MAX], *text, *file_text;

	tmp_file(cap, "stderr.txt");
	capture_stderr(cap);
	ck_assert_int_eq(log_reopen(), 0); /* a no-op on stderr */
	log_info("t", "one");
	ck_assert_int_eq(log_open(""), 0);
	log_info("t", "two");
	ck_assert_int_eq(log_open(log_path), 0);
	log_info("t", "three");
	log_close();
	log_info("t", "four");
	restore_stderr();

	text = slurp(cap);
	ck_assert_uint_eq(count_lines(text), 3);
	ck_assert_str_contains(text, "INFO t: one\n");
	ck_assert_str_contains(text, "INFO t: two\n");
	ck_assert_str_contains(text, "INFO t: four\n");
	file_text = slurp(log_path);
	ck_assert_uint_eq(count_lines(file_text), 1);
	ck_assert_str_contains(file_text, "INFO t: three\n");
	free(text);
	free(file_text);
}
END_TEST

/* ---- journald ----------------------------------------------------------- */

static void set_journal_stream(int ino_delta)
{
	struct stat st;
	char value[64];

	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(value, sizeof value, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + (unsigned long long)ino_delta);
	ck_assert_int_eq(setenv("JOURNAL_STREAM", value, 1), 0);
}

START_TEST(test_journald_prefix)
{
	char cap[PATH_MAX], *text;

	tmp_file(cap, "journal.txt");
	capture_stderr(cap);
	set_journal_stream(0);
	log_set_level(HS_LOG_DEBUG);
	ck_assert_int_eq(log_open(NULL), 0);
	log_info("module", "message");
	log_error("module", "boom");
	log_warn("wal", "slow fsync");
	log_debug("http", "GET /x\n");
	restore_stderr();

	text = slurp(cap);
	ck_assert_str_eq(text, "<6>module: message\n"
			       "<3>module: boom\n"
			       "<4>wal: slow fsync\n"
			       "<7>http: GET /x\\x0a\n");
	free(text);
}
END_TEST

START_TEST(test_journald_other_stream)
{
	char cap[PATH_MAX], *text;
	regex_t re;

	ck_assert_int_eq(regcomp(&re, LINE_RE "not journal\n$", REG_EXTENDED | REG_NOSUB), 0);
	tmp_file(cap, "journal.txt");
	capture_stderr(cap);
	/* JOURNAL_STREAM names another inode: stderr was redirected elsewhere. */
	set_journal_stream(1);
	ck_assert_int_eq(log_open(NULL), 0);
	log_info("module", "not journal");
	restore_stderr();
	text = slurp(cap);
	ck_assert_msg(regexec(&re, text, 0, NULL, 0) == 0, "\"%s\" is not a timestamped line", text);
	free(text);

	/* A log file is never journal-formatted, even under journald. */
	capture_stderr(cap);
	set_journal_stream(0);
	ck_assert_int_eq(log_open(log_path), 0);
	log_info("module", "not journal");
	restore_stderr();
	text = slurp(log_path);
	ck_assert_msg(regexec(&re, text, 0, NULL, 0) == 0, "\"%s\" is not a timestamped line", text);
	free(text);
	regfree(&re);
}
END_TEST

/* ---- threads ------------------------------------------------------------ */

enum { THREADS = 4, LINES_PER_THREAD = 1000 };

#define PAYLOAD                                                                            \
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"                   \
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

static void *log_thread(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_info("thr", "t%d n%04d %s", id, i, PAYLOAD);
	return NULL;
}

START_TEST(test_concurrent_lines)
{
	pthread_t th[THREADS];
	static unsigned char seen[THREADS][LINES_PER_THREAD];
	char *text, *line, *save = NULL;
	size_t lines = 0;
	regex_t re;

	memset(seen, 0, sizeof seen);
	ck_assert_int_eq(regcomp(&re, LINE_RE "t[0-3] n[0-9]{4} " PAYLOAD "$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	ck_assert_int_eq(log_open(log_path), 0);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, log_thread, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);

	text = slurp(log_path);
	ck_assert_uint_eq(count_lines(text), THREADS * LINES_PER_THREAD);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int id = -1, n = -1;
		ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "mangled line \"%s\"", line);
		const char *body = strstr(line, "thr: ");
		ck_assert_ptr_nonnull(body);
		ck_assert_int_eq(sscanf(body, "thr: t%d n%d", &id, &n), 2);
		ck_assert_msg(!seen[id][n], "line t%d n%04d twice", id, n);
		seen[id][n] = 1;
		lines++;
	}
	ck_assert_uint_eq(lines, THREADS * LINES_PER_THREAD);
	regfree(&re);
	free(text);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc;

	tc = tcase_create("levels");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_level_parse);
	tcase_add_test(tc, test_level_name);
	tcase_add_test(tc, test_default_level);
	tcase_add_test(tc, test_filtering);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_line_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("escaping");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_escapes_control_chars);
	tcase_add_test(tc, test_cannot_forge_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("truncation");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_long_message_cut);
	tcase_add_test(tc, test_4k_message_whole);
	tcase_add_test(tc, test_cut_between_escapes);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_file_created_and_appended);
	tcase_add_test(tc, test_open_failure_keeps_output);
	tcase_add_test(tc, test_stderr_output);
	suite_add_tcase(s, tc);

	tc = tcase_create("reopen");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reopen_after_rename);
	tcase_add_test(tc, test_reopen_failure_keeps_old_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("journald");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_journald_prefix);
	tcase_add_test(tc, test_journald_other_stream);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_concurrent_lines);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
