-- The hot path's statements: the worker's claim, fenced writes and finish-and-claim, and initiate's quota
-- check and INSERT. They run once or twice per job; compiling them through the ORM each time cost more than
-- their round trip, so they are written here once and run as prepared statements on PostgreSQL
-- (``video_jobs.db.run_hot``).
--
-- Loaded once at import by ``services/sql.py`` (``video_jobs.db.load_queries``): ``{job}`` is the jobs
-- table and ``{job.<field>}`` a column, both from the model's ``_meta``; ``{processing}``, ``{queued}``,
-- ``{downloading}`` are the status and stage values as literals; ``{now}`` is the database's clock. Slots
-- named in a statement's comment are filled by ``sql.py`` when it composes the statement.

-- name: claim_job
-- PostgreSQL. Claim the oldest claimable job. Parameters: the worker's id, the lease's length (an
-- interval). Every time in it is the database's: the lease ends that interval after the statement started.
-- SKIP LOCKED: concurrent workers never wait on, or take, the same row.
UPDATE {job}
   SET {job.status} = {processing}, {job.stage} = {downloading}, {job.progress} = 0, {job.worker_id} = %s,
       {job.attempts} = {job.attempts} + 1, {job.lease_expires_at} = {now} + %s,
       {job.started_at} = {now}, {job.updated_at} = {now}
 WHERE {job.id} = (
       SELECT {job.id} FROM {job}
        -- A literal, not a parameter: a prepared statement's generic plan can only use the partial index
        -- (WHERE status = 'queued') when the planner sees the value itself.
        WHERE {job.status} = {queued} AND {job.run_after} <= {now}
        ORDER BY {job.run_after}, {job.created_at}
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
RETURNING {claimed}

-- name: fenced_update
-- PostgreSQL and SQLite. A running job's write, only while the lease fence holds: its id, 'processing'
-- (a parameter: this statement is not planned against the partial index), its worker and its attempt.
-- {assignments}: `"column" = %s` or `"column" = <the database's clock>` per field written; {also}: the
-- columns set from the clock, then any the caller reads from the rows (finish-and-claim's outbox insert).
-- No row returned means the fence failed: another worker owns the job now.
UPDATE {job}
   SET {assignments}
 WHERE {job.id} = %s AND {job.status} = %s AND {job.worker_id} = %s AND {job.attempts} = %s
RETURNING 1 AS fenced{also}

-- name: finish_and_claim
-- PostgreSQL. A busy worker's finish and its next claim in one statement: one round trip, one commit.
-- {finish}: a fenced_update RETURNING the columns the outbox reads; {events}: the outbox insert of the
-- job's `done` deliveries, reading the job from `finished` (every other part of one statement sees the row
-- as it was before the UPDATE); {claim}: claim_job; {written}: the finish's RETURNING columns.
-- A finish that does not go through (the fence failed) still claims, as the worker would have anyway.
-- Always one row: the finish's columns (NULLs when the fence failed), the number of webhook NOTIFYs (sent at
-- commit, one for all), then the claimed row's columns (NULLs when nothing was claimable).
WITH finished AS ({finish}),
     events AS ({events} RETURNING 1),
     claimed AS ({claim})
SELECT {written},
       (SELECT count(*) FROM (SELECT pg_notify({webhooks_channel}, '') FROM events) AS notified),
       claimed.*
  FROM (SELECT 1) AS one LEFT JOIN finished ON true LEFT JOIN claimed ON true

-- name: finish_with_events
-- PostgreSQL. finish_and_claim without the claim: an idle worker's finish, or its last. One row: the
-- finish's columns (NULLs when the fence failed), then the number of webhook NOTIFYs.
WITH finished AS ({finish}),
     events AS ({events} RETURNING 1)
SELECT {written},
       (SELECT count(*) FROM (SELECT pg_notify({webhooks_channel}, '') FROM events) AS notified)
  FROM (SELECT 1) AS one LEFT JOIN finished ON true

-- name: notify_queued
-- PostgreSQL. Announce a newly queued job (parameter: its id) to waiting workers. Sent inside the UPDATE's
-- transaction, so PostgreSQL delivers it at commit and never for a rollback.
SELECT pg_notify({queued_channel}, %s)

-- name: lock_owner
-- PostgreSQL and SQLite. Initiate's quota check, step 1: lock the owner's user row until the transaction
-- ends (``{lock}``: FOR NO KEY UPDATE OF the user's table on PostgreSQL, which a job's foreign key check does
-- not wait on; nothing on SQLite, whose IMMEDIATE transactions let one writer in at a time) and read the
-- limits staff gave the owner (NULLs where none). Only the user's row is locked, never the quota row, which
-- staff may edit meanwhile. Parameter: the owner's id. No row: no such user.
SELECT {quota}.{quota.max_pending_uploads}, {quota}.{quota.max_active_jobs}
  FROM {user}
  LEFT JOIN {quota} ON {quota}.{quota.user} = {user}.{user.id}
 WHERE {user}.{user.id} = %s
{lock}

-- name: count_owner_jobs
-- PostgreSQL and SQLite. Initiate's quota check, step 2, run once the lock is held (its snapshot then sees
-- every job a previous holder committed): the owner's jobs awaiting their upload and those queued or
-- processing, on the partial index of live jobs; the jobs given up (cancelled, failed) before a verified
-- upload whose URLs may still write, on theirs (``{url_valid_since}``: the database's clock minus the URLs'
-- lifetime); and the deleted jobs' tombstones whose URLs have not expired (``{clock}``: the clock). The
-- statuses are literals, so that the planner can use the partial indexes. Each count stops at its LIMIT
-- (the quota plus one: enough to decide, and to say "more than"), so the check costs what the limits
-- allow, whatever a user's backlog. Parameters, for each count in turn: the owner's id, (for the given-up
-- jobs and the tombstones, the clock's offset,) the count's bound.
SELECT (SELECT count(*) FROM (
          SELECT 1 FROM {job}
           WHERE {job.owner} = %s AND {job.status} = {awaiting_upload}
           LIMIT %s) AS awaiting),
       (SELECT count(*) FROM (
          SELECT 1 FROM {job}
           WHERE {job.owner} = %s AND {job.status} IN ({active})
           LIMIT %s) AS active),
       (SELECT count(*) FROM (
          SELECT 1 FROM {job}
           WHERE {job.owner} = %s AND {job.status} IN ({given_up}) AND {job.verified_at} IS NULL
             AND {job.finished_at} > {url_valid_since}
           LIMIT %s) AS given_up),
       (SELECT count(*) FROM (
          SELECT 1 FROM {tombstone}
           WHERE {tombstone.owner} = %s AND {tombstone.urls_expire_at} > {clock}
           LIMIT %s) AS tombstones)

-- name: insert_job
-- PostgreSQL and SQLite. A new job, every column given: {columns}, and their {values}, `%s` or the
-- database's clock; RETURNING the columns set from the clock ({returning}), in that order, so that the
-- job shows the times the database wrote without a second round trip.
INSERT INTO {job} ({columns})
VALUES ({values})
RETURNING {returning}
