#!/bin/sh
# A background-job worker (RQ) for the queue the web app fills (app/jobs/engines.py). It needs
# the web app's environment (DATABASE_URL, REDIS_URL, SECRET_KEY, EMBEDDING_* ...): it builds
# the app itself for each job (app/jobs/worker.py). Run as many as you like, on any host that
# reaches the same PostgreSQL and Redis; a job runs once whatever the number of workers.
# Extra arguments are passed to `rq worker` (e.g. --burst, --name).
set -eu
cd "$(dirname "$0")/.."
: "${REDIS_URL:?REDIS_URL must name the Redis the web app uses}"
# One embedding batch at a time per worker: onnxruntime and BLAS threads bounded to the cores.
cores="$(nproc 2>/dev/null || echo 1)"
export EMBEDDING_THREADS="${EMBEDDING_THREADS:-$cores}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$EMBEDDING_THREADS}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-$EMBEDDING_THREADS}"
echo "entrypoint: exec rq worker ${JOBS_QUEUE:-dataset-explorer}"
exec rq worker --url "$REDIS_URL" "$@" "${JOBS_QUEUE:-dataset-explorer}"
