from tests.agentcore.fixtures import agentcore

__all__ = ["agentcore"]
