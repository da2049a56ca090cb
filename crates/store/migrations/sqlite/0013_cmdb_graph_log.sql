-- The CMDB graph change log: which configuration items each CMDB epoch touched, written in the
-- transaction that increments the epoch (0012). A node whose in-memory relation graph is a few
-- epochs behind reads the rows after its epoch and re-reads only those items and their
-- relations instead of the whole graph. A row with ci_id NULL means "everything may have
-- changed" (an import, a write touching thousands of items): the node reloads in full. Every
-- epoch has at least one row; old epochs are pruned (the last 10,000 kept), and a node behind
-- the pruned range reloads in full as well.
CREATE TABLE cmdb_graph_log (
    epoch BIGINT NOT NULL,
    ci_id BLOB
);
CREATE INDEX cmdb_graph_log_epoch ON cmdb_graph_log (epoch);
