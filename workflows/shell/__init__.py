"""The ComplaintWorkflow's shell, beside its class in `workflows.complaint`.

The workflow sandbox re-executes the workflow's module for every run (a per-case copy of its code
and classes); these modules are imported under `workflow.unsafe.imports_passed_through()`, so they
are imported once per worker and shared. Hence the rule here: **no module-level mutable state**.
The functions take the workflow instance; their `workflow.*` calls act on the current run.
"""
