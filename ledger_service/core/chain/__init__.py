"""Everything that talks to the EVM chain: the managed node, the client, deployment."""
