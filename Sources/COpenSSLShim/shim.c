#include "COpenSSLShim.h"
#include <string.h>
#include <openssl/pem.h>

void cf_openssl_free(void *ptr) { OPENSSL_free(ptr); }

long cf_bio_get_mem_data(BIO *bio, const char **data) {
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    *data = p;
    return n;
}

EVP_PKEY *cf_keygen_rsa(unsigned int bits) { return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits); }
EVP_PKEY *cf_keygen_ec(const char *curve) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve); }
EVP_PKEY *cf_keygen_ed25519(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); }

int cf_sk_general_name_num(const GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
const GENERAL_NAME *cf_sk_general_name_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}
void cf_general_names_free(GENERAL_NAMES *names) { GENERAL_NAMES_free(names); }
int cf_sk_asn1_object_num(const EXTENDED_KEY_USAGE *eku) { return sk_ASN1_OBJECT_num(eku); }
const ASN1_OBJECT *cf_sk_asn1_object_value(const EXTENDED_KEY_USAGE *eku, int index) {
    return sk_ASN1_OBJECT_value(eku, index);
}
void cf_extended_key_usage_free(EXTENDED_KEY_USAGE *eku) { EXTENDED_KEY_USAGE_free(eku); }

int cf_req_add_subject_alt_names(X509_REQ *req, const char *const *values,
                                 const size_t *lengths, const int *kinds, size_t count) {
    int ok = 0;
    GENERAL_NAMES *names = GENERAL_NAMES_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    if (names == NULL || exts == NULL) goto done;
    for (size_t i = 0; i < count; i++) {
        GENERAL_NAME *name = GENERAL_NAME_new();
        ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
        if (name == NULL || value == NULL
            || !ASN1_STRING_set(value, values[i], (int)lengths[i])) {
            GENERAL_NAME_free(name);
            ASN1_OCTET_STRING_free(value);
            goto done;
        }
        if (kinds[i] == 1) {
            GENERAL_NAME_set0_value(name, GEN_IPADD, value);
        } else {
            // An IA5String and an OCTET STRING share ASN1_STRING; only the tag differs.
            value->type = V_ASN1_IA5STRING;
            GENERAL_NAME_set0_value(name, GEN_DNS, value);
        }
        if (!sk_GENERAL_NAME_push(names, name)) {
            GENERAL_NAME_free(name);
            goto done;
        }
    }
    X509_EXTENSION *ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
    if (ext == NULL) goto done;
    if (!sk_X509_EXTENSION_push(exts, ext)) {
        X509_EXTENSION_free(ext);
        goto done;
    }
    ok = X509_REQ_add_extensions(req, exts);
done:
    GENERAL_NAMES_free(names);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return ok;
}

struct cf_passphrase {
    const char *bytes;
    size_t length;
    int asked;
};

// Never prompts: returns the supplied passphrase or fails, and records that
// one was needed so Swift can report `key_encrypted` instead of a parse error.
static int cf_passphrase_callback(char *buf, int size, int rwflag, void *u) {
    (void)rwflag;
    struct cf_passphrase *p = u;
    p->asked = 1;
    if (p->bytes == NULL || size < 0 || p->length > (size_t)size) return -1;
    memcpy(buf, p->bytes, p->length);
    return (int)p->length;
}

EVP_PKEY *cf_read_private_key(BIO *bio, const char *passphrase, size_t passphrase_length, int *asked) {
    struct cf_passphrase p = { passphrase, passphrase_length, 0 };
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, cf_passphrase_callback, &p);
    *asked = p.asked;
    return key;
}
