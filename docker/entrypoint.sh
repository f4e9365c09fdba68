#!/bin/sh
# The start-up sequence of a medgate container, and of any node of a cluster. compose.yaml runs
# `init` once (one-shot service) and `serve` on every node, all at the same time: nothing here
# depends on which starts first. test/cluster/docker-entrypoint.test.ts runs this same script
# outside Docker against a real PostgreSQL (no Docker engine there).
#
#   entrypoint.sh init    wait for the database, migrate it (advisory lock: once, whoever comes
#                         first), create the gateway keys, TLS identity and test CA in keysDir,
#                         and the demo practice on an empty store if the config enables it (under
#                         the start-up advisory lock: once, whether init or a node comes first)
#   entrypoint.sh serve   wait for the database, then run the gateway in the foreground; waits up
#                         to MEDGATE_INIT_WAIT_SECONDS for the keys `init` makes, then refuses
#                         (nodes never make their own)
#   anything else         run as a medgate command, e.g. `entrypoint.sh user list`
#
# Environment: MEDGATE_DATABASE_URL (postgres://…, overrides the config), MEDGATE_CONFIG,
# MEDGATE_HOME (where dist/ is), MEDGATE_NODE_ID, MEDGATE_DB_WAIT_SECONDS (default 60),
# MEDGATE_INIT_WAIT_SECONDS (default 120).
set -eu
umask 077

MEDGATE_HOME="${MEDGATE_HOME:-/opt/medgate}"
# src/runtime/node-flags.ts (SERVE_NODE_FLAGS) says why each is there.
NODE_FLAGS="--single-threaded-gc --incremental-marking-soft-trigger=80 --incremental-marking-hard-trigger=95 --heap-growing-percent=300 --expose-gc --max-semi-space-size=16"
MEDGATE_CONFIG="${MEDGATE_CONFIG:-$MEDGATE_HOME/docker/medgate.yaml}"
export MEDGATE_CONFIG

medgate() {
  node $NODE_FLAGS "$MEDGATE_HOME/dist/cli.js" "$@"
}

if [ -z "${MEDGATE_DATABASE_URL:-}" ]; then
  echo "medgate entrypoint: MEDGATE_DATABASE_URL is not set: using the store of $MEDGATE_CONFIG" >&2
fi

command="${1:-serve}"
case "$command" in
  init)
    shift
    medgate store wait --timeout "${MEDGATE_DB_WAIT_SECONDS:-60}"
    medgate init "$@"
    ;;
  serve)
    shift
    medgate store wait --timeout "${MEDGATE_DB_WAIT_SECONDS:-60}"
    exec node $NODE_FLAGS "$MEDGATE_HOME/dist/cli.js" serve --wait-for-init "${MEDGATE_INIT_WAIT_SECONDS:-120}" "$@"
    ;;
  *)
    exec node $NODE_FLAGS "$MEDGATE_HOME/dist/cli.js" "$@"
    ;;
esac
