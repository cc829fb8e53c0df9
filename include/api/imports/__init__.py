"""The ``imports`` resource: CSV uploads into the account's upload source, and the ledger status of any import."""
