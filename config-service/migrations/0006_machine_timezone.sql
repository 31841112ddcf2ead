-- The report time zone each agent names its hours in (from its heartbeat; NULL = an agent
-- older than that field): the console flags machines whose zone is not the service's.
ALTER TABLE machines ADD COLUMN report_timezone TEXT;
