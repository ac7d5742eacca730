/* service.h — telling the service manager how the daemon is doing.
 *
 * Under systemd (Type=notify: NOTIFY_SOCKET is set) the gateway says READY
 * once every listener is bound and the store is open, STOPPING when a signal
 * asks it to stop, and, when the unit sets WatchdogSec=, a heartbeat from the
 * event loop at half that period, so a loop that hangs is restarted. Outside
 * systemd every call does nothing. Loop thread only. */
#ifndef LT_SERVICE_H
#define LT_SERVICE_H

struct event_base;
struct lt_service;

/* Start the watchdog heartbeat if the manager asked for one; NULL when none. */
struct lt_service *lt_service_start(struct event_base *base);
/* READY=1 with a one-line status. */
void lt_service_ready(const char *status);
/* STOPPING=1 with a one-line status. */
void lt_service_stopping(const char *status);
void lt_service_free(struct lt_service *s);

#endif
