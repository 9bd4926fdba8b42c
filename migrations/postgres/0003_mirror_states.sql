-- 0003_mirror_states: each mirror's sync state in the shared database, as SQLite's
-- 0006_mirror_states (see there): one row per mirror keyed by its source and destination
-- names, the whole state as one JSON text (TOAST compresses it; jsonb would only cost parsing on
-- every save), a version counting the saves. A save locks the row (SELECT … FOR UPDATE), so two
-- nodes saving at once are serialised and the second merges its changes into the first's.
CREATE TABLE mirror_states (
  src           text    NOT NULL,
  dst           text    NOT NULL,
  version       bigint  NOT NULL CHECK (version >= 1),
  entries       text    NOT NULL,
  paths         integer NOT NULL CHECK (paths >= 0),
  imported_from text,
  updated_at    bigint  NOT NULL,
  PRIMARY KEY (src, dst)
);
