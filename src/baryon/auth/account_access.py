"""What a key of an environment account may call: its environment account connections only.

One Baryon acts for one management account (settings.account_id). An environment account
reaches it only to request a connection and to look after the connections it requested
(Proton's "in an environment account" operations); accepting and rejecting them, and every
other operation, belong to the management account.
"""

from __future__ import annotations

from baryon.auth.access_keys import account_of
from baryon.store.database import Database

# What an environment account's key may call.
ENVIRONMENT_ACCOUNT_OPERATIONS = frozenset(
    {
        "CreateEnvironmentAccountConnection",
        "GetEnvironmentAccountConnection",
        "ListEnvironmentAccountConnections",
        "UpdateEnvironmentAccountConnection",
        "DeleteEnvironmentAccountConnection",
    }
)
# What the management account may not: they act on a connection from its environment account.
ENVIRONMENT_ACCOUNT_ONLY = frozenset(
    {
        "CreateEnvironmentAccountConnection",
        "UpdateEnvironmentAccountConnection",
        "DeleteEnvironmentAccountConnection",
    }
)


def refusal(
    db: Database, access_key_id: str, operation: str, management_account: str
) -> str | None:
    """The AccessDeniedException message for a call the key's account may not make; None
    when it may."""
    return account_refusal(
        account_of(db, access_key_id, management_account), operation, management_account
    )


def account_refusal(account: str, operation: str, management_account: str) -> str | None:
    """``refusal`` for a key already known to act for ``account``."""
    if account == management_account:
        if operation in ENVIRONMENT_ACCOUNT_ONLY:
            return (
                f"{operation} is called from the environment account, with a key made for it "
                "(baryon keys create --account <environment account id>); the management "
                f"account {management_account} accepts, rejects and lists connections."
            )
        return None
    if operation in ENVIRONMENT_ACCOUNT_OPERATIONS:
        return None
    return (
        f"This access key acts for environment account {account}, which may only request and "
        f"manage its environment account connections; {operation} belongs to the management "
        f"account {management_account}."
    )
