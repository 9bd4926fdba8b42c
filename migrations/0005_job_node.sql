-- 0005_job_node: a job may belong to one node (issue 16). An outbox upload names the node whose
-- disk holds the file; on a queue shared by several nodes only that node leases it, and after
-- that node dies its uploads wait for it to come back. NULL: any node (mirror runs and parts).
ALTER TABLE jobs ADD COLUMN node TEXT CHECK (node IS NULL OR node <> '');
