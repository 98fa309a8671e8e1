"""Reads for evaluations, one module per subject: scores, sessions, annotations (configs and pages), queues."""
