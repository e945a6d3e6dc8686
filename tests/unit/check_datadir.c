/* check_datadir.c: unit tests for storage/datadir.h (creating the data directory and its LOCK).
 * Each test works in a fresh mkdtemp directory; lock contention is tested from forked children. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "storage/datadir.h"

#define ck_assert_str_contains(s, sub)                                                     \
	do {                                                                               \
		const char *s_ = (s), *sub_ = (sub);                                       \
		ck_assert_msg(strstr(s_, sub_) != NULL,                                    \
			      "Assertion '%s contains %s' failed: \"%s\" does not contain \"%s\"", \
			      #s, #sub, s_, sub_);                                         \
	} while (0)

static char tmp_dir[PATH_MAX]; /* realpath of this test's temp directory */
static char err[DATADIR_ERROR_MAX];
static mode_t saved_umask;

/* The directory lives for a whole TCase (unchecked fixture, so it goes
 * even when a forked test dies); each test starts with it empty. */
static void dir_create(void)
{
	const char *base = getenv("TMPDIR");
	char templ[PATH_MAX];

	snprintf(templ, sizeof templ, "%s/check_datadir.XXXXXX", base && base[0] ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(templ));
	/* Compare against the resolved path: datadir_path() is a realpath. */
	ck_assert_ptr_nonnull(realpath(templ, tmp_dir));
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
	err[0] = '\0';
}

static void teardown(void)
{
	umask(saved_umask);
}

static void join(char *out, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", tmp_dir, rel);
	ck_assert_int_lt(n, PATH_MAX);
}

static void read_text(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t got;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	got = read(fd, buf, cap - 1);
	ck_assert_int_ge(got, 0);
	buf[got] = '\0';
	close(fd);
}

static unsigned file_mode(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	return (unsigned)(st.st_mode & 07777);
}

/* What a child's datadir_open returned, carried back over a pipe. */
struct child_result {
	int rc;
	char err[DATADIR_ERROR_MAX];
};

/* Run datadir_open(path) in a child; the child exits without closing, so
 * whatever it held is released by the kernel as on kill -9. */
