-- Tenant boundaries.
-- `system`: the scope that creates projects, held only by keys made with
-- `certfleet keys create --system` (a project's `admin` does not imply it).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (scopes <@ ARRAY['certificates:read', 'certificates:write', 'keys:export', 'admin', 'system']);

-- The project the NGINX Unit socket manages is one the API created for it, never a
-- project of the same name someone else made first (its admin could export the keys
-- uploaded over the trusted socket).
ALTER TABLE projects ADD COLUMN unit_socket boolean NOT NULL DEFAULT false;
