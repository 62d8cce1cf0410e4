-- The webhooks' hand-tuned statements: the outbox insert (a job event's deliveries) and the dispatcher's
-- claim. Loaded once at import by ``webhooks/sql.py`` (``video_jobs.db.load_queries``): ``{delivery}``,
-- ``{endpoint}`` and ``{job}`` are the tables and ``{delivery.<field>}`` their columns, from the models'
-- ``_meta``; ``{pending}`` is the pending status as a literal; ``{now}`` the database's clock (PostgreSQL);
-- ``{channel}`` the dispatchers' NOTIFY channel; ``{job_fields}`` the pairs `'name', j."column"` of the job's body fields, ``result`` aside.

-- name: insert_job_event
-- PostgreSQL and SQLite. One event's deliveries, one per active endpoint of the job's owner that subscribes
-- to it: one statement whatever the number of endpoints, and for an owner without one, a probe of a partial
-- index that writes nothing. The payload is copied from the job's row by the database itself: the job as
-- it is in the transaction that changed it. {source} is a relation holding the job's row, aliased `j`: a
-- sub-SELECT of the jobs table by id after the UPDATE, or, inside one statement with the UPDATE, its
-- RETURNING rows. {payload}, {subscribed} and {due} are the vendor's fragments below: the first attempt is
-- due at the database's now, whatever the clock of the process that records the event. Parameters: the
-- event's id, type and time, the time again (creation), those of {source}, the event type.
-- No RETURNING: callers add what they need.
INSERT INTO {delivery} ({delivery.event_id}, {delivery.event_type}, {delivery.occurred_at},
       {delivery.endpoint}, {delivery.job}, {delivery.payload}, {delivery.status}, {delivery.attempts},
       {delivery.next_attempt_at}, {delivery.last_error}, {delivery.created_at})
SELECT %s, %s, %s, e.{endpoint.id}, j.{job.id}, {payload}, {pending}, 0, {due}, '', %s
  FROM {source} AS j
  JOIN {endpoint} AS e ON e.{endpoint.owner} = j.{job.owner} AND e.{endpoint.active}
 WHERE {subscribed}

-- name: job_by_id
-- The {source} of an insert_job_event run on its own, after the job's UPDATE. Parameter: the job's id.
(SELECT * FROM {job} WHERE {job.id} = %s)

-- name: payload_postgresql
-- The job event's payload built from the job row `j`: the job's body, with `result` cut down to its
-- summary (the rest, such as the motion timeline, can be large: the receiver GETs the job for it).
jsonb_build_object({job_fields}, 'result', CASE WHEN j.{job.result} IS NULL THEN NULL ELSE jsonb_build_object(
    'video', j.{job.result} -> 'video',
    'poster', j.{job.result} -> 'poster',
    'artifacts', j.{job.result} -> 'artifacts') END)

-- name: payload_sqlite
json_object({job_fields}, 'result', CASE WHEN j.{job.result} IS NULL THEN NULL ELSE json_object(
    'video', json_extract(j.{job.result}, '$.video'),
    'poster', json_extract(j.{job.result}, '$.poster'),
    'artifacts', json_extract(j.{job.result}, '$.artifacts')) END)

-- name: due_postgresql
-- The database's now (when the statement started).
STATEMENT_TIMESTAMP()

-- name: due_sqlite
-- The database's now, in the text layout Django stores (clock.SQLITE_NOW without its offset).
STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')

-- name: subscribed_postgresql
-- The endpoint `e` takes every event (an empty list) or this one (the parameter).
(e.{endpoint.events} = '[]'::jsonb OR e.{endpoint.events} @> jsonb_build_array(%s::text))

-- name: subscribed_sqlite
(json_array_length(e.{endpoint.events}) = 0
 OR EXISTS (SELECT 1 FROM json_each(e.{endpoint.events}) WHERE json_each.value = %s))

-- name: insert_job_event_and_notify
-- PostgreSQL. {insert} (insert_job_event), then one pg_notify per inserted row: PostgreSQL folds identical
-- notifications of one transaction into one, delivered at commit and never for a rollback. One row: how
-- many deliveries were written.
WITH inserted AS ({insert} RETURNING 1)
SELECT count(*) FROM (SELECT pg_notify({channel}, '') FROM inserted) AS notified

-- name: notify
-- PostgreSQL. Wake the dispatchers at commit.
SELECT pg_notify({channel}, '')

-- name: claim_delivery
-- PostgreSQL. Claim the most overdue pending delivery whose endpoint is not busy and whose owner is not busy
-- (the dispatcher's fair shares): count an attempt and push its next attempt to the claim's end (if the
-- claimer dies, the delivery is due again then). "Now" is the database's clock, never the dispatcher's.
-- Parameters: the claim's length (an interval), the busy endpoints' ids, the busy owners' ids. SKIP
-- LOCKED: concurrent dispatchers take different rows without waiting.
UPDATE {delivery}
   SET {delivery.attempts} = {delivery.attempts} + 1, {delivery.next_attempt_at} = {now} + %s
 WHERE {delivery.id} = (
       SELECT d.{delivery.id} FROM {delivery} AS d
        -- A literal, so that the planner sees the partial index's condition.
        WHERE d.{delivery.status} = {pending} AND d.{delivery.next_attempt_at} <= {now}
          AND d.{delivery.endpoint} <> ALL(%s)
          AND NOT EXISTS (SELECT 1 FROM {endpoint} AS e
                           WHERE e.{endpoint.id} = d.{delivery.endpoint} AND e.{endpoint.owner} = ANY(%s))
        ORDER BY d.{delivery.next_attempt_at}
        LIMIT 1
        FOR UPDATE OF d SKIP LOCKED)
RETURNING {delivery.id}
