#!/usr/bin/env bash
# Prints a .env for docker-compose.yml with fresh random secrets:
#
#   bash deploy/gen-env.sh > .env        # once; keep the file out of version control
#
# Passwords are hex (safe inside DATABASE_URL). RECOVERY_CODEC_KEYS is `id:base64 of 32 bytes`;
# losing it makes the payloads already in Temporal unreadable, so back it up with the database.
# Every other variable has a default in docker-compose.yml (deploy/README.md lists them).
set -euo pipefail

random_hex() { head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'; }
random_b64() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }

cat <<ENV
# service-recovery compose secrets, generated $(date -u +%Y-%m-%dT%H:%M:%SZ)
POSTGRES_PASSWORD=$(random_hex 24)
RECOVERY_DB_PASSWORD=$(random_hex 24)
TEMPORAL_DB_PASSWORD=$(random_hex 24)
RECOVERY_CODEC_KEYS=$(date -u +k%Y%m):$(random_b64 32)
RECOVERY_CODEC_TOKEN=$(random_hex 32)
ENV
