/// X.509 and crypto on OpenSSL 3 (see issue 5).
public enum X509Module {}
