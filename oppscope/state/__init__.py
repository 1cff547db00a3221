"""The state database: saved analyses and API tokens, one SQL database whose schema Alembic owns."""
