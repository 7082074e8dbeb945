-- Short-lived certificates (Let's Encrypt's 6-day `shortlived` profile): a lifetime under
-- 10 days renews at half of it, as Let's Encrypt recommends, instead of 2/3 (which would
-- leave 2 days for every retry). Longer ones keep 2/3. `renew_before` still wins when set.
CREATE OR REPLACE FUNCTION certfleet_renew_at(not_before timestamptz, not_after timestamptz, renew_before interval)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(not_after - renew_before,
                    CASE WHEN not_after - not_before < interval '10 days'
                         THEN not_before + (not_after - not_before) / 2
                         ELSE not_before + (not_after - not_before) * 2 / 3 END)
$$;
