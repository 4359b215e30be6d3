"""Use cases. They import ports and domain only; ``container`` wires adapters in."""
