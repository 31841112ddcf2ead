-- Offsets at every level (issue 12): a node's offsets, keyed by the node name machines already
-- carry (machine_config.node), NULL = not set at the node (the global one applies); a
-- machine's fixed amount beside its percentage; and the fixed amount each pushed report was
-- built with, kept in the push history beside its percentage (0 for older agents: they had none).
CREATE TABLE node_config (
    node               TEXT PRIMARY KEY,
    offset_bp          INTEGER,          -- basis points (350 = +3.5 %)
    offset_fixed_bytes INTEGER,          -- bytes per 5-minute point, + or -
    updated_at         INTEGER NOT NULL,
    updated_by         TEXT NOT NULL
);
ALTER TABLE machine_config ADD COLUMN offset_fixed_bytes INTEGER;
ALTER TABLE push_history ADD COLUMN offset_fixed_bytes INTEGER NOT NULL DEFAULT 0;
