-- ACME certificate profiles (draft-ietf-acme-profiles) and ARI (RFC 9773) polling.
-- `profile`: what the issue request asked for (checked against the CA's meta.profiles).
-- `ari_*`: the CA's last suggested renewal window for the current version, when it was
-- asked and when to ask again (the scheduler polls, honouring Retry-After).
ALTER TABLE certificates
    ADD COLUMN profile text,
    ADD COLUMN ari_window_start timestamptz,
    ADD COLUMN ari_window_end timestamptz,
    ADD COLUMN ari_explanation_url text,
    ADD COLUMN ari_checked_at timestamptz,
    ADD COLUMN ari_next_check_at timestamptz;
CREATE INDEX certificates_ari_due ON certificates (ari_next_check_at)
    WHERE deleted_at IS NULL AND source = 'acme' AND state IN ('valid', 'renewing', 'expired');
