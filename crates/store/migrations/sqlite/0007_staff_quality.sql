-- Staff quality records for the service desk evaluation (R-7.4: 人员素质 and technical
-- capability): skills, certifications, trainings. Pairs with ../postgres/0007_staff_quality.sql.

CREATE TABLE staff_skills (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id),
    skill TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX staff_skills_user_skill ON staff_skills (user_id, skill);

CREATE TABLE staff_certifications (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    issuer TEXT,
    obtained_on TEXT NOT NULL,
    expires_on TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX staff_certifications_user ON staff_certifications (user_id);

CREATE TABLE staff_trainings (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id),
    course TEXT NOT NULL,
    hours INTEGER NOT NULL CHECK (hours > 0),
    completed_on TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX staff_trainings_user ON staff_trainings (user_id);

CREATE INDEX tickets_created_at ON tickets (created_at);
