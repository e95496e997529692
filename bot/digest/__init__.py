"""The daily digest: matches per channel, each digest, the ledger plan, delivery, posting, TL;DRs."""
