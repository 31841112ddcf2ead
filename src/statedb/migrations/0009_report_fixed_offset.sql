-- The fixed amount per point (bytes, + or -, after the percentage; proto::offset) each report
-- was built with and each attempt pushed with: a rebuilt report keeps it like its percentage,
-- and the history mirrored to the config service carries it. 0 for reports built before this
-- migration (their agent recorded none).
ALTER TABLE report ADD COLUMN offset_fixed_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE push_attempt ADD COLUMN offset_fixed_bytes INTEGER NOT NULL DEFAULT 0;
