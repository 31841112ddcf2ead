-- History pages must stay fast with tens of millions of rows: exact totals per status kept
-- by triggers (O(1) for the console's unfiltered and status-only pages), and an index for
-- the status filter's page query.
-- The index first: the initial GROUP BY below then reads it instead of sorting every row.
CREATE INDEX push_history_status ON push_history (status, attempted_at);

CREATE TABLE history_counts (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
);
INSERT INTO history_counts (status, n) SELECT status, COUNT(*) FROM push_history GROUP BY status;

CREATE TRIGGER history_counts_insert AFTER INSERT ON push_history BEGIN
    INSERT INTO history_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER history_counts_delete AFTER DELETE ON push_history BEGIN
    UPDATE history_counts SET n = n - 1 WHERE status = OLD.status;
END;
CREATE TRIGGER history_counts_update AFTER UPDATE OF status ON push_history BEGIN
    UPDATE history_counts SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO history_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

