"""The job queue: work that outlives a request (exports today) runs as jobs on a maintained
queue, procrastinate on PostgreSQL, a thread pool inside the server on SQLite, with one
interface (:class:`~app.jobs.queue.Queue`) and the same handlers on both."""
