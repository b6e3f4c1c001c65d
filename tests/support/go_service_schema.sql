-- The Go service's users table, as its first migration
-- (migrations/01_create_initial_tables.up.sql of that repository) makes it:
-- a uuid key from uuid-ossp, a role enum, and bounded text columns whose
-- only checks are "not empty". The tests import from a database made with it.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS citext;

CREATE TYPE role AS ENUM ('admin', 'user');

CREATE TABLE users (
    user_id    uuid                     PRIMARY KEY DEFAULT uuid_generate_v4(),
    first_name varchar(32)              NOT NULL CHECK (first_name <> ''),
    last_name  varchar(32)              NOT NULL CHECK (last_name <> ''),
    email      varchar(64) UNIQUE       NOT NULL CHECK (email <> ''),
    password   varchar(250)             NOT NULL CHECK (octet_length(password) <> 0),
    role       role                     NOT NULL DEFAULT 'user',
    avatar     varchar(250),
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone          DEFAULT current_timestamp
);
