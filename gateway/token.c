/* token.c — PKCS#11 keys through the pkcs11 engine (see token.h).
 *
 * What the callers hold is a stand-in key (a "proxy": the token key's public part, and an
 * RSA_METHOD / EC_KEY_METHOD whose private operations are done by the engine's key of the
 * moment). The engine's keys are held here only, so the token can be re-opened under the
 * signers' feet: after a token is pulled out and put back, libp11 (0.4.12) keeps answering
 * with its old session handles (CKR_SESSION_HANDLE_INVALID) forever, and loading the key
 * again on the same engine fails ("Unable to enumerate private keys") — found with
 * tests/pkcs11_unplug.c. What works: drop every reference to the engine's keys (a failed
 * load also drops libp11's cached one), ENGINE_finish — libp11 then releases its slots and
 * C_Finalizes the module, but only when the engine's last functional reference goes: a key
 * it loaded holds one, and so would every RSA/EC object of the process were the engine a
 * default one (engine_unlisted) — then ENGINE_init, log in with the PIN file read again,
 * ENGINE_load_private_key again.
 *
 * Locks: `lock` is short (the keys of the moment, the users count, the state); the loop
 * thread may take it (a TLS handshake with a token key). `engine_lock` serialises the
 * engine's control interface (loads, re-opening), on workers only. */
#include "token.h"
#include "keys.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <openssl/engine.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#define MAX_PIN 256
#define MAX_KEYS 16         /* token keys of a process (sign_key, tls_key: two in practice) */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;     /* users fell to 0 */
static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static ENGINE *engine;              /* loaded once, kept to the end of the process */
static int engine_live;             /* it holds a functional reference (ENGINE_init) */
static pthread_t loop_thread;       /* the thread of the first configuration: the loop's */
static int loop_known;
static char engine_module[512];     /* the module it was initialised with ("" = its default) */
static char cfg_module[512];
static char cfg_pin_file[512];

#define REOPEN_EVERY_MS 1000      /* at most one re-open a second */
#define REOPEN_LOG_EVERY_MS 60000 /* a failing re-open is logged again after a minute */

/* A key on the token: its URI, the engine's key of the moment (NULL while the token is
 * re-opened or could not be), and the proxy handed out. Kept to the end of the process. */
struct tkey {
	char *uri;
	EVP_PKEY *real;
	EVP_PKEY *proxy;
	struct tkey *next;
};

static struct tkey *keys;           /* under lock */
static int users;                   /* private operations under way with a real key (lock) */
static int reopening;               /* (lock) */

static struct {
	int down;
	int64_t since;
	char why[256];
	int64_t last_reopen_ms;         /* (mono) the last re-open attempt */
	int64_t last_fail_log_ms;       /* (mono) the last token.reopen_failed line */
	char last_fail_why[400];        /* and its reason: a new reason is logged at once */
} state;

int lt_token_is_uri(const char *s)
{
	return s && strncmp(s, "pkcs11:", 7) == 0;
}

void lt_token_configure(const char *module, const char *pin_file)
{
	pthread_mutex_lock(&engine_lock);       /* what loads and re-opens read */
	snprintf(cfg_module, sizeof cfg_module, "%s", module ? module : "");
	snprintf(cfg_pin_file, sizeof cfg_pin_file, "%s", pin_file ? pin_file : "");
	pthread_mutex_unlock(&engine_lock);
	pthread_mutex_lock(&lock);
	if (!loop_known) {      /* the first configuration is loaded at start, on the loop's thread */
		loop_thread = pthread_self();
		loop_known = 1;
	}
	pthread_mutex_unlock(&lock);
}

/* The value of query attribute `name` of uri into out ("" when absent). */
static void uri_query(const char *uri, const char *name, char *out, size_t n)
{
	const char *q = strchr(uri, '?');
	size_t len = strlen(name);
	out[0] = '\0';
	for (const char *p = q; p && *p; p = strchr(p + 1, '&')) {
		const char *a = p + 1;
		if (strncmp(a, name, len) == 0 && a[len] == '=') {
			size_t v = strcspn(a + len + 1, "&");
			snprintf(out, n, "%.*s", (int)v, a + len + 1);
			return;
		}
	}
}

/* The URI as it may be shown: without its query (module-path may be long, and a
 * pin-source or pin-value must never be shown). */
static void uri_shown(const char *uri, char *out, size_t n)
{
	snprintf(out, n, "%.*s", (int)strcspn(uri, "?"), uri);
}

