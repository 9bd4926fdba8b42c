-- 0002_paused_jobs: config jobs an operator paused (issue 14: `ferry jobs pause`, POST /api/v1/jobs/NAME/pause).
-- Kept in the queue database, not in the daemon's memory, so a pause survives a restart and the
-- CLI can pause a job without the HTTP API: the lease query skips the waiting runs of a paused
-- job, so runs queued meanwhile (schedule ticks, outbox files) wait and nothing is lost.

CREATE TABLE paused_jobs (
  name      TEXT    PRIMARY KEY,
  paused_at INTEGER NOT NULL
);
