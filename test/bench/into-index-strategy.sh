#!/usr/bin/env bash
# The measurement behind restore --into's index strategy (docs/benchmarks.md, "Indexes during a
# restore --into"): one transaction that empties a 1M-row table with a primary key, a unique key
# and two indexes and loads it again with COPY, with the indexes in place (keep) or dropped before
# the load and built after it (rebuild), as strata now does.
#   bash test/bench/into-index-strategy.sh setup     # creates database idxbench and /tmp/idxbench.copy
#   farm-bench -n 5 --vs 'bash test/bench/into-index-strategy.sh keep' -- 'bash test/bench/into-index-strategy.sh rebuild'
#   bash test/bench/into-index-strategy.sh teardown
set -euo pipefail
PSQL=(psql -h "${PGHOST:-127.0.0.1}" -U "${PGUSER:-postgres}" -v ON_ERROR_STOP=1 -q)
ROWS=${ROWS:-1000000}
case "${1:-}" in
  setup)
    "${PSQL[@]}" -c 'DROP DATABASE IF EXISTS idxbench' -c 'CREATE DATABASE idxbench'
    "${PSQL[@]}" -d idxbench <<SQL
CREATE TABLE src AS SELECT g AS id, md5(g::text) AS email, (g % 1000) AS company_id, now() - (g || ' seconds')::interval AS created_at, repeat('x', 80) AS note FROM generate_series(1, $ROWS) g;
\copy src TO '/tmp/idxbench.copy'
CREATE TABLE t (id bigint PRIMARY KEY, email text UNIQUE, company_id int, created_at timestamptz, note text);
CREATE INDEX t_company_id_idx ON t (company_id);
CREATE INDEX t_created_at_idx ON t (created_at);
INSERT INTO t SELECT * FROM src;
SQL
    ;;
  keep)
    "${PSQL[@]}" -d idxbench <<'SQL'
BEGIN;
TRUNCATE t;
\copy t FROM '/tmp/idxbench.copy'
COMMIT;
SQL
    ;;
  rebuild)
    "${PSQL[@]}" -d idxbench <<'SQL'
BEGIN;
TRUNCATE t;
ALTER TABLE t DROP CONSTRAINT t_pkey, DROP CONSTRAINT t_email_key;
DROP INDEX t_company_id_idx, t_created_at_idx;
\copy t FROM '/tmp/idxbench.copy'
SET LOCAL maintenance_work_mem = '256MB';
ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (id), ADD CONSTRAINT t_email_key UNIQUE (email);
CREATE INDEX t_company_id_idx ON t (company_id);
CREATE INDEX t_created_at_idx ON t (created_at);
COMMIT;
SQL
    ;;
  teardown)
    "${PSQL[@]}" -c 'DROP DATABASE IF EXISTS idxbench'
    rm -f /tmp/idxbench.copy
    ;;
  *) echo "usage: $0 setup|keep|rebuild|teardown" >&2; exit 2 ;;
esac
