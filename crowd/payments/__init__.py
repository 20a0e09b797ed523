"""Pay: a double-entry ledger in integer minor units, rewards fixed at
lease time and posted with the answer, approvals, bonuses, reversals,
budgets and payouts."""
