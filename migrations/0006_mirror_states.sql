-- 0006_mirror_states: each mirror's sync state (sync/state.ts: path → size, source stamp, hash)
-- in the queue's database instead of a file per mirror under the daemon's state folder (issue 16:
-- the state moves to the shared store with the queue, so a run planned on one node sees what a
-- run finished on another recorded). One row per mirror, keyed by its source and destination
-- names (without passwords) as the state file was; `entries` is the whole state as one JSON
-- object, replaced in one statement, so a reader sees the old state or the new one, never half.
-- `version` counts the saves: a saver that finds another version than the one it loaded merges
-- its own changes into the row instead of overwriting (daemon/jobs/mirrorRun/DatabaseMirrorStateStore.ts).
CREATE TABLE mirror_states (
  src           TEXT    NOT NULL,
  dst           TEXT    NOT NULL,
  version       INTEGER NOT NULL CHECK (version >= 1),
  entries       TEXT    NOT NULL,
  paths         INTEGER NOT NULL CHECK (paths >= 0),
  -- The state file this row was first filled from (an upgrade from per-node files), else NULL.
  imported_from TEXT,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (src, dst)
);
