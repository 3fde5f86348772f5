from tests.bedrock.fixtures import bedrock

__all__ = ["bedrock"]
