"""IoT oracles: sensor rules, the reports that fire them (evidence and committee), and the daemon
that finds breaches in verified readings and submits the reports."""
