#ifndef COPENSSL_SHIM_WRAPPERS_H
#define COPENSSL_SHIM_WRAPPERS_H
// Functions wrapping OpenSSL macros and variadic functions that Swift cannot
// import. Owned by the X509 module; nothing else should call them.
#include <stddef.h>
#include <stdint.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

void cf_openssl_free(void *ptr);

/// BIO_get_mem_data is a macro over BIO_ctrl.
long cf_bio_get_mem_data(BIO *bio, const char **data);

/// Key generation (EVP_PKEY_Q_keygen is variadic, EVP_EC_gen/EVP_RSA_gen are macros).
EVP_PKEY *cf_keygen_rsa(unsigned int bits);
EVP_PKEY *cf_keygen_ec(const char *curve);
EVP_PKEY *cf_keygen_ed25519(void);

/// Typed stack accessors (the sk_TYPE_* functions are macros).
int cf_sk_general_name_num(const GENERAL_NAMES *names);
const GENERAL_NAME *cf_sk_general_name_value(const GENERAL_NAMES *names, int index);
void cf_general_names_free(GENERAL_NAMES *names);
int cf_sk_asn1_object_num(const EXTENDED_KEY_USAGE *eku);
const ASN1_OBJECT *cf_sk_asn1_object_value(const EXTENDED_KEY_USAGE *eku, int index);
void cf_extended_key_usage_free(EXTENDED_KEY_USAGE *eku);

/// Builds a subjectAltName extension from DNS names and IP addresses and adds
/// it to the request. `kinds[i]` is 0 for a DNS name, 1 for an IP address
/// (whose bytes are `values[i]`, 4 or 16 long). Returns 1 on success.
int cf_req_add_subject_alt_names(X509_REQ *req, const char *const *values,
                                 const size_t *lengths, const int *kinds, size_t count);

/// Reads a PEM private key without ever prompting on a terminal. `passphrase`
/// may be NULL. `*asked` is set to 1 when the key was encrypted (OpenSSL asked
/// for a passphrase).
EVP_PKEY *cf_read_private_key(BIO *bio, const char *passphrase, size_t passphrase_length, int *asked);

#endif
