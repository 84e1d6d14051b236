"""The ComplaintWorkflow's shell, beside its class in `workflows.complaint`: the parts of a run.

These modules are imported passed through the workflow sandbox (`recovery.sandbox`), once per worker
and shared by every run. Hence the rule here: **no module-level mutable state**; each run builds its
own parts (`lifecycle.CaseRun`), and their `workflow.*` calls act on the current run.
"""
