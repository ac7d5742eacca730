/* replay.h — what binds a signed inbound XML document to one moment and one message.
 *
 * A signature alone says who wrote a document, not when it was sent nor which message
 * it is: a captured copy verifies forever. So every signed XML document kind a peer's
 * adapter takes (its lt_xml_kind table, by root element) names where its format carries
 * a signed time and a signed message identity. The time must be inside the replay
 * window; the identity, and the digest of the signed content (lt_xml_info), go to the
 * store, which refuses either when it was seen before under another message id. A
 * document without them (an unknown kind, or a kind whose schema leaves them optional)
 * is refused unless the peer sets accept_unbound_xml = yes. */
#ifndef LT_REPLAY_H
#define LT_REPLAY_H

#include <stdint.h>
#include <libxml/tree.h>
#include "adapter.h"
#include "config.h"

/* Check what the verified document doc (from lt_xml_verify) binds, for message_id
 * (X-Message-Id) received from peer at now_ms. Takes the Signature out of doc first,
 * so the adapter reads signed content only. On success id (LT_SIGNED_ID_MAX bytes) is
 * the signed identity, "" when the peer accepted a document without one. Refusals are
 * LT_EAUTH with a sentence naming the field: "timestamp out of window: …", "messageId
 * … does not match X-Message-Id", "unbound signed document: …". Any thread. */
int lt_replay_bind_xml(const struct lt_peer *peer, xmlDocPtr doc, const char *message_id, int64_t now_ms,
		       int64_t window_ms, char id[LT_SIGNED_ID_MAX], struct lt_err *err);

#endif
