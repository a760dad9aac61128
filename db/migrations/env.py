"""Alembic environment: the URL comes from the caller's config, or else from wijkbot's settings."""

from __future__ import annotations

from alembic import context

from db.models import Base
from db.session import make_engine

config = context.config
configured = config.get_main_option("sqlalchemy.url")
if configured:
    url: str = configured
else:
    from wijkbot.settings import get_settings

    url = get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
