/* tls_refusals.h — failed TLS handshakes on the peer listener, made visible.
 *
 * A client that presents no certificate, one from an unknown CA or an expired
 * one, or that offers only a protocol version or ciphers the listener does not
 * speak, is refused by TLS before any HTTP request exists: without this, a
 * vendor's broken client certificate could not be diagnosed. Each refusal is
 * counted by reason (lienthong_tls_refused_total) and logged as one
 * `tls.refused` line with the client's address and the reason, at most
 * LT_TLS_REFUSED_LINES lines per 10 s (the rest counted, then summarised as
 * `tls.refused_suppressed`). Loop thread only. */
#ifndef LT_TLS_REFUSALS_H
#define LT_TLS_REFUSALS_H

#include <openssl/ssl.h>

#define LT_TLS_REFUSED_LINES 10

struct lt_buf;

/* Watch one accepted connection's handshake. */
void lt_tls_refusals_watch(SSL *ssl);
/* The counter family for /metrics. */
void lt_tls_refusals_metrics(struct lt_buf *b);

#endif
