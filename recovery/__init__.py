"""Cross-cutting code shared by the worker, the CLI, the API and the dev stack: the Temporal client
connection and metrics runtime, the data converter and payload codec, ops config files, logging
setup and the read-model reports. Nothing here runs inside the workflow sandbox except the pure
config reader, which `workflows.policy_files` passes through."""
