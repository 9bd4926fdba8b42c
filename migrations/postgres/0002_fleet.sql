-- 0002_fleet: what several nodes sharing one Postgres queue need besides the jobs (issue 16):
-- the nodes registry, the cron ticks claimed once for the fleet, and the connection-slot
-- helper. All times are integer milliseconds since the Unix epoch, from each node's clock.

-- One row per node id. `instance` is a fresh UUID per daemon start: a heartbeat only renews
-- the row of its own start, so a node that was taken over (after being lost) finds out.
CREATE TABLE fleet_nodes (
  id                TEXT    PRIMARY KEY,
  host              TEXT    NOT NULL,
  pid               INTEGER NOT NULL,
  version           TEXT    NOT NULL,
  instance          TEXT    NOT NULL,
  started_at        BIGINT  NOT NULL,
  last_heartbeat_at BIGINT  NOT NULL,
  -- Set by a clean stop: a stopped node is neither alive nor lost.
  stopped_at        BIGINT
);

-- A cron tick of a scheduled job, claimed by the first node that inserts it; the others see
-- the conflict and do not enqueue. `tick` is the scheduled instant, the same on every node.
CREATE TABLE schedule_ticks (
  job        TEXT   NOT NULL,
  tick       BIGINT NOT NULL,
  node       TEXT   NOT NULL,
  claimed_at BIGINT NOT NULL,
  PRIMARY KEY (job, tick)
);
-- Claims are pruned by age (PgTicks).
CREATE INDEX schedule_ticks_claimed ON schedule_ticks (claimed_at);

-- One free connection slot of a remote for the calling session: the first index in
-- 0..cap-1 that is not in `held` (the slots this session already holds: advisory locks are
-- re-entrant within a session, so they must be skipped here) and whose session-level
-- advisory lock (k1, index) is free; -1 when all are taken. The lock lives as long as the
-- session, so a node that dies frees its slots with its connection.
CREATE FUNCTION ferry_try_slot(k1 INTEGER, cap INTEGER, held INTEGER[]) RETURNS INTEGER
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  FOR i IN 0 .. cap - 1 LOOP
    IF NOT (i = ANY (held)) AND pg_try_advisory_lock(k1, i) THEN
      RETURN i;
    END IF;
  END LOOP;
  RETURN -1;
END
$$;
