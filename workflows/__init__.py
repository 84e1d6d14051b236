"""The complaint workflow, its pure policy and step machine, and the models callers share."""
