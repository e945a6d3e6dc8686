/* sdnotify.c: a minimal sd_notify client behind sdnotify.h (no libsystemd dependency).
 * The protocol is one AF_UNIX datagram per message; see sd_notify(3). */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/sdnotify.h"

int sd_notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t path_len;
	socklen_t addr_len;
	ssize_t sent;
	int fd, rc;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return 0;
	path_len = strlen(path);
	if (path_len >= sizeof addr.sun_path)
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, path_len);
	if (path[0] == '@')
		addr.sun_path[0] = '\0';
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
	rc = sent < 0 ? -errno : 1;
	close(fd);
	return rc;
}
