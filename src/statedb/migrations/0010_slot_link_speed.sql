-- The largest link speed (bits/s) the sampler saw while each slot was measured (0 = not
-- known: measured before this migration, or the NIC reports none): the impossible-point check
-- of an hour uses the fastest the link was during that hour, not its speed at build time.
ALTER TABLE slot ADD COLUMN link_bits INTEGER NOT NULL DEFAULT 0;
