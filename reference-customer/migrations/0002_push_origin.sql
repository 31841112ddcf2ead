-- Which profile, access id and (line profile) request sequence number each accepted push came
-- with, so a test can see that an agent's X-Seq increases.
ALTER TABLE push ADD COLUMN profile TEXT NOT NULL DEFAULT 'json';
ALTER TABLE push ADD COLUMN access_id TEXT;
ALTER TABLE push ADD COLUMN seq INTEGER;
