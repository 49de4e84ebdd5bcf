"""Fixtures shared across the suite live in the tests/fixtures_*.py plugins listed here."""

pytest_plugins: list[str] = ["tests.fixtures_postgres", "tests.fixtures_ldap"]
