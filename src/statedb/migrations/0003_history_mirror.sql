-- Mirroring push history to the config service: each attempt keeps the points it pushed
-- (a later re-push may change the report's values), and a durable "mirrored" mark.
ALTER TABLE push_attempt ADD COLUMN raw_points TEXT NOT NULL DEFAULT '[]';
ALTER TABLE push_attempt ADD COLUMN pushed_points TEXT NOT NULL DEFAULT '[]';
ALTER TABLE push_attempt ADD COLUMN offset_bp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE push_attempt ADD COLUMN mirrored INTEGER NOT NULL DEFAULT 0;
CREATE INDEX push_attempt_unmirrored ON push_attempt (mirrored, id);

ALTER TABLE verification ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE verification ADD COLUMN mirrored INTEGER NOT NULL DEFAULT 0;
CREATE INDEX verification_unmirrored ON verification (mirrored, id);

-- A held hour is reported once per hold.
ALTER TABLE report ADD COLUMN held_mirrored INTEGER NOT NULL DEFAULT 0;
