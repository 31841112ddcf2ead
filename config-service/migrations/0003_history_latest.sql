-- History pages with tens of millions of rows, any filter the console offers:
--  * exact totals per (report hour, status), for every attempt and for the latest attempt of
--    each (mac, hour), kept by triggers: a total is a sum over the hours in range;
--  * `history_latest`: the latest attempt (highest version, then attempt) of each
--    (mac, flux_hour), kept by a trigger, with its own indexes for the `latest` pages;
--  * the hour index also carries the status and attempted_at, so an hour-range page is
--    read from the index alone before its 20 rows are fetched.
DROP TRIGGER history_counts_insert;
DROP TRIGGER history_counts_delete;
DROP TRIGGER history_counts_update;
DROP TABLE history_counts;

-- id = push_history.id of the latest attempt; as the rowid it is in every index below, so a
-- page of ids is read from an index alone.
CREATE TABLE history_latest (
    id           INTEGER PRIMARY KEY,
    mac          TEXT NOT NULL,
    flux_hour    TEXT NOT NULL,
    machine_id   INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    status       TEXT NOT NULL,
    pushed_bytes INTEGER NOT NULL,
    attempted_at INTEGER NOT NULL,
    UNIQUE (mac, flux_hour)
);
INSERT INTO history_latest (mac, flux_hour, id, machine_id, version, attempt, status, pushed_bytes, attempted_at)
    SELECT mac, flux_hour, id, machine_id, version, attempt, status, pushed_bytes, attempted_at FROM (
        SELECT h.*, ROW_NUMBER() OVER (PARTITION BY mac, flux_hour ORDER BY version DESC, attempt DESC) AS rn
        FROM push_history h
    ) WHERE rn = 1;
CREATE INDEX history_latest_attempted ON history_latest (attempted_at);
CREATE INDEX history_latest_status ON history_latest (status, attempted_at);
CREATE INDEX history_latest_machine ON history_latest (machine_id, attempted_at);
CREATE INDEX history_latest_hour ON history_latest (flux_hour, status, attempted_at);

CREATE TABLE history_hour_counts (
    flux_hour TEXT NOT NULL,
    status    TEXT NOT NULL,
    latest    INTEGER NOT NULL,   -- 0: every attempt; 1: the latest attempt of each (mac, hour)
    n         INTEGER NOT NULL,
    PRIMARY KEY (latest, flux_hour, status)
) WITHOUT ROWID;
INSERT INTO history_hour_counts (flux_hour, status, latest, n)
    SELECT flux_hour, status, 0, COUNT(*) FROM push_history GROUP BY flux_hour, status;
INSERT INTO history_hour_counts (flux_hour, status, latest, n)
    SELECT flux_hour, status, 1, COUNT(*) FROM history_latest GROUP BY flux_hour, status;

DROP INDEX push_history_hour;
CREATE INDEX push_history_hour ON push_history (flux_hour, status, attempted_at);
-- One MAC's attempts in time order (the UNIQUE index is in hour order).
CREATE INDEX push_history_mac ON push_history (mac, attempted_at);

CREATE TRIGGER history_insert AFTER INSERT ON push_history BEGIN
    INSERT INTO history_hour_counts (flux_hour, status, latest, n) VALUES (NEW.flux_hour, NEW.status, 0, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO history_latest (mac, flux_hour, id, machine_id, version, attempt, status, pushed_bytes, attempted_at)
        VALUES (NEW.mac, NEW.flux_hour, NEW.id, NEW.machine_id, NEW.version, NEW.attempt, NEW.status,
                NEW.pushed_bytes, NEW.attempted_at)
        ON CONFLICT (mac, flux_hour) DO UPDATE SET id = excluded.id, machine_id = excluded.machine_id, version = excluded.version,
            attempt = excluded.attempt, status = excluded.status, pushed_bytes = excluded.pushed_bytes,
            attempted_at = excluded.attempted_at
        WHERE (excluded.version, excluded.attempt) > (history_latest.version, history_latest.attempt);
END;
CREATE TRIGGER history_latest_insert AFTER INSERT ON history_latest BEGIN
    INSERT INTO history_hour_counts (flux_hour, status, latest, n) VALUES (NEW.flux_hour, NEW.status, 1, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER history_latest_update AFTER UPDATE OF status ON history_latest BEGIN
    UPDATE history_hour_counts SET n = n - 1 WHERE latest = 1 AND flux_hour = OLD.flux_hour AND status = OLD.status;
    INSERT INTO history_hour_counts (flux_hour, status, latest, n) VALUES (NEW.flux_hour, NEW.status, 1, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- At most one open incident per (kind, machine): a second check pass (a `runcheck` beside
-- `serve`) can never open the same incident twice.
-- Duplicates an earlier race left are closed first (the oldest stays open).
UPDATE incidents SET resolved_at = opened_at WHERE resolved_at IS NULL AND id NOT IN (
    SELECT MIN(id) FROM incidents WHERE resolved_at IS NULL GROUP BY kind, COALESCE(machine_id, -1));
CREATE UNIQUE INDEX incidents_one_open ON incidents (kind, COALESCE(machine_id, -1)) WHERE resolved_at IS NULL;

-- The retention job deletes by time.
CREATE INDEX verifications_time ON verifications (verified_at);
CREATE INDEX alerts_created ON alerts (created_at);

-- Cloned images share /etc/machine-id: a clone registering beside a live machine gets its own
-- machine, marked as a duplicate of the other (an alert is sent once).
ALTER TABLE machines ADD COLUMN duplicate_of INTEGER REFERENCES machines (id);
ALTER TABLE machines ADD COLUMN duplicate_alerted INTEGER NOT NULL DEFAULT 0;
-- Whose MAC is it (history from an agent is refused under another machine's MAC).
CREATE INDEX mac_history_old ON mac_history (old_mac);
CREATE INDEX mac_history_new ON mac_history (new_mac);