static const char *ossl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());
	return r ? r : "no reason given";
}

/* The pkcs11 engine, loaded off OpenSSL's list of engines (ENGINE_by_id would list it).
 * Listed, anyone's ENGINE_register_all_complete() (libcurl's OpenSSL set-up runs it) makes
 * it the default RSA and EC engine of the process: every RSA or EC object and context then
 * holds a functional reference to it (we saw some twenty), so ENGINE_finish never reaches
 * libp11 and the token cannot be re-opened — and every signature of the process goes
 * through libp11's methods. */
static ENGINE *engine_unlisted(void)
{
	char dir[512];
	const char *env = getenv("OPENSSL_ENGINES");
	const char *v = OpenSSL_version(OPENSSL_ENGINES_DIR);     /* ENGINESDIR: "/usr/lib/…" */
	const char *q = v ? strchr(v, '"') : NULL;
	if (env && *env)
		snprintf(dir, sizeof dir, "%s", env);
	else if (q)
		snprintf(dir, sizeof dir, "%.*s", (int)strcspn(q + 1, "\""), q + 1);
	else
		return NULL;
	ENGINE_load_builtin_engines();
	ENGINE *e = ENGINE_by_id("dynamic");
	if (e && ENGINE_ctrl_cmd_string(e, "ID", "pkcs11", 0) && ENGINE_ctrl_cmd_string(e, "DIR_LOAD", "2", 0) &&
	    ENGINE_ctrl_cmd_string(e, "DIR_ADD", dir, 0) && ENGINE_ctrl_cmd_string(e, "LIST_ADD", "0", 0) &&
	    ENGINE_ctrl_cmd_string(e, "LOAD", NULL, 0))
		return e;
	ENGINE_free(e);
	return NULL;
}

/* Load and initialise the engine with module (locked). */
static int engine_up(const char *module, const char *shown, struct lt_err *err)
{
	if (engine) {
		if (strcmp(module, engine_module))
			return lt_err_set(err, LT_ECONFIG, "key %s: PKCS#11 module %s, but this process already uses %s "
					  "(one module per gateway)", shown, *module ? module : "(p11-kit proxy)",
					  *engine_module ? engine_module : "(p11-kit proxy)");
		if (!engine_live && !ENGINE_init(engine))
			return lt_err_set(err, LT_ECONFIG, "key %s: cannot load PKCS#11 module %s: %s", shown,
					  *module ? module : "(p11-kit proxy)", ossl_reason());
		engine_live = 1;
		return LT_OK;
	}
	ENGINE *e = engine_unlisted();
	if (!e)
		return lt_err_set(err, LT_ECONFIG, "key %s: OpenSSL's pkcs11 engine is not installed (Debian package "
				  "libengine-pkcs11-openssl): %s", shown, ossl_reason());
	if (*module && !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0)) {
		ENGINE_free(e);
		return lt_err_set(err, LT_ECONFIG, "key %s: the pkcs11 engine refuses module %s: %s", shown, module,
				  ossl_reason());
	}
	if (!ENGINE_init(e)) {
		ENGINE_free(e);
		return lt_err_set(err, LT_ECONFIG, "key %s: cannot load PKCS#11 module %s: %s", shown,
				  *module ? module : "(p11-kit proxy)", ossl_reason());
	}
	engine = e;     /* its structural and functional references are kept */
	engine_live = 1;
	snprintf(engine_module, sizeof engine_module, "%s", module);
	return LT_OK;
}

/* ---- the proxy keys --------------------------------------------------------- */

static int rsa_idx = -1, ec_idx = -1;
static int err_lib;         /* our OpenSSL error library: a reason signers can show */
static ERR_STRING_DATA err_reasons[] = {
	{ 1, "the token is away; it is re-opened once a second" },
	{ 0, NULL },
};
static RSA_METHOD *rsa_meth;
static EC_KEY_METHOD *ec_meth;

/* The engine's key behind a proxy's tkey, counted as a user; NULL (with an OpenSSL error)
 * while there is none. Any thread, never blocks for long. */
static EVP_PKEY *real_get(struct tkey *k)
{
	EVP_PKEY *r = NULL;
	pthread_mutex_lock(&lock);
	if (k && k->real && !reopening) {
		r = k->real;
		users++;
	}
	pthread_mutex_unlock(&lock);
	if (!r)
		ERR_raise(err_lib, 1);
	return r;
}

