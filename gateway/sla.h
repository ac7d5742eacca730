/* sla.h — due dates in working days, the dossier state view, and what the
 * overdue watchdog looks for.
 *
 * Working days are Monday to Friday minus the configured holidays, in
 * Asia/Ho_Chi_Minh time. A supplement request pauses the clock: when the
 * dossier is supplemented, its due date moves by the working days it waited.
 * An apology moves the due date to the new date it promises. */
#ifndef LT_SLA_H
#define LT_SLA_H

#include <jansson.h>
#include <stdint.h>
#include "lt.h"

struct lt_calendar {
	int64_t *holidays;          /* local days (days since epoch, +07:00), sorted */
	size_t nholidays;
};

/* "2026-01-01 2026-04-30 2026-09-01..2026-09-02" → calendar; LT_ECONFIG with err naming the bad day. */
int lt_calendar_parse(const char *list, struct lt_calendar *cal, struct lt_err *err);
void lt_calendar_free(struct lt_calendar *cal);
int lt_calendar_is_working_day(const struct lt_calendar *cal, int64_t unix_s);
/* Working time between two instants, in whole working days (b after a; 0 if not). */
int lt_working_days_between(const struct lt_calendar *cal, int64_t a, int64_t b);
/* The instant n working days after t, at the same time of day. */
int64_t lt_add_working_days(const struct lt_calendar *cal, int64_t t, int n);

/* A dossier's status: the portal's codes (TrangThaiHoSo 1..10), as canonical
 * events carry them in dossier.status (DESIGN.md §4). */
enum lt_dossier_status {
	LT_STATUS_UNKNOWN = 0,
	LT_STATUS_REGISTERED_ONLINE = 1,  /* newly registered online */
	LT_STATUS_RECEIVED = 2,
	LT_STATUS_REJECTED = 3,           /* not received: refused at intake */
	LT_STATUS_PROCESSING = 4,
	LT_STATUS_SUPPLEMENT = 5,         /* a supplement was requested */
	LT_STATUS_FEE = 6,                /* a financial obligation was requested */
	LT_STATUS_WITHDRAWN = 7,          /* by the applicant */
	LT_STATUS_SUSPENDED = 8,          /* processing stopped */
	LT_STATUS_RESOLVED = 9,
	LT_STATUS_RETURNED = 10,          /* the result was returned */
};
/* Whether a dossier ended without a result: rejected, withdrawn, suspended. */
static inline int lt_status_ended(int status)
{
	return status == LT_STATUS_REJECTED || status == LT_STATUS_WITHDRAWN || status == LT_STATUS_SUSPENDED;
}
/* The statuses after which a dossier is owed nothing more (ended, resolved,
 * returned: no overdue notice), as an SQL list for the watchdog's query. */
#define LT_STATUS_CLOSED_SQL "(3, 7, 8, 9, 10)"

/* The state kept per dossier (DESIGN.md §2 `dossiers`). Times are unix
 * seconds, 0 = not yet. */
struct lt_dossier {
	char code[72];
	int status;                 /* enum lt_dossier_status */
	char channel[16];
	char procedure[40];
	char receiving_agency[64];
	char handling_agency[64];
	int64_t received_at, due_at, resolved_at, returned_at;
	int64_t paused_at;          /* supplement requested and not yet supplemented */
	int apologies;
	int64_t overdue_notified_for;   /* the due date a dossier.overdue was emitted for */
	char last_event[40];
	int64_t last_at;            /* occurred_at of last_event: an older event moves neither back */
};

/* Apply one canonical event to a dossier's state (pure; any thread). An
 * event older than the last one applied (by occurred_at) changes neither
 * the status nor the last event (nor pauses the clock). */
void lt_dossier_apply(const struct lt_calendar *cal, struct lt_dossier *d, const json_t *event);
/* What a dossier's events (in the order they were stored) told of it that a
 * destination may need again (deliverable.h): a new object of the members
 * procedure, field, receiving_agency, handling_agency, applicant, channel,
 * received_at and due_at of their `dossier`, each the newest event's by
 * occurred_at (objects merged member by member; an older event fills only
 * what is not known). Computed when asked, not kept: no cost per event. */
json_t *lt_dossier_facts(const json_t *events);
/* Whether the watchdog owes this dossier a dossier.overdue at `now`: past
 * its due date, not resolved, returned, refused or withdrawn, not paused,
 * and not already notified for this due date. */
int lt_dossier_overdue(const struct lt_dossier *d, int64_t now);
/* The dossier.overdue event for it (new reference), source = `source`. */
json_t *lt_dossier_overdue_event(const struct lt_dossier *d, int64_t now, const char *source);

#endif
