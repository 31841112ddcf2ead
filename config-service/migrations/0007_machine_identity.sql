-- The ops platform's names for each machine, as its agent reports them ([identity], written by
-- deploy.sh from Spug), and who set the host name (主机名称) and node the console shows.
-- machines.hostname stays the name every page shows: the agent's identity host name, else its
-- OS host name, unless someone set it (host_name_set_by: the operator's name, or e.g.
-- 'inventory:spug'); NULL = it follows the agent. machine_config.node likewise with node_set_by.
ALTER TABLE machines ADD COLUMN os_hostname TEXT;
ALTER TABLE machines ADD COLUMN ops_host_id TEXT;
ALTER TABLE machines ADD COLUMN reported_host_name TEXT;
ALTER TABLE machines ADD COLUMN management_ip TEXT;
ALTER TABLE machines ADD COLUMN reported_node TEXT;
ALTER TABLE machines ADD COLUMN host_name_set_by TEXT;
ALTER TABLE machine_config ADD COLUMN node_set_by TEXT;
UPDATE machines SET os_hostname = hostname;
-- Every node so far was typed by an operator: an agent's reported node must not replace it.
UPDATE machine_config SET node_set_by = 'operator' WHERE node IS NOT NULL;
CREATE INDEX machines_ops_host_id ON machines (ops_host_id);
CREATE INDEX machines_management_ip ON machines (management_ip);