static void real_put(void)
{
	pthread_mutex_lock(&lock);
	if (--users == 0)
		pthread_cond_broadcast(&idle);
	pthread_mutex_unlock(&lock);
}

/* Whatever signed (a TLS handshake too): the token's state follows. */
static void signed_by_token(int ok)
{
	if (ok) {
		lt_token_ok();
	} else {
		const char *r = ERR_reason_error_string(ERR_peek_last_error());
		lt_token_failed(r ? r : "the token did not sign");
	}
}

static int proxy_rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	EVP_PKEY *r = real_get(RSA_get_ex_data(rsa, rsa_idx));
	if (!r)
		return -1;
	int n = RSA_private_encrypt(flen, from, to, (RSA *)EVP_PKEY_get0_RSA(r), padding);
	real_put();
	signed_by_token(n > 0);
	return n;
}

static int proxy_rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	EVP_PKEY *r = real_get(RSA_get_ex_data(rsa, rsa_idx));
	if (!r)
		return -1;
	int n = RSA_private_decrypt(flen, from, to, (RSA *)EVP_PKEY_get0_RSA(r), padding);
	real_put();
	return n;
}

static int proxy_ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig, unsigned int *siglen,
			 const BIGNUM *kinv, const BIGNUM *rp, EC_KEY *ec)
{
	EVP_PKEY *r = real_get(EC_KEY_get_ex_data(ec, ec_idx));
	if (!r)
		return 0;
	int ok = ECDSA_sign_ex(type, dgst, dlen, sig, siglen, kinv, rp, (EC_KEY *)EVP_PKEY_get0_EC_KEY(r));
	real_put();
	signed_by_token(ok == 1);
	return ok;
}

static ECDSA_SIG *proxy_ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *rp,
				    EC_KEY *ec)
{
	EVP_PKEY *r = real_get(EC_KEY_get_ex_data(ec, ec_idx));
	if (!r)
		return NULL;
	ECDSA_SIG *sig = ECDSA_do_sign_ex(dgst, dlen, kinv, rp, (EC_KEY *)EVP_PKEY_get0_EC_KEY(r));
	real_put();
	signed_by_token(sig != NULL);
	return sig;
}

static int proxy_ec_sign_setup(EC_KEY *ec, BN_CTX *ctx, BIGNUM **kinv, BIGNUM **rp)
{
	(void)ec, (void)ctx, (void)kinv, (void)rp;
	return 0;       /* the token makes its own nonce */
}

/* Set up the methods once (under engine_lock). */
static int methods_up(void)
{
	if (rsa_meth)
		return 0;
	err_lib = ERR_get_next_error_library();
	ERR_load_strings(err_lib, err_reasons);
	rsa_idx = RSA_get_ex_new_index(0, "lienthong token key", NULL, NULL, NULL);
	ec_idx = EC_KEY_get_ex_new_index(0, "lienthong token key", NULL, NULL, NULL);
	RSA_METHOD *rm = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	EC_KEY_METHOD *em = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (rsa_idx < 0 || ec_idx < 0 || !rm || !em) {
		RSA_meth_free(rm);
		EC_KEY_METHOD_free(em);
		return -1;
	}
	RSA_meth_set1_name(rm, "lienthong token key");
	RSA_meth_set_priv_enc(rm, proxy_rsa_priv_enc);
	RSA_meth_set_priv_dec(rm, proxy_rsa_priv_dec);
	EC_KEY_METHOD_set_sign(em, proxy_ec_sign, proxy_ec_sign_setup, proxy_ec_sign_sig);
	rsa_meth = rm;
	ec_meth = em;
	return 0;
}

