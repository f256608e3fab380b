#!/bin/sh
# The web process, as the container image runs it and as CI's stack test runs it outside one:
# bring the schema to head, optionally load the starter catalog into an empty database, then
# hand the process over to gunicorn (exec: it gets the signals, HUP reloads it gracefully).
#
# Environment (besides the app's own, see README "Production"):
#   MIGRATE_ON_START=1      run `flask db upgrade` first (0 where a release step migrates once,
#                           e.g. several web hosts starting together)
#   LOAD_STARTER_CATALOG=0  1: `flask catalog load-starter` (only ever fills an empty catalog)
# Extra arguments are passed to gunicorn (e.g. --bind 127.0.0.1:8001).
set -eu

# The app folder: wsgi.py, gunicorn.conf.py, migrations/ (this script lives in deploy/).
cd "$(dirname "$0")/.."
export FLASK_APP="${FLASK_APP:-wsgi}"

if [ "${MIGRATE_ON_START:-1}" = 1 ]; then
  echo "entrypoint: flask db upgrade"
  flask db upgrade
fi
if [ "${LOAD_STARTER_CATALOG:-0}" = 1 ]; then
  echo "entrypoint: flask catalog load-starter"
  flask catalog load-starter
fi

echo "entrypoint: exec gunicorn -c gunicorn.conf.py $* wsgi:app"
exec gunicorn -c gunicorn.conf.py "$@" wsgi:app
