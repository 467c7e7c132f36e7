"""Errors that carry a one-line, user-readable reason (the CLI prints them without a traceback)."""


class UserError(Exception):
    """Bad input from the user (missing file, wrong format, empty query, ...)."""


class MissingWeightsError(UserError):
    """A model checkpoint is not on disk. The message names the file, the config key and its source."""

    def __init__(self, path: str, config_key: str, source: str):
        flag = "--" + config_key.replace("_", "-")
        super().__init__(f"model weights not found: {path} (give it with {flag}, config key '{config_key}'). "
                         f"{source}")
        self.path = path
        self.config_key = config_key
        self.source = source


class NotTrainedError(UserError):
    """A query/render was asked before any model was trained or loaded."""


class DeadlineExceeded(UserError):
    """A render / query ran past its deadline and was stopped between ray chunks."""
