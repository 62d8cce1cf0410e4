-- The API's reads on every call: the caller's token with its user, and one of the caller's jobs. Through
-- the ORM each cost more Python than the rest of a GET; written here once, they run as prepared statements
-- on PostgreSQL (``video_jobs.db.run_hot``) and as they are on SQLite.
--
-- Loaded once at import by ``api/reads.py`` (``video_jobs.db.load_queries``): ``{token}``, ``{user}``,
-- ``{job}`` are the tables and ``{job.<field>}`` a column, from the models' ``_meta``; ``{..._columns}``
-- every column of a model, in the order its ``RowLoader`` reads them.

-- name: token_user
-- An API token and its user. Parameter: the token's key.
SELECT {token_columns}, {user_columns}
  FROM {token}
  JOIN {user} ON {user}.{user.id} = {token}.{token.user}
 WHERE {token}.{token.key} = %s

-- name: owned_job
-- One job, only if the caller owns it (owner scoping: another user's job reads as no job). Parameters: the
-- job's id, the caller's id.
SELECT {job_columns}
  FROM {job}
 WHERE {job.id} = %s AND {job.owner} = %s
