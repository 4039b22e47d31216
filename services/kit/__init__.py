"""The shared runtime every service is built on: settings, database and unit of work,
transactional outbox and consumer runner, bearer-token verification, problem details,
logging, health and metrics. Nothing in here knows about any particular service."""
