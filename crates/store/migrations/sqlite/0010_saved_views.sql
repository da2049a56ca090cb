-- Saved views of the ticket queue: a named filter set, private to its owner or shared with one
-- of the owner's teams. Pairs with ../postgres/0010_saved_views.sql.

CREATE TABLE saved_views (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id BLOB REFERENCES teams (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    filters TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (user_id, name)
);
CREATE INDEX saved_views_team ON saved_views (team_id);
