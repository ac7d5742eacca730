/* jsonschema.h — a small JSON Schema (draft 2020-12 subset) validator on jansson.
 *
 * Supported keywords: type, properties, required, additionalProperties, items,
 * minItems, maxItems, minProperties, maxProperties, enum, const, pattern,
 * minLength, maxLength (Unicode code points), minimum, maximum, format
 * (date-time, date, email), $ref ("#/$defs/NAME" only), $defs (root only),
 * allOf, anyOf, oneOf, and boolean schemas. Annotations ($schema, $id, title,
 * description, examples, $comment, default) are accepted and ignored; any
 * other keyword is a load error, never silently ignored.
 *
 * Patterns run as POSIX extended regexes (regcomp) but must mean the same in
 * ECMA-262, which other tools use: backslashes and [:class:] are refused at
 * load; write anchored bracket expressions such as ^[0-9A-Za-z_-]{1,64}$.
 * Avoid '.' (POSIX lets it match a newline or a single byte) and keep
 * bounded classes ASCII-only (POSIX counts bytes, ECMA code points).
 *
 * Error messages start with the JSON pointer of the offending value ("/" for
 * the document root), then ": " and the reason, and are valid UTF-8. */
#ifndef LT_JSONSCHEMA_H
#define LT_JSONSCHEMA_H

#include <jansson.h>
#include "lt.h"

/* Documents nested deeper than this are refused before any keyword runs. */
#define LT_SCHEMA_MAX_DEPTH 64

struct lt_schema;

/* Load and compile the schema in file `path`: regexes compiled, $refs
 * resolved, cycles that never descend into the document refused. Returns
 * NULL with err naming the file, the schema location and the problem:
 * LT_EIO if the file cannot be read, LT_ECONFIG if it is not JSON or not a
 * schema this validator supports, LT_ENOMEM. Free with lt_schema_free. */
struct lt_schema *lt_schema_load(const char *path, struct lt_err *err);

/* Free a loaded schema; NULL-safe. */
void lt_schema_free(struct lt_schema *s);

/* 0 if doc is valid; else LT_ESCHEMA with err->msg like
 * "/dossier/channel: \"fax\" is not one of direct, online, postal" (the
 * first error found; under oneOf/anyOf, the alternative that got furthest).
 * Never mutates s: one schema may serve concurrent validations. */
int lt_schema_validate(const struct lt_schema *s, const json_t *doc, struct lt_err *err);

/* As lt_schema_validate, against the root's $defs entry `def` (e.g. "event"
 * for one element of a batch). LT_EINVAL if there is no such entry. */
int lt_schema_validate_def(const struct lt_schema *s, const char *def, const json_t *doc,
			   struct lt_err *err);

#endif
