/* tls_refusals.c — counting and logging failed handshakes (see tls_refusals.h). */
#include "tls_refusals.h"
#include "log.h"
#include "lt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

enum reason { R_NO_CERT, R_UNKNOWN_CA, R_EXPIRED, R_NOT_YET_VALID, R_REVOKED, R_BAD_CERT, R_PROTOCOL, R_CIPHER,
	      R_OTHER, R_COUNT };
static const char *const reason_names[R_COUNT] = {
	"no_certificate", "unknown_ca", "certificate_expired", "certificate_not_yet_valid", "certificate_revoked",
	"bad_certificate", "protocol_version", "no_shared_cipher", "other",
};

static int64_t counts[R_COUNT];
static int64_t window_ms, suppressed;
static int lines;

static enum reason classify_verify(long v)
{
	switch (v) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return R_UNKNOWN_CA;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return R_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return R_NOT_YET_VALID;
	case X509_V_ERR_CERT_REVOKED:
		return R_REVOKED;
	default:
		return R_BAD_CERT;
	}
}

/* Why the handshake failed, from the error OpenSSL queued before its alert. */
static enum reason classify(const SSL *ssl, unsigned long e, char *detail, size_t n)
{
	int r = ERR_GET_REASON(e);
	const char *what = e ? ERR_reason_error_string(e) : NULL;
	long v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK && (r == SSL_R_CERTIFICATE_VERIFY_FAILED || !e)) {
		snprintf(detail, n, "client certificate refused: %s", X509_verify_cert_error_string(v));
		return classify_verify(v);
	}
	snprintf(detail, n, "%s", what ? what : "handshake failed");
	switch (r) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		snprintf(detail, n, "the client presented no certificate (one from the peer's CA is required)");
		return R_NO_CERT;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_UNKNOWN_PROTOCOL:
		return R_PROTOCOL;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
		return R_CIPHER;
	default:
		return R_OTHER;
	}
}

static void peer_address(const SSL *ssl, char *out, size_t n)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	int fd = SSL_get_fd(ssl);
	snprintf(out, n, "unknown");
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&sa, &len))
		return;
	char host[INET6_ADDRSTRLEN] = "";
	if (sa.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&sa;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		snprintf(out, n, "%s:%u", host, ntohs(a->sin_port));
	} else if (sa.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		snprintf(out, n, "[%s]:%u", host, ntohs(a->sin6_port));
	}
}

static void on_info(const SSL *ssl, int where, int ret)
{
	/* a fatal alert the listener sends is the end of a refused handshake */
	if (!(where & SSL_CB_ALERT) || !(where & SSL_CB_WRITE) || (ret >> 8) != SSL3_AL_FATAL)
		return;
	if (SSL_is_init_finished(ssl))
		return;
	char detail[256], addr[80], cn[128] = "";
	enum reason r = classify(ssl, ERR_peek_last_error(), detail, sizeof detail);
	counts[r]++;
	X509 *cert = SSL_get0_peer_certificate(ssl);
	if (cert)
		X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
	int64_t now = lt_mono_ms();
	if (now - window_ms >= 10000) {
		if (suppressed)
			lt_log(LT_WARN, "tls.refused_suppressed", json_pack("{s:I}", "count", (json_int_t)suppressed),
			       "%lld more TLS handshakes were refused in the last 10 s (see lienthong_tls_refused_total)",
			       (long long)suppressed);
		window_ms = now;
		lines = 0;
		suppressed = 0;
	}
	if (lines >= LT_TLS_REFUSED_LINES) {
		suppressed++;
		return;
	}
	lines++;
	peer_address(ssl, addr, sizeof addr);
	lt_log(LT_WARN, "tls.refused",
	       json_pack("{s:s,s:s,s:s,s:s?,s:s}", "address", addr, "reason", reason_names[r], "detail", detail,
			 "client_cn", cn[0] ? cn : NULL, "alert", SSL_alert_desc_string_long(ret)),
	       "TLS handshake from %s refused (%s): %s", addr, reason_names[r], detail);
}

void lt_tls_refusals_watch(SSL *ssl)
{
	if (ssl)
		SSL_set_info_callback(ssl, on_info);
}

void lt_tls_refusals_metrics(struct lt_buf *b)
{
	lt_buf_printf(b, "# HELP lienthong_tls_refused_total TLS handshakes the peer listener refused, by reason.\n"
			 "# TYPE lienthong_tls_refused_total counter\n");
	for (int i = 0; i < R_COUNT; i++)
		lt_buf_printf(b, "lienthong_tls_refused_total{reason=\"%s\"} %lld\n", reason_names[i], (long long)counts[i]);
}
