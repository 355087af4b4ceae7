"""Whole processes: `provenance up`, CLI subprocesses, the browser, Brownie and Ganache."""
