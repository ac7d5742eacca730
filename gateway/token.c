/* token.c — PKCS#11 keys through the pkcs11 engine (see token.h). The engine is loaded
 * once; every use of its control interface is under one lock. */
#include "token.h"
#include "keys.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>

#define MAX_PIN 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ENGINE *engine;              /* initialised once, kept to the end of the process */
static char engine_module[512];     /* the module it was initialised with ("" = its default) */
static char cfg_module[512];
static char cfg_pin_file[512];

static struct {
	int down;
	int64_t since;
	char why[256];
} state;

int lt_token_is_uri(const char *s)
{
	return s && strncmp(s, "pkcs11:", 7) == 0;
}

void lt_token_configure(const char *module, const char *pin_file)
{
	pthread_mutex_lock(&lock);
	snprintf(cfg_module, sizeof cfg_module, "%s", module ? module : "");
	snprintf(cfg_pin_file, sizeof cfg_pin_file, "%s", pin_file ? pin_file : "");
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

/* Load and initialise the engine with module (locked). */
static int engine_up(const char *module, const char *shown, struct lt_err *err)
{
	if (engine) {
		if (strcmp(module, engine_module))
			return lt_err_set(err, LT_ECONFIG, "key %s: PKCS#11 module %s, but this process already uses %s "
					  "(one module per gateway)", shown, *module ? module : "(p11-kit proxy)",
					  *engine_module ? engine_module : "(p11-kit proxy)");
		return LT_OK;
	}
	ENGINE_load_builtin_engines();
	ENGINE *e = ENGINE_by_id("pkcs11");
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
	snprintf(engine_module, sizeof engine_module, "%s", module);
	return LT_OK;
}

EVP_PKEY *lt_token_key_load(const char *uri, struct lt_err *err)
{
	char shown[512], module[512], pin[MAX_PIN] = "", q[8];
	EVP_PKEY *key = NULL;
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
	pthread_mutex_lock(&lock);
	uri_query(uri, "module-path", module, sizeof module);
	if (!module[0])
		snprintf(module, sizeof module, "%s", cfg_module);
	if (!cfg_pin_file[0]) {
		lt_err_set(err, LT_ECONFIG, "key %s is on a token: token_pin_file (a file holding its PIN, mode 0600) "
			   "is required in [gateway]", shown);
		goto out;
	}
	if (lt_secret_line(cfg_pin_file, "token PIN", pin, sizeof pin, err) != LT_OK)
		goto out;
	if (!pin[0]) {
		lt_err_set(err, LT_ECONFIG, "token PIN file %s is empty", cfg_pin_file);
		goto out;
	}
	ERR_clear_error();
	if (engine_up(module, shown, err) != LT_OK)
		goto out;
	if (!ENGINE_ctrl_cmd_string(engine, "PIN", pin, 0)) {
		lt_err_set(err, LT_ECONFIG, "key %s: the pkcs11 engine does not take a PIN: %s", shown, ossl_reason());
		goto out;
	}
	key = ENGINE_load_private_key(engine, uri, NULL, NULL);
	if (!key)
		lt_err_set(err, LT_ECONFIG, "key %s: cannot use it on the token (no such token or key, wrong PIN in %s, "
			   "or the token is locked): %s", shown, cfg_pin_file, ossl_reason());
	/* forget the PIN in the engine: a later login must read the file again */
	ENGINE_ctrl_cmd_string(engine, "PIN", "", 0);
out:
	OPENSSL_cleanse(pin, sizeof pin);
	pthread_mutex_unlock(&lock);
	ERR_clear_error();
	return key;
}

void lt_token_failed(const char *why)
{
	pthread_mutex_lock(&lock);
	if (!state.down) {
		state.down = 1;
		state.since = (int64_t)time(NULL);
	}
	snprintf(state.why, sizeof state.why, "%s", why ? why : "the token did not sign");
	pthread_mutex_unlock(&lock);
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
