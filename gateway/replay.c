/* replay.c — the signed time and identity of an inbound XML document (see replay.h). */
#include "replay.h"
#include "xml_internal.h"

#include <stdio.h>
#include <string.h>

/* Further from the epoch than any date a peer means (about 34 800 years, in seconds):
 * a time past it is shown clamped, never used in arithmetic. */
#define FAR_S ((int64_t)1 << 40)

/* The adapter's entry for doc's root element, or NULL. */
static const struct lt_xml_kind *kind_of(const struct lt_adapter *a, const xmlNode *root)
{
	for (const struct lt_xml_kind *k = a ? a->xml_kinds : NULL; k && k->root; k++)
		if (strcmp((const char *)root->name, k->root) == 0 && root->ns && root->ns->href &&
		    strcmp((const char *)root->ns->href, k->ns) == 0)
			return k;
	return NULL;
}

int lt_replay_bind_xml(const struct lt_peer *peer, xmlDocPtr doc, const char *message_id, int64_t now_ms,
		       int64_t window_ms, char id[LT_SIGNED_ID_MAX], struct lt_err *err)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr sig = root ? xmlLastElementChild(root) : NULL;
	struct lt_signed_fields f = { 0 };
	id[0] = '\0';
	/* lt_xml_verify made sure the one Signature is the root's last child and that its
	 * Reference covers the rest: without it, what is left is what was signed */
	if (!sig || !lt_xml_is_dsig(sig, "Signature"))
		return lt_err_set(err, LT_EAUTH, "no signature (no ds:Signature element)");
	xmlUnlinkNode(sig);
	xmlFreeNode(sig);

	const struct lt_xml_kind *k = kind_of(peer->adapter, root);
	if (k && k->bind(root, &f, err))
		return LT_EAUTH;
	if (f.has_time && !lt_within_window(f.time, now_ms, window_ms)) {
		int64_t t = f.time > FAR_S ? FAR_S : f.time < -FAR_S ? -FAR_S : f.time;
		long long off = (long long)(t - now_ms / 1000);
		return lt_err_set(err, LT_EAUTH, "timestamp out of window: %s of the signed document is %lld s %s now, "
				  "the window is %lld s", f.time_field, off < 0 ? -off : off, off < 0 ? "before" : "after",
				  (long long)(window_ms / 1000));
	}
	if (f.id[0] && f.id_is_message_id && strcmp(f.id, message_id))
		return lt_err_set(err, LT_EAUTH, "messageId \"%.64s\" of the signed document (%s) does not match "
				  "X-Message-Id", f.id, f.id_field);
	if (peer->accept_unbound_xml || (f.has_time && f.id[0])) {
		snprintf(id, LT_SIGNED_ID_MAX, "%s", f.id);
		return LT_OK;
	}
	if (!k)
		return lt_err_set(err, LT_EAUTH, "unbound signed document: adapter %s knows no signed time or message "
				  "id in a {%.100s}%.64s document, so a captured copy could be replayed; refused (peer %s "
				  "does not set accept_unbound_xml)", peer->adapter->name,
				  root->ns && root->ns->href ? (const char *)root->ns->href : "",
				  (const char *)root->name, peer->name);
	char missing[320];
	if (!f.has_time && !f.id[0])
		snprintf(missing, sizeof missing, "no signed time (%s) and no signed message id (%s)", f.time_field,
			 f.id_field);
	else
		snprintf(missing, sizeof missing, "no signed %s (%s)", f.has_time ? "message id" : "time",
			 f.has_time ? f.id_field : f.time_field);
	return lt_err_set(err, LT_EAUTH, "unbound signed document: it carries %s, so a captured copy could be "
			  "replayed; refused (peer %s does not set accept_unbound_xml)", missing, peer->name);
}
