-- Runs once, when the postgres service starts on an empty data volume
-- (/docker-entrypoint-initdb.d), as POSTGRES_USER connected to POSTGRES_DB (storyline).

-- Airflow's metadata lives in its own database, so neither schema can touch the other.
CREATE DATABASE airflow;

-- pgvector for the stories database; `storyline init` creates it too, but a superuser is
-- certain to be able to here.
CREATE EXTENSION IF NOT EXISTS vector;
