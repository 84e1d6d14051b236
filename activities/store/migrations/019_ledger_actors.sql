-- Who issued each compensation and whose authority approved it: `customer` (and the offering agent)
-- for a remedy the customer picked from an offer, the agent (and an approver, if any) for a proposal.
-- NULL for rows written before this column.
ALTER TABLE ledger ADD COLUMN issued_by text, ADD COLUMN approved_by text;
