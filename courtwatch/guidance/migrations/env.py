"""Alembic's environment for the guidance loop's database: run by courtwatch/guidance/store.py
(migrate), which passes the connection in; there is no alembic.ini."""
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
