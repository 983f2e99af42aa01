"""The double-entry token ledger: wallets, transfers, holds, reversals, payments.

``LedgerService`` (service.py, holds.py) holds the use cases; ``queries`` the reads;
``verify`` the reconciliation; ``payments`` and ``webhooks`` the provider side. Every
movement debits one account and credits another, through system accounts for mints and
burns, so the sum of all balances is always zero.
"""

from stratabase.ledger.movements import Movement
from stratabase.ledger.service import LedgerService
from stratabase.ledger.values import SystemAccount, Transfer, Wallet, WalletChange

__all__ = ["LedgerService", "Movement", "SystemAccount", "Transfer", "Wallet", "WalletChange"]
