-- Runs once, when the postgres service starts on an empty data volume
-- (/docker-entrypoint-initdb.d), as POSTGRES_USER connected to POSTGRES_DB (airflow, Airflow's
-- metadata). The stories live in a database of their own, so neither schema can touch the other.
CREATE DATABASE storyline;

-- pgvector for the stories database; `storyline init` creates it too, but a superuser is
-- certain to be able to here.
\connect storyline
CREATE EXTENSION IF NOT EXISTS vector;
