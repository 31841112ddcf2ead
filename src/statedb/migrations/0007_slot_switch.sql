-- The push switch in effect while each slot was measured (bits: 1 = on, 2 = off; 0 = not
-- known, measured before this migration or by a sampler that does not follow the config):
-- the switch applies to the slots it covered, not to the moment the hour is built.
ALTER TABLE slot ADD COLUMN push_switch INTEGER NOT NULL DEFAULT 0;
-- Slots of a report pushed as 0 because the switch was off while they were measured
-- (bit i = v_i); the raw points keep what was measured.
ALTER TABLE report ADD COLUMN off_slots INTEGER NOT NULL DEFAULT 0;
