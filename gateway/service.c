/* service.c — sd_notify(3): READY, STOPPING and the watchdog heartbeat. */
#include "service.h"
#include "log.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

struct lt_service {
	struct event *beat;
	struct timeval period;
};

static void on_beat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

struct lt_service *lt_service_start(struct event_base *base)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return NULL;
	struct lt_service *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	usec /= 2;
	s->period.tv_sec = (time_t)(usec / 1000000);
	s->period.tv_usec = (suseconds_t)(usec % 1000000);
	s->beat = event_new(base, -1, EV_PERSIST, on_beat, s);
	if (!s->beat || event_add(s->beat, &s->period)) {
		lt_service_free(s);
		return NULL;
	}
	lt_log(LT_INFO, "service.watchdog", json_pack("{s:I}", "period_us", (json_int_t)usec),
	       "telling systemd the loop is alive every %llu ms", (unsigned long long)(usec / 1000));
	return s;
}

void lt_service_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void lt_service_stopping(const char *status)
{
	sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
}

void lt_service_free(struct lt_service *s)
{
	if (!s)
		return;
	if (s->beat)
		event_free(s->beat);
	s->beat = NULL;
	free(s);
}
