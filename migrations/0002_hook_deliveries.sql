-- 0002_hook_deliveries: notifications of hooks and healthchecks pings, kept until delivered
-- (DESIGN.md "Operating a headless agent"). A row is written in the transaction that records
-- what it reports (a job's outcome) or before the job that did the work completes, so a crash
-- never loses one: a pending row is delivered after the restart (at least once).

CREATE TABLE hook_deliveries (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  -- The hook's id in the config ("hooks[0]", "photos.hooks[1]", "photos.healthcheck", or its
  -- name). The action (command, URL, secret) is looked up in the current config at delivery,
  -- so no secret is stored and a corrected URL (SIGHUP) serves the notifications still waiting.
  hook            TEXT    NOT NULL,
  event           TEXT    NOT NULL,
  job_name        TEXT,
  -- What happened, as sent: the webhook body's fields and the command's FERRY_* variables.
  facts           TEXT    NOT NULL CHECK (json_valid(facts)),
  -- pending: not delivered yet (waiting for its first try or a retry at next_attempt_at);
  -- delivered and failed (attempts used up, or the hook left the config) are final.
  state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  finished_at     INTEGER
);

-- Each hook delivers in order: its oldest pending row goes first (start before success).
CREATE INDEX hook_deliveries_pending ON hook_deliveries (hook, id) WHERE state = 'pending';
CREATE INDEX hook_deliveries_finished ON hook_deliveries (finished_at) WHERE finished_at IS NOT NULL;
