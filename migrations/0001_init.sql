-- 0001_init: the job queue and the transfer history (DESIGN.md "Queue semantics").
-- Applied by src/queue/migrate.ts inside one transaction that also records it in `migrations`.
-- All times are integer milliseconds since the Unix epoch, from the store's injected clock.

CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  kind             TEXT    NOT NULL CHECK (kind IN ('mirror', 'upload')),
  -- The config job name (payload.job), kept as a column so `ferry status` can group cheaply.
  name             TEXT    NOT NULL,
  -- Coalescing key: at most one waiting (queued or failed) job per key, see jobs_dedupe_waiting.
  dedupe_key       TEXT,
  -- Groups jobs that share a scarce resource (a remote's connections) for per-key lease caps.
  concurrency_key  TEXT,
  payload          TEXT    NOT NULL CHECK (json_valid(payload)),
  -- queued: waiting for its first run (or deferred); leased: a worker holds it;
  -- failed: an attempt failed and it waits for its retry at run_after; done and dead are final.
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
  -- A leased row always carries its token and expiry; any other row carries neither, so a
  -- stale token can never match a row that was re-queued.
  CHECK ((state = 'leased') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- Enqueue is idempotent per key while a job with that key waits (INSERT ... ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX jobs_dedupe_waiting ON jobs (dedupe_key)
  WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'failed');
-- The lease query: the oldest runnable job of the wanted kinds.
CREATE INDEX jobs_runnable ON jobs (state, run_after, id);
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'leased';
-- Per-key lease caps count the leased jobs of one key.
CREATE INDEX jobs_leased_by_key ON jobs (concurrency_key) WHERE state = 'leased';
CREATE INDEX jobs_name_state ON jobs (name, state);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE transfers (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  -- History outlives pruned jobs: the link is cleared, the row stays until its own retention.
  job_id      INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
  job_name    TEXT    NOT NULL,
  path        TEXT    NOT NULL,
  bytes       INTEGER NOT NULL CHECK (bytes >= 0),
  duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
  -- How the copy was checked: a hash algorithm ("sha256", "md5", ...) or "size" / "size+mtime".
  verified    TEXT    NOT NULL,
  finished_at INTEGER NOT NULL
);

CREATE INDEX transfers_name_finished ON transfers (job_name, finished_at);
CREATE INDEX transfers_job ON transfers (job_id);
CREATE INDEX transfers_finished ON transfers (finished_at);
