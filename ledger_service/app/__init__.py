"""The app: API, CLI, explorer, runtime wiring, demos and the MQTT adapter.

The only layer that imports every other one.
"""
