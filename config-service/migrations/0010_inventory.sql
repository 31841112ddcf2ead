-- The ops platform's inventory (Spug, or a CSV import): its hosts as last pulled, which machine
-- each is paired with and how, operators' links, and each sync pass's outcome. No credential of
-- the platform (password, token, a host's private key) is ever stored.

CREATE TABLE inventory_hosts (
    source        TEXT NOT NULL,            -- spug | csv
    host_key      TEXT NOT NULL,            -- Spug's host id; a CSV row's ops id, IP or MAC
    ops_host_id   TEXT,
    name          TEXT NOT NULL,            -- 主机名称 on the platform
    management_ip TEXT,
    other_ips     TEXT NOT NULL DEFAULT '', -- space-separated
    mac           TEXT,
    node          TEXT,                     -- 节点名称 from its group
    note          TEXT,                     -- several groups, a group that cannot be a node...
    machine_id    INTEGER REFERENCES machines (id),
    matched_by    TEXT,                     -- manual | ops_host_id | management_ip | ip | mac
    unmatched_reason TEXT,
    seen_at       INTEGER NOT NULL,
    PRIMARY KEY (source, host_key)
);
CREATE INDEX inventory_hosts_machine ON inventory_hosts (machine_id);

-- An operator's pairing of a host with a machine; kept across passes, stronger than any rule.
CREATE TABLE inventory_links (
    source     TEXT NOT NULL,
    host_key   TEXT NOT NULL,
    machine_id INTEGER NOT NULL REFERENCES machines (id),
    linked_by  TEXT NOT NULL,
    linked_at  INTEGER NOT NULL,
    PRIMARY KEY (source, host_key)
);

CREATE TABLE inventory_runs (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    error_code  TEXT,
    error       TEXT,
    hosts       INTEGER NOT NULL DEFAULT 0,
    matched     INTEGER NOT NULL DEFAULT 0,
    changed     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX inventory_runs_source ON inventory_runs (source, id);
