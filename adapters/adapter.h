/* adapter.h — the contract between lienthong and one kind of peer.
 *
 * An adapter translates between a peer's wire format and canonical events
 * (DESIGN.md §4) and knows how that peer signals success. It never does I/O.
 * Adapters are constant tables listed once in adapters/registry.c. */
#ifndef LT_ADAPTER_H
#define LT_ADAPTER_H

#include <jansson.h>
#include <stdint.h>
#include "lt.h"
#include "codes.h"

struct lt_peer;
struct _xmlNode;

/* A request an adapter builds for a peer; the dispatcher sends it. */
struct lt_request {
	char method[8];            /* "POST" */
	char path[256];            /* appended to the peer's url; "" = the url itself */
	char content_type[64];
	char headers[512];         /* extra "Name: value" lines, separated by \n; "" = none */
	struct lt_buf body;
	char *signature;           /* X-Signature value set by the gateway after signing; malloc'd */
};

/* What a delivery carries from one attempt to the next. `flags` is the
 * adapter's to set in outcome() (e.g. LT_FLAG_UPDATE after the portal said
 * "already exists"); the dispatcher stores it with the delivery, so it
 * survives retries and restarts. */
struct lt_delivery_ctx {
	int attempt;               /* 1-based number of this attempt */
	int flags;
	const char *message_id;    /* X-Message-Id / Idempotency-Key of the delivery */
	const char *session;       /* session token from login(), or NULL */
};

#define LT_FLAG_UPDATE 0x1         /* send as an update, not a create */

/* What a peer answered to a delivery. */
struct lt_response {
	long status;               /* HTTP status, 0 when no answer (timeout, reset) */
	const char *body;
	size_t len;
	const char *content_type;
};

/* What a signed XML document binds, read from its verified tree: the time it
 * was signed for and the identity of the message, each from the format's own
 * fields. Empty text / has_time 0 = the document does not carry it. */
#define LT_SIGNED_ID_MAX 320
struct lt_signed_fields {
	int has_time;
	int64_t time;              /* unix seconds */
	char time_field[128];      /* where the time is, or would be: "/DanhSachKetQua/@thoiGian" */
	char id[LT_SIGNED_ID_MAX]; /* one message of its kind from that sender, in words */
	char id_field[128];        /* where the identity is, or would be */
	int id_is_message_id;      /* the identity is the sender's message id: it must equal X-Message-Id */
};

/* One signed XML document kind an adapter takes inbound, known by its root
 * element; a root no entry names is a document whose time and identity the
 * gateway cannot find (refused unless the peer accepts unbound XML). */
struct lt_xml_kind {
	const char *ns;            /* namespace URI of the root element */
	const char *root;          /* its local name */
	/* Fill out from the root of a verified document whose Signature was taken
	 * out (every node left is signed content). A field the document lacks is
	 * left empty, its *_field still named; a field present but unreadable or
	 * longer than its room is LT_EAUTH naming it. Pure; any thread. */
	int (*bind)(const struct _xmlNode *root, struct lt_signed_fields *out, struct lt_err *err);
};

/* One `param.NAME = value` setting of an adapter. */
struct lt_adapter_param {
	const char *name;
	int required;              /* 1: needed to send to (or poll) the peer */
	const char *dflt;          /* what applies when it is unset, in words; NULL = nothing */
	const char *about;         /* one line: what it is */
	const char *example;       /* a plausible value (fuzzing; documentation) */
};

enum lt_verdict {
	LT_DONE = 0,               /* accepted */
	LT_RETRY = 1,              /* try again later (backoff) */
	LT_DEAD = 2,               /* refused for good: dead letter */
	LT_RESEND = 3,             /* send again at once, ctx->flags changed (e.g. create → update) */
	LT_RELOGIN = 4,            /* the session expired: log in again, then send again */
};

