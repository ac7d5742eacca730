/* pkcs11_unplug.c — a PKCS#11 module for tests that passes every call to another module
 * (LT_UNPLUG_MODULE, e.g. SoftHSM2) except while the file LT_UNPLUG_FILE exists: then the
 * token is pulled out, as a USB token is:
 *   - C_GetSlotList with tokenPresent lists no slot, C_GetSlotInfo clears CKF_TOKEN_PRESENT;
 *   - what needs a token (C_GetTokenInfo, C_OpenSession, mechanisms) answers
 *     CKR_TOKEN_NOT_PRESENT;
 *   - every call on a session (login, find, get-attribute, sign, digest, random…) answers
 *     CKR_DEVICE_REMOVED.
 * When the file is gone again (the token put back), the first call closes every session of
 * the real module (C_CloseAllSessions on its slots): the handles opened before answer
 * CKR_SESSION_HANDLE_INVALID and the login is lost, as after a real unplug.
 * With LT_UNPLUG_SIGN_ONLY set, only signing answers CKR_DEVICE_REMOVED and sessions survive
 * (a token that refuses to sign for a while: locked, busy).
 * Built by tests/integration/harness.py (SoftHSM.unpluggable) with cc -shared. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST mine;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int was_out;             /* the token was seen pulled out since the last plug-back */

/* 1 while the token is out. On the first call after it is back, close every session. */
static int out(void)
{
	const char *f = getenv("LT_UNPLUG_FILE");
	int gone = f && access(f, F_OK) == 0;
	if (getenv("LT_UNPLUG_SIGN_ONLY"))
		return gone;    /* the sessions survive */
	pthread_mutex_lock(&lock);
	if (gone) {
		was_out = 1;
	} else if (was_out) {
		CK_SLOT_ID slots[64];
		CK_ULONG n = 64;
		was_out = 0;
		if (real->C_GetSlotList(CK_FALSE, slots, &n) == CKR_OK)
			for (CK_ULONG i = 0; i < n; i++)
				real->C_CloseAllSessions(slots[i]);
	}
	pthread_mutex_unlock(&lock);
	return gone;
}

static int sign_only(void)
{
	return getenv("LT_UNPLUG_SIGN_ONLY") != NULL;
}

/* A call on a session: CKR_DEVICE_REMOVED while out. */
#define ON_SESSION(name, params, args) \
	static CK_RV w_##name params { return !sign_only() && out() ? CKR_DEVICE_REMOVED : real->name args; }
/* A signing call: CKR_DEVICE_REMOVED while out, in both modes. */
#define SIGNING(name, params, args) \
	static CK_RV w_##name params { return out() ? CKR_DEVICE_REMOVED : real->name args; }
/* A call on a slot's token: CKR_TOKEN_NOT_PRESENT while out. */
#define ON_TOKEN(name, params, args) \
	static CK_RV w_##name params { return !sign_only() && out() ? CKR_TOKEN_NOT_PRESENT : real->name args; }

typedef CK_SESSION_HANDLE S;
typedef CK_OBJECT_HANDLE O;

ON_TOKEN(C_GetTokenInfo, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), (s, i))
ON_TOKEN(C_GetMechanismList, (CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR m, CK_ULONG_PTR n), (s, m, n))
ON_TOKEN(C_GetMechanismInfo, (CK_SLOT_ID s, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i), (s, t, i))
ON_TOKEN(C_OpenSession, (CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY cb, CK_SESSION_HANDLE_PTR h),
	 (s, f, a, cb, h))
ON_TOKEN(C_CloseAllSessions, (CK_SLOT_ID s), (s))
ON_SESSION(C_CloseSession, (S s), (s))
ON_SESSION(C_GetSessionInfo, (S s, CK_SESSION_INFO_PTR i), (s, i))
ON_SESSION(C_Login, (S s, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n), (s, u, p, n))
ON_SESSION(C_Logout, (S s), (s))
ON_SESSION(C_GetAttributeValue, (S s, O o, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, o, t, n))
ON_SESSION(C_FindObjectsInit, (S s, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, t, n))
ON_SESSION(C_FindObjects, (S s, CK_OBJECT_HANDLE_PTR o, CK_ULONG m, CK_ULONG_PTR n), (s, o, m, n))
ON_SESSION(C_FindObjectsFinal, (S s), (s))
ON_SESSION(C_DecryptInit, (S s, CK_MECHANISM_PTR m, O k), (s, m, k))
ON_SESSION(C_Decrypt, (S s, CK_BYTE_PTR i, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, i, n, o, on))
ON_SESSION(C_EncryptInit, (S s, CK_MECHANISM_PTR m, O k), (s, m, k))
ON_SESSION(C_Encrypt, (S s, CK_BYTE_PTR i, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, i, n, o, on))
ON_SESSION(C_DigestInit, (S s, CK_MECHANISM_PTR m), (s, m))
ON_SESSION(C_Digest, (S s, CK_BYTE_PTR i, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, i, n, o, on))
ON_SESSION(C_GenerateRandom, (S s, CK_BYTE_PTR o, CK_ULONG n), (s, o, n))
ON_SESSION(C_SeedRandom, (S s, CK_BYTE_PTR i, CK_ULONG n), (s, i, n))
SIGNING(C_SignInit, (S s, CK_MECHANISM_PTR m, O k), (s, m, k))
SIGNING(C_Sign, (S s, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR sig, CK_ULONG_PTR sn), (s, d, n, sig, sn))
SIGNING(C_SignUpdate, (S s, CK_BYTE_PTR d, CK_ULONG n), (s, d, n))
SIGNING(C_SignFinal, (S s, CK_BYTE_PTR sig, CK_ULONG_PTR sn), (s, sig, sn))

static CK_RV w_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
	if (present && !sign_only() && out()) {
		*n = 0;         /* no slot holds a token */
		return CKR_OK;
	}
	return real->C_GetSlotList(present, list, n);
}

static CK_RV w_C_GetSlotInfo(CK_SLOT_ID s, CK_SLOT_INFO_PTR i)
{
	CK_RV rv = real->C_GetSlotInfo(s, i);
	if (rv == CKR_OK && !sign_only() && out())
		i->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
	return rv;
}

#define USE(name) mine.name = w_##name

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR outp)
{
	if (!real) {
		const char *path = getenv("LT_UNPLUG_MODULE");
		void *h = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
		CK_C_GetFunctionList get = h ? (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList") : NULL;
		if (!get || get(&real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		mine = *real;
		USE(C_GetSlotList); USE(C_GetSlotInfo); USE(C_GetTokenInfo); USE(C_GetMechanismList);
		USE(C_GetMechanismInfo); USE(C_OpenSession); USE(C_CloseSession); USE(C_CloseAllSessions);
		USE(C_GetSessionInfo); USE(C_Login); USE(C_Logout); USE(C_GetAttributeValue);
		USE(C_FindObjectsInit); USE(C_FindObjects); USE(C_FindObjectsFinal); USE(C_DecryptInit);
		USE(C_Decrypt); USE(C_EncryptInit); USE(C_Encrypt); USE(C_DigestInit); USE(C_Digest);
		USE(C_GenerateRandom); USE(C_SeedRandom); USE(C_SignInit); USE(C_Sign); USE(C_SignUpdate);
		USE(C_SignFinal);
	}
	*outp = &mine;
	return CKR_OK;
}
