"""Alembic environment: runs on the connection ``storyline init`` hands over, or on ``-x url=``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from models import Base, in_schema_of

VERSION_TABLE = "storyline_alembic_version"

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit(
            "pass the database with: alembic -c sql/alembic.ini -x url=URL upgrade head"
        )
    with create_engine(url).begin() as own_connection:
        context.configure(
            connection=own_connection,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            render_as_batch=own_connection.dialect.name == "sqlite",
            include_object=in_schema_of(own_connection.dialect.name),
        )
        context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=in_schema_of(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()
