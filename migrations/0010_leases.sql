-- Job claims with a lease (a worker renews it while it runs; an expired claim is taken
-- again), and named leases for work done once (the scheduler, index maintenance).
ALTER TABLE jobs ADD COLUMN worker TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;

CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  TEXT NOT NULL
);
