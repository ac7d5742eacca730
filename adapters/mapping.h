/* mapping.h — the tables and conversions adapters share: channel and status
 * codes, applicant types, JSON helpers (dates: gateway/dates.h).
 *
 * The tables live in adapters/mapping.c, one array per code list, so that an
 * integrator adjusting to a province's interface edits one table. Every
 * lookup refuses what is not in its table (never a silent default). */
#ifndef LT_MAPPING_H
#define LT_MAPPING_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "dates.h"     /* the peers' date formats, for every adapter that reads or writes them */
#include "lt.h"

/* A code list: wire code ↔ canonical value. */
struct lt_code_pair {
	const char *wire;
	const char *canonical;
};

struct lt_code_table {
	const char *name;          /* "channel (KenhThucHien)" — used in error messages */
	const struct lt_code_pair *codes;
	size_t n;
};

extern const struct lt_code_table lt_channel_codes;         /* 1 direct, 2 online, 3 postal */
extern const struct lt_code_table lt_applicant_type_codes;  /* 1 citizen, 2 enterprise, 3 state_body, 4 other */
extern const struct lt_code_table lt_return_via_codes;      /* HinhThuc: 0 direct, 1 postal */
extern const struct lt_code_table lt_registry_module_codes; /* LTKS birth, LTKT death, LTKH marriage → procedure */

/* wire → canonical; NULL and err ("channel (KenhThucHien): unknown code \"7\"") when absent. */
const char *lt_code_to_canonical(const struct lt_code_table *t, const char *wire, struct lt_err *err);
/* canonical → wire; NULL and err when absent. */
const char *lt_code_to_wire(const struct lt_code_table *t, const char *canonical, struct lt_err *err);

/* Portal status codes TrangThaiHoSo 1..10 and the event type each suggests
 * when a peer reports only a status (e.g. 9 → dossier.resolved). NULL for an
 * unknown code. */
const char *lt_status_event_type(int status);
int lt_status_valid(int status);

/* JSON helpers for adapters. The value at a dotted path
 * ("dossier.applicant.address") of o, or NULL; the non-empty string there,
 * or NULL; set key to value unless value is NULL or "". */
const json_t *lt_json_dig(const json_t *o, const char *path);
const char *lt_json_str(const json_t *o, const char *path);
void lt_json_put_str(json_t *o, const char *key, const char *value);

/* Parse a peer's JSON (duplicate keys refused, plus `flags`), or NULL with
 * LT_EINVAL in err: "<what> is not valid JSON: <reason> at line L column C". */
json_t *lt_json_parse(const char *what, const char *s, size_t len, size_t flags, struct lt_err *err);

#endif