struct lt_adapter {
	const char *name;
	const char *content_type;  /* what it accepts inbound */
	/* 1: this peer kind signs its answers (to deliveries and polls) as it signs
	 * what it sends, so a peer's `answers` defaults to signed: the gateway
	 * verifies each answer before outcome()/poll_result() read it (answer.h).
	 * 0: its answers are unsigned and trusted on the strength of its TLS
	 * server certificate (`answers = tls`). */
	int answers_signed;
	/* One line on what it connects, for `lienthong adapters`. */
	const char *about;
	/* Its `param.NAME` settings, ending with an entry whose name is NULL;
	 * check-config reports a required one missing, `lienthong adapters`
	 * lists them, the fuzzers set each to its example. May be NULL. */
	const struct lt_adapter_param *params;
	/* Called once at start; loads schemas. 0 or LT_E* with err. */
	int (*init)(struct lt_err *err);
	/* Peer bytes → canonical events appended to `out` (a JSON array). Each
	 * event gets "source" set to the peer. 0, or LT_EINVAL (400) / LT_ESCHEMA
	 * (422) with err naming the field. */
	int (*decode)(const struct lt_peer *peer, const char *body, size_t len, json_t *out, struct lt_err *err);
	/* Canonical event → request for this peer. LT_EINVAL/LT_ESCHEMA when the
	 * event cannot be expressed for this peer (a dead letter, never retried). */
	int (*encode)(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const json_t *event,
		      struct lt_request *out, struct lt_err *err);
	/* Peer answer to `event` → verdict; may set ctx->flags; may append the
	 * canonical events the answer carries (e.g. registry.submitted) to `out`,
	 * which the gateway stores and routes like any inbound event. Called
	 * only once the answer passed its check (answer.h): a signed answer's
	 * signature was verified before this reads a byte of it; events carried
	 * by an answer that was not checked (a non-2xx from a peer whose answers
	 * are signed) are dropped. An answer must name the request it answers
	 * where the wire format can (ctx->message_id), or it proves nothing. */
	enum lt_verdict (*outcome)(const struct lt_peer *peer, struct lt_delivery_ctx *ctx, const json_t *event,
				   const struct lt_response *rsp, json_t *out, struct lt_err *err);
	/* Optional pull mode: the next poll request from a stored cursor ("" the
	 * first time), and its answer → events + the cursor after them: on entry
	 * next_cursor (512 bytes) holds the current cursor, which an empty page
	 * leaves as it is; it is stored in the same commit as the events. */
	int (*poll)(const struct lt_peer *peer, const struct lt_delivery_ctx *ctx, const char *cursor,
		    struct lt_request *out, struct lt_err *err);
	int (*poll_result)(const struct lt_peer *peer, const struct lt_response *rsp, json_t *out,
			   char next_cursor[512], struct lt_err *err);
	/* Optional session login (the portal): the login request, and its answer
	 * → the session token (512 bytes). */
	int (*login)(const struct lt_peer *peer, struct lt_request *out, struct lt_err *err);
	int (*login_result)(const struct lt_peer *peer, const struct lt_response *rsp, char session[512],
			    struct lt_err *err);
	/* Signed XML peers: the document kinds it takes inbound and where each
	 * carries its signed time and identity; ends with an entry whose root is
	 * NULL. NULL = no XML kinds. */
	const struct lt_xml_kind *xml_kinds;
	/* The code tables it declares (codes.h), NULL-terminated; their rows are
	 * sections of the *.codes files, checked at start. May be NULL. */
	const struct lt_code_table *const *codes;
	/* What encode() needs of an event beyond the canonical schema, as rules
	 * "TYPE TYPE…: FIELD FIELD…; …" — the first rule naming the event's type,
	 * or "*", applies; "a|b" is either of two fields. Before an event routed
	 * to this peer is acknowledged, a field it lacks is filled from the
	 * dossier's stored state, else the message is refused (422) naming the
	 * peer and the field (gateway/deliverable.h). NULL = nothing more. */
	const char *requires;
	/* The same for one peer, when its settings decide it (the mapped
	 * adapter: its mapping file's `!` rules of [encode]); overrides
	 * `requires`. NULL = `requires` for every peer. */
	const char *(*requires_of)(const struct lt_peer *peer);
	/* Optional: check one peer's settings against what is loaded (code
	 * tables, mapping files), at start and by check-config; 0 or LT_ECONFIG
	 * with err naming the setting. */
	int (*check_peer)(const struct lt_peer *peer, struct lt_err *err);
};

/* A peer's adapter-specific setting (`param.NAME = value` in its section), or NULL. */
const char *lt_peer_param(const struct lt_peer *peer, const char *name);

/* Look up an adapter by its config name; NULL if unknown. */
const struct lt_adapter *lt_adapter_find(const char *name);
/* "canonical, onestop, …" for error messages. */
const char *lt_adapter_names(void);
/* Every adapter of the registry, in its order: i from 0 to lt_adapter_count() - 1. */
size_t lt_adapter_count(void);
const struct lt_adapter *lt_adapter_at(size_t i);
/* Run every adapter's init; 0 or the first error. */
int lt_adapters_init(struct lt_err *err);
struct lt_config;
/* Every peer of cfg through its adapter's check_peer: one "FILE:LINE: …"
 * line per mistake appended to errors; 0 or LT_ECONFIG. */
int lt_adapters_check_peers(const struct lt_config *cfg, struct lt_buf *errors);

/* Check one canonical event against schemas/canonical-event.schema.json
 * (after lt_adapters_init); 0 or LT_ESCHEMA naming the field. */
int lt_canonical_validate(const json_t *event, struct lt_err *err);

/* schemas/canonical-event.schema.json as JSON, read once; NULL with err. */
const json_t *lt_canonical_schema(struct lt_err *err);
/* The enum of the canonical schema at "def.property" ($defs/def/properties/
 * property/enum of schemas/canonical-event.schema.json, read once): a JSON
 * array of strings, or NULL with err. "event.type" is the event types. */
const json_t *lt_canonical_enum(const char *where, struct lt_err *err);
/* 1 when type is a canonical event type (the schema's event.type enum). */
int lt_event_type_known(const char *type);

/* Where schema files live: LT_SCHEMA_DIR env, else ./schemas, else next to
 * the executable (../schemas), else /usr/share/lienthong/schemas. */
const char *lt_schema_dir(void);
/* Where the shipped code tables live, found the same way (LT_CODES_DIR env,
 * which may list several directories separated by ":" — a build with extra
 * adapters adds theirs —
 * ./codes, ../codes or ../share/lienthong/codes beside the executable, else
 * /usr/share/lienthong/codes). */
const char *lt_codes_dir(void);

struct lt_schema;
/* Load each of `files` (relative to lt_schema_dir()) into out[i] unless
 * already loaded — an adapter's init. 0 or the first load error. */
int lt_adapter_load_schemas(const char *const *files, struct lt_schema **out, int n, struct lt_err *err);

/* The default outcome rule of DESIGN.md §3: 2xx done; 408/425/429/5xx and
 * no answer retried; other 4xx (and anything else) dead. */
enum lt_verdict lt_outcome_default(const struct lt_response *rsp, struct lt_err *err);

/* The canonical adapter: the gateway's own format, which ingress knows. The
 * others are reached through the registry (lt_adapter_find, lt_adapter_at). */
extern const struct lt_adapter lt_adapter_canonical;

#endif
