"""Loopback fakes of the outside world the activities talk to."""
