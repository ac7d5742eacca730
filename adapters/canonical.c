/* canonical.c — the canonical event JSON of DESIGN.md §4, as is, both ways. */
#include "adapter.h"
#include "config.h"
#include "jsonschema.h"
#include "mapping.h"

#include <stdio.h>
#include <string.h>

static struct lt_schema *schema;

static int canonical_init(struct lt_err *err)
{
	if (schema)
		return LT_OK;
	char path[1024];
	snprintf(path, sizeof path, "%s/canonical-event.schema.json", lt_schema_dir());
	schema = lt_schema_load(path, err);
	return schema ? LT_OK : (err ? err->code : LT_EIO);
}

/* Accepts one event object or {"events":[…]}; every event is checked against
 * the schema before anything is kept. */
static int canonical_decode(const struct lt_peer *peer, const char *body, size_t len, json_t *out,
			    struct lt_err *err)
{
	json_t *doc = lt_json_parse("body", body, len, 0, err);
	if (!doc)
		return err->code;
	int rc = lt_schema_validate(schema, doc, err);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	json_t *list = json_object_get(doc, "events");
	if (list) {
		size_t i;
		json_t *ev;
		json_array_foreach(list, i, ev) {
			json_object_set_new(ev, "source", json_string(peer->name));
			json_array_append(out, ev);
		}
	} else {
		json_object_set_new(doc, "source", json_string(peer->name));
		json_array_append(out, doc);
	}
	json_decref(doc);
	return LT_OK;
}

static int canonical_encode(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const json_t *event,
			    struct lt_request *out, struct lt_err *err)
{
	(void)peer;
	(void)ctx;
	char *s = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return lt_err_set(err, LT_ENOMEM, "cannot encode event");
	snprintf(out->method, sizeof out->method, "POST");
	snprintf(out->content_type, sizeof out->content_type, "application/json");
	out->path[0] = '\0';
	lt_buf_append(&out->body, s, strlen(s));
	free(s);
	return LT_OK;
}

static enum lt_verdict canonical_outcome(const struct lt_peer *peer, struct lt_delivery_ctx *ctx, const json_t *event,
					 const struct lt_response *rsp, json_t *out, struct lt_err *err)
{
	(void)peer;
	(void)ctx;
	(void)event;
	(void)out;
	return lt_outcome_default(rsp, err);
}

int lt_canonical_validate(const json_t *event, struct lt_err *err)
{
	return lt_schema_validate_def(schema, "event", event, err);
}

const struct lt_adapter lt_adapter_canonical = {
	.name = "canonical",
	.about = "anything that speaks the canonical event JSON (schemas/canonical-event.schema.json), both ways",
	.content_type = "application/json",
	.init = canonical_init,
	.decode = canonical_decode,
	.encode = canonical_encode,
	.outcome = canonical_outcome,
};
