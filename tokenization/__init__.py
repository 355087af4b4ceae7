"""Asset tokens: ERC-721 tokens for the physical items tracked in SupplyChain."""
