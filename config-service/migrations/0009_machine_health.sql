-- What each agent reports wrong with itself (its heartbeat's `health`, JSON, times on the
-- service's clock; NULL = an agent older than that field): shown on the machine, checked.
ALTER TABLE machines ADD COLUMN health TEXT;
