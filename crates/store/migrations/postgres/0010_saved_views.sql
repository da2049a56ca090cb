-- Saved views of the ticket queue: a named filter set, private to its owner or shared with one
-- of the owner's teams. Pairs with ../sqlite/0010_saved_views.sql.

CREATE TABLE saved_views (
    id UUID PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id UUID REFERENCES teams (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    filters TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, name)
);
CREATE INDEX saved_views_team ON saved_views (team_id);
