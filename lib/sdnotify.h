/* sdnotify.h: the systemd readiness protocol (sd_notify): "READY=1", "STATUS=...", "STOPPING=1" datagrams to $NOTIFY_SOCKET.
 * Without $NOTIFY_SOCKET every call is a no-op, so the daemon behaves the same outside systemd. */
#ifndef HS_SDNOTIFY_H
#define HS_SDNOTIFY_H

/* Send state (newline-separated assignments, e.g. "READY=1\nSTATUS=...")
 * to the socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace). Returns 1 when sent, 0 when no socket is set, or
 * -errno. Any thread. */
int sd_notify_send(const char *state);

#endif