static void open_in_child(const char *path, struct child_result *res)
{
	int fds[2], status;
	pid_t pid;
	ssize_t got;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct child_result r;
		struct datadir *dir = NULL;
		memset(&r, 0, sizeof r);
		close(fds[0]);
		alarm(10); /* "at once": never wait for the lock */
		r.rc = datadir_open(path, &dir, r.err);
		_exit(write(fds[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
	}
	close(fds[1]);
	memset(res, 0, sizeof *res);
	got = read(fds[0], res, sizeof *res);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child did not finish cleanly (status 0x%x)", (unsigned)status);
	ck_assert_int_eq(got, (ssize_t)sizeof *res);
}

/* ---- creation ----------------------------------------------------------- */

START_TEST(test_creates_nested)
{
	char top[PATH_MAX], mid[PATH_MAX], leaf[PATH_MAX];
	struct datadir *dir = NULL;
	struct stat st;

	join(top, "a");
	join(mid, "a/b");
	join(leaf, "a/b/c");
	ck_assert_int_eq(datadir_open(leaf, &dir, err), 0);
	ck_assert_ptr_nonnull(dir);
	const char *made[] = {top, mid, leaf};
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(stat(made[i], &st), 0);
		ck_assert(S_ISDIR(st.st_mode));
		ck_assert_uint_eq(st.st_mode & 07777, 0750);
	}
	datadir_close(dir);
}
END_TEST

START_TEST(test_existing_dir_kept)
{
	char path[PATH_MAX], lock[PATH_MAX], text[64];
	struct datadir *dir = NULL;

	join(path, "existing");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	join(lock, "existing/keep.me");
	ck_assert_int_eq(close(open(lock, O_CREAT | O_WRONLY, 0600)), 0);
	ck_assert_int_eq(datadir_open(path, &dir, err), 0);
	/* An existing directory keeps its mode and its contents. */
	ck_assert_uint_eq(file_mode(path), 0700);
	ck_assert_int_eq(access(lock, F_OK), 0);
	datadir_close(dir);
	/* A trailing slash names the same directory. */
	strcat(path, "/");
	ck_assert_int_eq(datadir_open(path, &dir, err), 0);
	path[strlen(path) - 1] = '\0';
	ck_assert_str_eq(datadir_path(dir), path);
	join(lock, "existing/LOCK");
	read_text(lock, text, sizeof text);
	ck_assert_int_eq(atol(text), (long)getpid());
	datadir_close(dir);
}
END_TEST

START_TEST(test_path_is_absolute)
{
	char want[PATH_MAX];
	struct datadir *dir = NULL;
	int cwd = open(".", O_RDONLY | O_DIRECTORY);

	ck_assert_int_ge(cwd, 0);
	ck_assert_int_eq(chdir(tmp_dir), 0);
	int rc = datadir_open("rel/var", &dir, err);
	ck_assert_int_eq(fchdir(cwd), 0);
	close(cwd);
	ck_assert_msg(rc == 0, "datadir_open(rel/var): %d %s", rc, err);
	join(want, "rel/var");
	ck_assert_str_eq(datadir_path(dir), want);
	ck_assert_int_eq(datadir_path(dir)[0], '/');
	datadir_close(dir);

	join(want, "x/../y");
	ck_assert_int_eq(datadir_open(want, &dir, err), 0);
	join(want, "y");
	ck_assert_str_eq(datadir_path(dir), want);
	datadir_close(dir);
}
END_TEST

/* ---- LOCK file ---------------------------------------------------------- */

START_TEST(test_lock_has_pid)
{
	char path[PATH_MAX], lock[PATH_MAX], text[64], want[32];
	struct datadir *dir = NULL;

	join(path, "var");
	join(lock, "var/LOCK");
	ck_assert_int_eq(datadir_open(path, &dir, err), 0);
	read_text(lock, text, sizeof text);
	snprintf(want, sizeof want, "%ld\n", (long)getpid());
	ck_assert_str_eq(text, want);
	ck_assert_uint_eq(file_mode(lock), 0640);
	datadir_close(dir);
	/* The LOCK file stays after close. */
	ck_assert_int_eq(access(lock, F_OK), 0);
}
END_TEST

START_TEST(test_stale_pid_replaced)
{
	char path[PATH_MAX], lock[PATH_MAX], text[64], want[32];
	struct datadir *dir = NULL;
	int fd;

	join(path, "var");
	join(lock, "var/LOCK");
	ck_assert_int_eq(mkdir(path, 0750), 0);
	fd = open(lock, O_CREAT | O_WRONLY, 0640);
	ck_assert_int_ge(fd, 0);
	/* Longer than our pid: a stale tail must not survive. */
	ck_assert_int_eq(write(fd, "123456789012345\n", 16), 16);
	close(fd);
	ck_assert_int_eq(datadir_open(path, &dir, err), 0);
	read_text(lock, text, sizeof text);
	snprintf(want, sizeof want, "%ld\n", (long)getpid());
	ck_assert_str_eq(text, want);
	datadir_close(dir);
}
END_TEST

START_TEST(test_locked_by_other)
{
	char path[PATH_MAX], pid_text[48];
	struct datadir *dir = NULL;
	struct child_result res;

	join(path, "var");
	ck_assert_int_eq(datadir_open(path, &dir, err), 0);
	open_in_child(path, &res);
	ck_assert_int_eq(res.rc, HS_ELOCKED);
	ck_assert_str_contains(res.err, path);
	snprintf(pid_text, sizeof pid_text, "(pid %ld)", (long)getpid());
	ck_assert_str_contains(res.err, pid_text);
	/* The refused open did not disturb the holder. */
	open_in_child(path, &res);
	ck_assert_int_eq(res.rc, HS_ELOCKED);
	datadir_close(dir);
}
END_TEST

START_TEST(test_reopen_after_close)
{
	char path[PATH_MAX];
	struct datadir *dir = NULL;
	struct child_result res;

	join(path, "var");
	ck_assert_int_eq(datadir_open(path, &dir, err), 0);
	datadir_close(dir);
	open_in_child(path, &res);
	ck_assert_msg(res.rc == 0, "open after close: %d %s", res.rc, res.err);
	ck_assert_int_eq(datadir_open(path, &dir, err), 0);
	datadir_close(dir);
	datadir_close(NULL);
}
END_TEST

START_TEST(test_holder_died)
{
	char path[PATH_MAX];
	struct datadir *dir = NULL;
	struct child_result res;

	join(path, "var");
	/* The child opens and exits without datadir_close: no stale lock. */
	open_in_child(path, &res);
	ck_assert_msg(res.rc == 0, "child open: %d %s", res.rc, res.err);
	ck_assert_int_eq(datadir_open(path, &dir, err), 0);
	datadir_close(dir);
}
END_TEST

/* ---- failures ----------------------------------------------------------- */

START_TEST(test_parent_is_file)
{
	char file[PATH_MAX], path[PATH_MAX];
	struct datadir *dir = (struct datadir *)&dir; /* must be reset to NULL */

	join(file, "plain");
	ck_assert_int_eq(close(open(file, O_CREAT | O_WRONLY, 0600)), 0);
	join(path, "plain/var");
	ck_assert_int_eq(datadir_open(path, &dir, err), -ENOTDIR);
	ck_assert_ptr_null(dir);
	ck_assert_str_contains(err, path);

	join(path, "plain/a/b");
	ck_assert_int_eq(datadir_open(path, &dir, err), -ENOTDIR);
	ck_assert_str_contains(err, path);
}
END_TEST

START_TEST(test_path_is_file)
{
	char file[PATH_MAX];
	struct datadir *dir = NULL;

	join(file, "plain");
	ck_assert_int_eq(close(open(file, O_CREAT | O_WRONLY, 0600)), 0);
	ck_assert_int_eq(datadir_open(file, &dir, err), -ENOTDIR);
	ck_assert_ptr_null(dir);
	ck_assert_str_contains(err, file);
}
END_TEST

START_TEST(test_empty_path)
{
	struct datadir *dir = NULL;
	int rc = datadir_open("", &dir, err);

	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(dir);
	ck_assert_int_ne(err[0], '\0');
}
END_TEST

static Suite *datadir_suite(void)
{
	Suite *s = suite_create("datadir");
	TCase *tc;

	tc = tcase_create("create");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_creates_nested);
	tcase_add_test(tc, test_existing_dir_kept);
	tcase_add_test(tc, test_path_is_absolute);
	suite_add_tcase(s, tc);

	tc = tcase_create("lock_file");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lock_has_pid);
	tcase_add_test(tc, test_stale_pid_replaced);
	suite_add_tcase(s, tc);

	tc = tcase_create("lock_contention");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_locked_by_other);
	tcase_add_test(tc, test_reopen_after_close);
	tcase_add_test(tc, test_holder_died);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parent_is_file);
	tcase_add_test(tc, test_path_is_file);
	tcase_add_test(tc, test_empty_path);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(datadir_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