/* A proxy for the engine's key real (its public part; private operations go to k->real). */
static EVP_PKEY *proxy_new(struct tkey *k, EVP_PKEY *real)
{
	EVP_PKEY *p = EVP_PKEY_new();
	if (!p || methods_up() < 0)
		goto fail;
	if (EVP_PKEY_get_base_id(real) == EVP_PKEY_RSA) {
		const RSA *rr = EVP_PKEY_get0_RSA(real);
		const BIGNUM *n, *e;
		RSA *rsa = RSA_new();
		RSA_get0_key(rr, &n, &e, NULL);
		BIGNUM *n2 = BN_dup(n), *e2 = BN_dup(e);
		if (!rsa || !n2 || !e2 || RSA_set0_key(rsa, n2, e2, NULL) != 1) {
			BN_free(n2);
			BN_free(e2);
			RSA_free(rsa);
			goto fail;
		}
		RSA_set_method(rsa, rsa_meth);
		RSA_set_flags(rsa, RSA_FLAG_EXT_PKEY);
		RSA_set_ex_data(rsa, rsa_idx, k);
		if (EVP_PKEY_assign_RSA(p, rsa) != 1) {
			RSA_free(rsa);
			goto fail;
		}
	} else if (EVP_PKEY_get_base_id(real) == EVP_PKEY_EC) {
		const EC_KEY *re = EVP_PKEY_get0_EC_KEY(real);
		EC_KEY *ec = EC_KEY_new();
		if (!ec || EC_KEY_set_method(ec, ec_meth) != 1 || EC_KEY_set_group(ec, EC_KEY_get0_group(re)) != 1 ||
		    EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(re)) != 1) {
			EC_KEY_free(ec);
			goto fail;
		}
		EC_KEY_set_ex_data(ec, ec_idx, k);
		if (EVP_PKEY_assign_EC_KEY(p, ec) != 1) {
			EC_KEY_free(ec);
			goto fail;
		}
	} else {
		goto fail;
	}
	return p;
fail:
	EVP_PKEY_free(p);
	return NULL;
}

/* ---- loading ------------------------------------------------------------------ */

/* The PIN from the PIN file into pin (engine_lock held). */
static int pin_read(const char *shown, char *pin, size_t n, struct lt_err *err)
{
	if (!cfg_pin_file[0])
		return lt_err_set(err, LT_ECONFIG, "key %s is on a token: token_pin_file (a file holding its PIN, "
				  "mode 0600) is required in [gateway]", shown);
	if (lt_secret_line(cfg_pin_file, "token PIN", pin, n, err) != LT_OK)
		return LT_ECONFIG;
	if (!pin[0])
		return lt_err_set(err, LT_ECONFIG, "token PIN file %s is empty", cfg_pin_file);
	return LT_OK;
}

/* The engine's key for uri, logged in with pin (engine_lock held, engine up). */
static EVP_PKEY *engine_key(const char *uri, const char *shown, const char *pin, struct lt_err *err)
{
	ERR_clear_error();
	if (!ENGINE_ctrl_cmd_string(engine, "PIN", pin, 0)) {
		lt_err_set(err, LT_ECONFIG, "key %s: the pkcs11 engine does not take a PIN: %s", shown, ossl_reason());
		return NULL;
	}
	EVP_PKEY *key = ENGINE_load_private_key(engine, uri, NULL, NULL);
	if (!key)
		lt_err_set(err, LT_ECONFIG, "key %s: cannot use it on the token (no such token or key, wrong PIN in %s, "
			   "or the token is locked): %s", shown, cfg_pin_file, ossl_reason());
	/* forget the PIN in the engine: a later login must read the file again */
	ENGINE_ctrl_cmd_string(engine, "PIN", "", 0);
	return key;
}

EVP_PKEY *lt_token_key_load(const char *uri, struct lt_err *err)
{
	char shown[512], module[512], pin[MAX_PIN] = "", q[8];
	EVP_PKEY *proxy = NULL, *real = NULL;
	struct tkey *k;
	uri_shown(uri, shown, sizeof shown);
	uri_query(uri, "pin-value", q, sizeof q);
	if (q[0] || strstr(uri, "pin-value=")) {
		lt_err_set(err, LT_ECONFIG, "key %s: the URI carries a PIN (pin-value); put it in token_pin_file "
			   "(mode 0600) instead", shown);
		return NULL;
	}
	if (strstr(uri, "pin-source=")) {
		lt_err_set(err, LT_ECONFIG, "key %s: pin-source is not read; give the PIN file as token_pin_file",
			   shown);
		return NULL;
	}
	pthread_mutex_lock(&engine_lock);
	uri_query(uri, "module-path", module, sizeof module);
	if (!module[0])
		snprintf(module, sizeof module, "%s", cfg_module);
	if (pin_read(shown, pin, sizeof pin, err) != LT_OK)
		goto out;
	ERR_clear_error();
	if (engine_up(module, shown, err) != LT_OK)
		goto out;
	pthread_mutex_lock(&lock);
	for (k = keys; k && strcmp(k->uri, uri); k = k->next)
		;
	pthread_mutex_unlock(&lock);
	if (k) {        /* loaded before (another signer, a reload): its proxy */
		EVP_PKEY_up_ref(k->proxy);
		proxy = k->proxy;
		goto out;
	}
	size_t count = 0;
	for (struct tkey *c = keys; c; c = c->next)
		count++;
	if (count >= MAX_KEYS) {
		lt_err_set(err, LT_ECONFIG, "key %s: more than %d keys on tokens", shown, MAX_KEYS);
		goto out;
	}
	if (!(real = engine_key(uri, shown, pin, err)))
		goto out;
	if (!(k = calloc(1, sizeof *k)) || !(k->uri = strdup(uri)) || !(k->proxy = proxy_new(k, real))) {
		if (k)
			free(k->uri);
		free(k);
		EVP_PKEY_free(real);
		lt_err_set(err, LT_ECONFIG, "key %s: neither RSA nor EC, or out of memory", shown);
		goto out;
	}
	pthread_mutex_lock(&lock);
	k->real = real;
	k->next = keys;
	keys = k;
	pthread_mutex_unlock(&lock);
	EVP_PKEY_up_ref(k->proxy);      /* one for the list, one for the caller */
	proxy = k->proxy;
out:
	OPENSSL_cleanse(pin, sizeof pin);
	pthread_mutex_unlock(&engine_lock);
	ERR_clear_error();
	return proxy;
}

