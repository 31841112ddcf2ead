-- The console searches machines by IP too: the addresses of `pushagent info` (facts.addresses
-- [].ipv4/ipv6[].address), space-separated, kept by triggers whenever the facts change. Facts are
-- always stored as valid JSON (the API parses them); odd shapes simply yield no address.
ALTER TABLE machines ADD COLUMN ips TEXT NOT NULL DEFAULT '';

-- The one place the addresses are read out of the facts.
CREATE VIEW machine_fact_ips AS
    SELECT m.id, COALESCE((
        SELECT group_concat(json_extract(v.value, '$.address'), ' ')
        FROM json_each(m.facts, '$.addresses') a, json_each(a.value) f, json_each(f.value) v
        WHERE a.type = 'object' AND f.key IN ('ipv4', 'ipv6') AND f.type = 'array' AND v.type = 'object'
            AND json_type(v.value, '$.address') = 'text'
    ), '') AS ips
    FROM machines m;

CREATE TRIGGER machines_ips_insert AFTER INSERT ON machines BEGIN
    UPDATE machines SET ips = (SELECT ips FROM machine_fact_ips WHERE id = NEW.id) WHERE id = NEW.id;
END;

CREATE TRIGGER machines_ips_update AFTER UPDATE OF facts ON machines WHEN OLD.facts IS NOT NEW.facts BEGIN
    UPDATE machines SET ips = (SELECT ips FROM machine_fact_ips WHERE id = NEW.id) WHERE id = NEW.id;
END;

UPDATE machines SET ips = (SELECT ips FROM machine_fact_ips v WHERE v.id = machines.id);
