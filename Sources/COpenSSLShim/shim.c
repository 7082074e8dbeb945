#include "COpenSSLShim.h"
void cf_openssl_free(void *ptr) { OPENSSL_free(ptr); }
