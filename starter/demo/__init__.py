"""`recovery demo`: the four classic cases and a proactive one (a Stripe overcharge) played against
a running stack through the HTTP API.

Any stack works: a case's policy is snapshotted when it opens, so when the stack runs another
policy than the demo policy (`starter/demo_policy.toml`, deadlines in seconds), the demo moves
each of its own cases onto the demo policy through Temporal (the `apply_policy` update); it only
stops, with a clear message, when Temporal can't be reached for that. `recovery dev --demo-policy`
starts a stack that needs no moving.

Cases run concurrently, so the demo takes about half a minute. Every line is one action or one
thing the engine did, with the seconds since the start. API errors are printed as their JSON body;
the case is then left where it is and the demo goes on with the others. Nothing raises out of
`run_demo`: it returns 0 when all its cases closed (the proactive one is skipped, and not counted,
on a stack with no Stripe webhook secret), else 1.

`driver` talks to the API and prints, `scenarios` holds the four cases, `proactive` the proactive
one, `runner` runs them.
"""

from starter.demo.driver import DEMO_POLICY, DEMO_POLICY_NAME, Demo, DemoCase
from starter.demo.proactive import DEMO_STRIPE_SECRET
from starter.demo.runner import demo_async, load_tokens, run_demo
from starter.demo.scenarios import case_keys

__all__ = [
    "DEMO_POLICY",
    "DEMO_POLICY_NAME",
    "DEMO_STRIPE_SECRET",
    "Demo",
    "DemoCase",
    "case_keys",
    "demo_async",
    "load_tokens",
    "run_demo",
]
