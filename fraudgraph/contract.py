"""Facts of the bank's source contract (contracts/bank.sql) that code relies on."""

# The eight tables, in foreign-key order: a table only references tables before it.
BANK_TABLES: tuple[str, ...] = (
    "customers",
    "accounts",
    "cards",
    "devices",
    "merchants",
    "logins",
    "transactions",
    "fraud_reports",
)
