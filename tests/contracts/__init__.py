"""The contracts on the session's real anvil, the Foundry suite, the Slither gate, the toolchain and the roles."""
