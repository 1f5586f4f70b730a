from tests.client.conftest import database_url, server, stop_ids  # noqa: F401 - shared fixtures
