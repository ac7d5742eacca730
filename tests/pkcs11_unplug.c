/* pkcs11_unplug.c — a PKCS#11 module for tests that passes every call to another module
 * (LT_UNPLUG_MODULE, e.g. SoftHSM2) except signing while the file LT_UNPLUG_FILE exists:
 * then C_SignInit, C_Sign, C_SignUpdate and C_SignFinal answer CKR_DEVICE_REMOVED, as a
 * USB token pulled out does, and sign again once the file is gone (the token put back).
 * Built by tests/integration/test_token.py with cc -shared. */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST mine;

static int unplugged(void)
{
	const char *f = getenv("LT_UNPLUG_FILE");
	return f && access(f, F_OK) == 0;
}

static CK_RV sign_init(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return unplugged() ? CKR_DEVICE_REMOVED : real->C_SignInit(s, m, k);
}

static CK_RV sign(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR sig, CK_ULONG_PTR sn)
{
	return unplugged() ? CKR_DEVICE_REMOVED : real->C_Sign(s, d, n, sig, sn);
}

static CK_RV sign_update(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG n)
{
	return unplugged() ? CKR_DEVICE_REMOVED : real->C_SignUpdate(s, d, n);
}

static CK_RV sign_final(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG_PTR sn)
{
	return unplugged() ? CKR_DEVICE_REMOVED : real->C_SignFinal(s, sig, sn);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	if (!real) {
		const char *path = getenv("LT_UNPLUG_MODULE");
		void *h = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
		CK_C_GetFunctionList get = h ? (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList") : NULL;
		if (!get || get(&real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		mine = *real;
		mine.C_SignInit = sign_init;
		mine.C_Sign = sign;
		mine.C_SignUpdate = sign_update;
		mine.C_SignFinal = sign_final;
	}
	*out = &mine;
	return CKR_OK;
}
