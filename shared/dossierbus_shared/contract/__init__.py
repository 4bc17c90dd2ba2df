"""The published contract of the bus (AsyncAPI 3.0 and a JSON Schema per event), generated from the event
catalogue, its compatibility rules, and the contract test kit agencies run against their systems."""
