"""Shared fixtures live in tests/fixtures/, one module per real part."""

pytest_plugins = [
    "tests.fixtures.cluster",
    "tests.fixtures.postgres",
    "tests.fixtures.wallet",
    "tests.fixtures.janus",
    "tests.fixtures.operator",
]
