-- The CMDB epoch: one counter, incremented inside every transaction that writes configuration
-- items or relations (create, update, relate, unrelate, import). Each node keeps the relation
-- graph in memory for impact analysis and reloads it when the epoch it reads differs from the
-- one its graph was loaded at, so every node sharing the database sees every change.
-- The row is created by the first increment (an absent row reads as epoch 0).
CREATE TABLE cmdb_epoch (
    id BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    epoch BIGINT NOT NULL
);
