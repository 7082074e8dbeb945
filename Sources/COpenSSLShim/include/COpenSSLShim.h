#ifndef COPENSSL_SHIM_WRAPPERS_H
#define COPENSSL_SHIM_WRAPPERS_H
// Functions wrapping OpenSSL macros that Swift cannot import. Owned by the X509 module.
#include <openssl/crypto.h>
void cf_openssl_free(void *ptr);
#endif
