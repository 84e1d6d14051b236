#!/usr/bin/env bash
# First start of the `postgres` service only (docker-entrypoint-initdb.d runs it while the data
# volume is empty): one server, two owners, three databases.
#
#   recovery             owner recovery  the engine: event store, read model, ledger (DATABASE_URL)
#   temporal             owner temporal  Temporal's persistence
#   temporal_visibility  owner temporal  Temporal's visibility store (search attributes, list queries)
#
# Temporal's auto-setup only creates its schemas in them (SKIP_DB_CREATE=true), so its role needs no
# CREATEDB. Changing a password later: ALTER ROLE ... PASSWORD ..., then update .env.
# No `set -u`: the image's entrypoint may source this file into its own shell.
set -eo pipefail

: "${RECOVERY_DB_PASSWORD:?RECOVERY_DB_PASSWORD is not set}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v recovery_password="${RECOVERY_DB_PASSWORD}" -v temporal_password="${TEMPORAL_DB_PASSWORD}" <<'SQL'
CREATE ROLE recovery LOGIN PASSWORD :'recovery_password';
CREATE DATABASE recovery OWNER recovery;
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