/* ---- re-opening ----------------------------------------------------------------- */

/* Whether real signs (a probe over a fixed digest): the session behind it works. */
static int probe(EVP_PKEY *real)
{
	unsigned char md[32] = { 0 }, sig[1024];
	size_t len = sizeof sig;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(real, NULL);
	int ok = c && EVP_PKEY_sign_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
		 EVP_PKEY_sign(c, sig, &len, md, sizeof md) == 1;
	EVP_PKEY_CTX_free(c);
	return ok;
}

/* Load every key again into fresh[] (engine_lock held); 0, or a reason in why. */
static int load_all(EVP_PKEY **fresh, size_t n, const char *pin, char *why, size_t wn)
{
	size_t i = 0;
	for (struct tkey *k = keys; k && i < n; k = k->next, i++) {
		char shown[512];
		struct lt_err err = { 0 };
		uri_shown(k->uri, shown, sizeof shown);
		if (!(fresh[i] = engine_key(k->uri, shown, pin, &err))) {
			snprintf(why, wn, "%s", err.msg);
			return -1;
		}
		if (EVP_PKEY_eq(fresh[i], k->proxy) != 1) {
			snprintf(why, wn, "key %s on the token put back is another key", shown);
			return -1;
		}
		if (!probe(fresh[i])) {
			snprintf(why, wn, "key %s: the token does not sign yet: %s", shown, ossl_reason());
			return -1;
		}
	}
	return 0;
}

static void free_all(EVP_PKEY **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		EVP_PKEY_free(v[i]);
		v[i] = NULL;
	}
}

/* Re-open the token (engine_lock held): 0 or a reason in why. */
static int reopen(char *why, size_t wn)
{
	EVP_PKEY *old[MAX_KEYS] = { 0 }, *fresh[MAX_KEYS] = { 0 };
	char pin[MAX_PIN] = "";
	size_t n = 0;
	struct lt_err err = { 0 };
	int rc = -1;

	/* detach the engine's keys and wait for the operations under way with them */
	pthread_mutex_lock(&lock);
	reopening = 1;
	for (struct tkey *k = keys; k && n < MAX_KEYS; k = k->next) {
		old[n++] = k->real;
		k->real = NULL;
	}
	while (users > 0)
		pthread_cond_wait(&idle, &lock);
	pthread_mutex_unlock(&lock);
	free_all(old, n);
	if (pin_read("(re-open)", pin, sizeof pin, &err) != LT_OK) {
		snprintf(why, wn, "%s", err.msg);
		goto out;
	}
	/* Round 0, on the engine as it is: works when the sessions survived (a token that
	 * refused to sign for a while); when they did not, the failed load makes libp11 drop
	 * its cached key. Then a fresh start: no key of the engine is alive now, so finishing it
	 * makes libp11 release its slots and sessions and finalize the module, and init loads
	 * it again. Round 2: a key loaded in round 0 whose probe failed stayed cached by libp11
	 * and kept the engine from finishing in round 1; that round's failed load dropped it. */
	for (int round = 0; round < 3; round++) {
		if (round == 0 && !engine_live)
			continue;
		if (round > 0) {
			if (engine_live)
				ENGINE_finish(engine);
			engine_live = 0;
			ERR_clear_error();
			if (!ENGINE_init(engine)) {
				snprintf(why, wn, "cannot load PKCS#11 module %s again: %s",
					 *engine_module ? engine_module : "(p11-kit proxy)", ossl_reason());
				goto out;
			}
			engine_live = 1;
		}
		if (load_all(fresh, n, pin, why, wn) == 0) {
			rc = 0;
			goto out;
		}
		free_all(fresh, n);
	}
out:
	OPENSSL_cleanse(pin, sizeof pin);
	pthread_mutex_lock(&lock);
	size_t i = 0;
	for (struct tkey *k = keys; k && i < n; k = k->next, i++)
		k->real = fresh[i];     /* NULL when the re-open failed: the next one tries again */
	reopening = 0;
	pthread_mutex_unlock(&lock);
	ERR_clear_error();
	return rc;
}

