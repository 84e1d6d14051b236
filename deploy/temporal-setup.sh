#!/usr/bin/env bash
# One-shot Temporal setup for service-recovery. The `temporal-setup` compose service runs it in the
# temporalio/admin-tools image; it works by hand too, against any cluster the `temporal` CLI reaches:
#
#   TEMPORAL_ADDRESS=temporal:7233 TEMPORAL_NAMESPACE=default bash deploy/temporal-setup.sh
#
# 1. waits until the frontend answers SERVING (at most TEMPORAL_SETUP_TIMEOUT seconds, default 180);
# 2. creates the namespace when it is missing (retention TEMPORAL_NAMESPACE_RETENTION, default 30d);
# 3. registers the engine's custom search attributes — the six of workflows/search_attributes.py
#    (tests/deploy/test_compose.py keeps the two lists equal) — skipping those already registered, and
#    failing when one exists with another type (the engine would then fail on every case);
# 4. waits until the namespace lists all six, so no worker starts before they can be used.
#
# Idempotent: a second run changes nothing and exits 0. Needs `temporal` and `jq` on PATH.
# Temporal Cloud: create the namespace and the search attributes in the Cloud UI or with tcld
# instead (deploy/README.md).

set -euo pipefail

: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${TEMPORAL_NAMESPACE_RETENTION:=30d}"
: "${TEMPORAL_SETUP_TIMEOUT:=180}"
export TEMPORAL_ADDRESS  # read by every `temporal` command below

# name:type — the same as workflows/search_attributes.py ALL.
SEARCH_ATTRIBUTES=(
    RecoveryStep:Keyword
    RecoverySeverity:Keyword
    EscalationLevel:Int
    CustomerId:Keyword
    NextDeadline:Datetime
    TicketSource:Keyword
    Assignee:Keyword
)

say() { printf '[temporal-setup] %s\n' "$*"; }
die() { printf '[temporal-setup] error: %s\n' "$*" >&2; exit 1; }

command -v temporal >/dev/null 2>&1 || die "the temporal CLI is not on PATH"
command -v jq >/dev/null 2>&1 || die "jq is not on PATH"

deadline=$((SECONDS + TEMPORAL_SETUP_TIMEOUT))
wait_or_die() {  # sleep a little, or give up with $1 once the deadline has passed
    ((SECONDS < deadline)) || die "$1 (gave up after ${TEMPORAL_SETUP_TIMEOUT}s)"
    sleep 2
}

# 1. the server
until temporal operator cluster health 2>/dev/null | grep -q SERVING; do
    say "waiting for Temporal at ${TEMPORAL_ADDRESS}"
    wait_or_die "Temporal at ${TEMPORAL_ADDRESS} does not answer SERVING"
done
say "Temporal at ${TEMPORAL_ADDRESS} is serving"

# 2. the namespace
namespace_exists() { temporal operator namespace describe --namespace "${TEMPORAL_NAMESPACE}" >/dev/null 2>&1; }
if namespace_exists; then
    say "namespace ${TEMPORAL_NAMESPACE} exists"
else
    say "creating namespace ${TEMPORAL_NAMESPACE} (retention ${TEMPORAL_NAMESPACE_RETENTION})"
    # Another setup run may create it at the same moment: only a namespace still missing is an error.
    temporal operator namespace create --namespace "${TEMPORAL_NAMESPACE}" \
        --retention "${TEMPORAL_NAMESPACE_RETENTION}" \
        --description "service-recovery: one workflow per customer complaint" ||
        namespace_exists || die "could not create namespace ${TEMPORAL_NAMESPACE}"
fi

# 3. the search attributes. Listing them works once the namespace cache knows the namespace.
custom_attributes() {  # JSON object name -> INDEXED_VALUE_TYPE_* of the namespace's custom attributes
    temporal operator search-attribute list --namespace "${TEMPORAL_NAMESPACE}" --output json 2>/dev/null |
        jq -c '.customAttributes // {}'
}
until current=$(custom_attributes) && [[ -n ${current} ]]; do
    say "waiting for namespace ${TEMPORAL_NAMESPACE} to be usable"
    wait_or_die "cannot list the search attributes of namespace ${TEMPORAL_NAMESPACE}"
done

registered_type() {  # the registered type of attribute $1 in ${current} (e.g. Keyword), or nothing
    jq -r --arg name "$1" '.[$name] // empty | sub("^INDEXED_VALUE_TYPE_"; "") | ascii_downcase' <<<"${current}"
}

# A type conflict stops the run before anything is created.
missing=()
for entry in "${SEARCH_ATTRIBUTES[@]}"; do
    name=${entry%%:*}
    type=${entry#*:}
    have=$(registered_type "${name}")
    if [[ -z ${have} ]]; then
        missing+=("${entry}")
    elif [[ ${have} == "${type,,}" ]]; then
        say "search attribute ${name} (${type}) is registered"
    else
        die "search attribute ${name} is registered as ${have}, but the engine needs ${type}: remove it first (temporal operator search-attribute remove --name ${name})"
    fi
done
for entry in "${missing[@]}"; do
    name=${entry%%:*}
    type=${entry#*:}
    say "registering search attribute ${name} (${type})"
    temporal operator search-attribute create --namespace "${TEMPORAL_NAMESPACE}" --name "${name}" --type "${type}"
done

# 4. all six visible
for entry in "${SEARCH_ATTRIBUTES[@]}"; do
    name=${entry%%:*}
    until current=$(custom_attributes) && [[ -n $(registered_type "${name}") ]]; do
        say "waiting for search attribute ${name} to appear"
        wait_or_die "search attribute ${name} did not appear in namespace ${TEMPORAL_NAMESPACE}"
    done
done
say "namespace ${TEMPORAL_NAMESPACE} is ready: ${#SEARCH_ATTRIBUTES[@]} search attributes registered"
