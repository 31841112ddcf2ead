-- Clocks and late changes.
-- The demo clock's origin (demo_time_scale): a restart continues the demo time instead of
-- stepping it back by (scale - 1) x the uptime.
CREATE TABLE demo_clock (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    scale          INTEGER NOT NULL,
    origin_real_ms INTEGER NOT NULL,   -- real unix ms ...
    origin_demo_ms INTEGER NOT NULL    -- ... that was this demo unix ms
);

-- Slots whose bytes changed after their hour was built (late data after a clock correction,
-- a restart gap spread over a built hour): the pusher rebuilds those hours and re-pushes a
-- pushed one as version + 1, so the customer always holds what the ring holds. Filled by
-- triggers, so every path that writes slots is covered.
CREATE TABLE slot_changed (
    mac        TEXT    NOT NULL,
    slot_start INTEGER NOT NULL,   -- unix seconds
    changes    INTEGER NOT NULL DEFAULT 1, -- a row is cleared only if no change came after it was read
    PRIMARY KEY (mac, slot_start)
) WITHOUT ROWID;

CREATE TRIGGER slot_changed_on_update AFTER UPDATE OF rx_bytes, tx_bytes ON slot
WHEN (NEW.rx_bytes != OLD.rx_bytes OR NEW.tx_bytes != OLD.tx_bytes)
     AND NEW.slot_start < (SELECT next_hour FROM push_cursor WHERE id = 1)
BEGIN
    INSERT INTO slot_changed (mac, slot_start) VALUES (NEW.mac, NEW.slot_start)
        ON CONFLICT (mac, slot_start) DO UPDATE SET changes = changes + 1;
END;

CREATE TRIGGER slot_changed_on_insert AFTER INSERT ON slot
WHEN (NEW.rx_bytes > 0 OR NEW.tx_bytes > 0)
     AND NEW.slot_start < (SELECT next_hour FROM push_cursor WHERE id = 1)
BEGIN
    INSERT INTO slot_changed (mac, slot_start) VALUES (NEW.mac, NEW.slot_start)
        ON CONFLICT (mac, slot_start) DO UPDATE SET changes = changes + 1;
END;
