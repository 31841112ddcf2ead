-- Mirroring skipped hours (push switch off) to the config service: which switches were off
-- when the hour was built ('machine,global,local' subset; '' = not known, built before this
-- migration), and a durable "the service stored it" mark. Hours skipped before this migration
-- are mirrored once too.
ALTER TABLE report ADD COLUMN off_switches TEXT NOT NULL DEFAULT '';
ALTER TABLE report ADD COLUMN skip_mirrored INTEGER NOT NULL DEFAULT 0;
