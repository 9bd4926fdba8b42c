-- 0004_job_kinds_open: a mirror run split into parts any node may lease (issue 16) adds the job
-- kinds `mirror-part` and `mirror-finish`. The kind is checked by its payload schema at enqueue
-- and at lease (src/queue/types.ts), so the table no longer lists the kinds: a new kind then
-- needs no table rebuild. SQLite cannot change a CHECK in place, hence the rebuild below
-- (sqlite.org/lang_altertable.html, "other kinds of table schema changes").
-- Dropping `jobs` clears transfers.job_id through ON DELETE SET NULL (foreign keys are on and
-- cannot be switched off inside the migration's transaction): the links are kept aside and
-- restored, and so is the AUTOINCREMENT sequence, so no pruned job's id is ever reused.

CREATE TABLE jobs_new (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  -- Validated against src/queue/types.ts payloadSchemas at enqueue and lease.
  kind             TEXT    NOT NULL CHECK (kind <> ''),
  name             TEXT    NOT NULL,
  dedupe_key       TEXT,
  concurrency_key  TEXT,
  payload          TEXT    NOT NULL CHECK (json_valid(payload)),
  state            TEXT    NOT NULL DEFAULT 'queued'
                           CHECK (state IN ('queued', 'leased', 'done', 'failed', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
  run_after        INTEGER NOT NULL,
  lease_owner      TEXT,
  lease_token      TEXT,
  lease_expires_at INTEGER,
  last_error       TEXT,
  last_error_at    INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  finished_at      INTEGER,
  CHECK ((state = 'leased') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL))
);

INSERT INTO jobs_new SELECT id, kind, name, dedupe_key, concurrency_key, payload, state, attempts, max_attempts, run_after,
  lease_owner, lease_token, lease_expires_at, last_error, last_error_at, created_at, updated_at, finished_at FROM jobs;

CREATE TEMP TABLE kept_transfer_links AS SELECT id, job_id FROM transfers WHERE job_id IS NOT NULL;
CREATE TEMP TABLE kept_job_sequence AS SELECT seq FROM sqlite_sequence WHERE name = 'jobs';

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

UPDATE transfers SET job_id = (SELECT k.job_id FROM kept_transfer_links k WHERE k.id = transfers.id)
  WHERE id IN (SELECT id FROM kept_transfer_links);
UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM kept_job_sequence)) WHERE name = 'jobs'
  AND EXISTS (SELECT 1 FROM kept_job_sequence);
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs', seq FROM kept_job_sequence
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'jobs');
DROP TABLE kept_transfer_links;
DROP TABLE kept_job_sequence;

CREATE UNIQUE INDEX jobs_dedupe_waiting ON jobs (dedupe_key)
  WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'failed');
CREATE INDEX jobs_runnable ON jobs (state, run_after, id);
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'leased';
CREATE INDEX jobs_leased_by_key ON jobs (concurrency_key) WHERE state = 'leased';
CREATE INDEX jobs_name_state ON jobs (name, state);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
