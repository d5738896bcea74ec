"""Small domain exceptions. Adapters translate AWS and HTTP errors into these with ``raise ... from``."""


class TiplineError(Exception):
    """Base of every domain error."""


class DependencyUnavailable(TiplineError):
    """An AWS service or Zalo failed in a way worth retrying later."""


class NotFound(TiplineError):
    """The thing asked for does not exist, or is outside the caller's scope."""


class Conflict(TiplineError):
    """A conditional write lost a race; reload and try again."""


class DecryptionFailed(TiplineError):
    """A sealed value could not be opened: tampered, moved to another record, or its key is gone."""