void lt_token_retry(void)
{
	if (!__atomic_load_n(&state.down, __ATOMIC_RELAXED))
		return;
	if (loop_known && pthread_equal(pthread_self(), loop_thread))
		return;         /* never on the loop: a worker's signature re-opens it */
	int64_t now = lt_mono_ms();
	pthread_mutex_lock(&lock);
	int due = state.down && now - state.last_reopen_ms >= REOPEN_EVERY_MS;
	if (due)
		state.last_reopen_ms = now;
	pthread_mutex_unlock(&lock);
	if (!due || pthread_mutex_trylock(&engine_lock) != 0)
		return;         /* another worker is at it */
	char why[400] = "";
	int rc = engine ? reopen(why, sizeof why) : (snprintf(why, sizeof why, "the pkcs11 engine is not loaded"), -1);
	pthread_mutex_unlock(&engine_lock);
	pthread_mutex_lock(&lock);
	int64_t away = (int64_t)time(NULL) - state.since;
	int log_fail = rc && (state.last_fail_log_ms == 0 || now - state.last_fail_log_ms >= REOPEN_LOG_EVERY_MS ||
			      strcmp(why, state.last_fail_why));
	if (log_fail) {
		state.last_fail_log_ms = now;
		snprintf(state.last_fail_why, sizeof state.last_fail_why, "%s", why);
	}
	if (!rc) {              /* the probe signed: the token is back */
		state.last_fail_log_ms = 0;
		state.down = 0;
	}
	pthread_mutex_unlock(&lock);
	if (!rc)
		lt_log(LT_INFO, "token.reopened", json_pack("{s:I}", "away_s", (json_int_t)away),
		       "the signing key's token is back after %lld s: re-opened, signing resumes", (long long)away);
	else if (log_fail)
		lt_log(LT_WARN, "token.reopen_failed", json_pack("{s:s,s:I}", "error", why, "away_s", (json_int_t)away),
		       "the signing key's token could not be re-opened (%s); trying again", why);
}

/* The re-opener of last resort: when no worker signs with the token (only a TLS key is on
 * it, or the listener's handshakes are what fail), this thread re-opens it, once a second,
 * until it signs again. Never the loop's thread. */
static int watcher;     /* (lock) running */

static void *watch(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&lock);
		int down = state.down;
		if (!down)
			watcher = 0;
		pthread_mutex_unlock(&lock);
		if (!down)
			return NULL;
		lt_token_retry();
	}
}

void lt_token_failed(const char *why)
{
	pthread_t t;
	pthread_mutex_lock(&lock);
	if (!state.down) {
		state.down = 1;
		state.since = (int64_t)time(NULL);
	}
	snprintf(state.why, sizeof state.why, "%s", why ? why : "the token did not sign");
	int start = !watcher && keys;
	if (start)
		watcher = 1;
	pthread_mutex_unlock(&lock);
	if (start) {
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, watch, NULL) != 0) {
			pthread_mutex_lock(&lock);
			watcher = 0;
			pthread_mutex_unlock(&lock);
		}
		pthread_attr_destroy(&a);
	}
}

void lt_token_ok(void)
{
	if (!__atomic_load_n(&state.down, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&lock);
	state.down = 0;
	pthread_mutex_unlock(&lock);
}

int lt_token_unavailable(char *why, size_t n)
{
	pthread_mutex_lock(&lock);
	int down = state.down;
	if (down)
		snprintf(why, n, "the signing key's token did not sign for %lld s: %s",
			 (long long)((int64_t)time(NULL) - state.since), state.why);
	pthread_mutex_unlock(&lock);
	return down;
}
