import pytest


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module scope: the hostile suite shares one gateway (one upstream server) per module."""
    return "asyncio"
